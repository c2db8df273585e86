/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4, what
 * `/metrics` serves), for tests: it throws on anything a Prometheus server would
 * reject or that breaks the format's rules, with the line number.
 *
 * Checked: `# HELP` / `# TYPE` syntax and escapes, one TYPE per family and before its
 * samples, the family's lines grouped together, metric and label name syntax (no
 * reserved `__` labels), label value escapes (only \\ \" \n), values as Go's
 * ParseFloat reads them (NaN, +Inf, -Inf in any case), optional integer timestamps, no
 * duplicate series, counters not negative, histograms complete (le ascending,
 * cumulative counts not decreasing, a +Inf bucket equal to _count, a _sum), the text
 * ending with a newline.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

export class PromParseError extends Error {}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** What Go's strconv.ParseFloat reads (Prometheus parses values with it): NaN and Inf in any case. */
const FLOAT = /^[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)$/i;

function parseValue(s: string, where: string): number {
  if (!FLOAT.test(s)) throw new PromParseError(`${where}: bad value ${JSON.stringify(s)}`);
  if (/inf/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  return /nan/i.test(s) ? NaN : Number(s);
}

/** Reads `{a="x",b="y"}` starting at `i` (at the `{`); returns the labels and the index after `}`. */
function parseLabels(line: string, i: number, where: string): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  i++;
  for (;;) {
    if (line[i] === '}') return { labels, end: i + 1 };
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
    if (!m) throw new PromParseError(`${where}: bad label name at column ${i + 1}`);
    const name = m[0];
    if (name.startsWith('__')) throw new PromParseError(`${where}: reserved label name ${name}`);
    if (name in labels) throw new PromParseError(`${where}: label ${name} twice`);
    i += name.length;
    if (line[i] !== '=' || line[i + 1] !== '"') throw new PromParseError(`${where}: expected ="value" after ${name}`);
    i += 2;
    let value = '';
    for (;;) {
      const ch = line[i];
      if (ch === undefined) throw new PromParseError(`${where}: unterminated label value`);
      if (ch === '"') break;
      if (ch === '\\') {
        const esc = line[i + 1];
        if (esc === '\\' || esc === '"') value += esc;
        else if (esc === 'n') value += '\n';
        else throw new PromParseError(`${where}: bad escape \\${esc ?? ''} in a label value`);
        i += 2;
      } else {
        value += ch;
        i++;
      }
    }
    labels[name] = value;
    i++;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') throw new PromParseError(`${where}: expected , or } after a label`);
  }
}

function familyOf(sampleName: string, families: Map<string, Family>): Family | undefined {
  const exact = families.get(sampleName);
  if (exact) return exact;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sampleName.endsWith(suffix)) continue;
    const f = families.get(sampleName.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

function parseComment(line: string, where: string, families: Map<string, Family>, closed: Set<string>): void {
  const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
  if (!m) return; // any other comment is allowed
  const [, kind, name, rest = ''] = m;
  if (!METRIC_NAME.test(name!)) throw new PromParseError(`${where}: bad metric name ${name}`);
  if (closed.has(name!)) throw new PromParseError(`${where}: ${name} appears again after other families`);
  let f = families.get(name!);
  if (kind === 'TYPE') {
    if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new PromParseError(`${where}: bad type ${JSON.stringify(rest)}`);
    if (f?.samples.length) throw new PromParseError(`${where}: TYPE of ${name} after its samples`);
    if (f && f.type !== 'untyped') throw new PromParseError(`${where}: second TYPE for ${name}`);
    if (f) f.type = rest as MetricType;
    else families.set(name!, (f = { name: name!, type: rest as MetricType, samples: [] }));
  } else {
    if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new PromParseError(`${where}: bad escape in HELP`);
    if (f?.help !== undefined) throw new PromParseError(`${where}: second HELP for ${name}`);
    if (!f) families.set(name!, (f = { name: name!, type: 'untyped', samples: [] }));
    f.help = rest.replace(/\\(\\|n)/g, (_s, c: string) => (c === 'n' ? '\n' : '\\'));
  }
}

/** Parses the whole exposition; throws PromParseError at the first problem. */
export function parsePrometheusText(text: string): Map<string, Family> {
  if (text.length > 0 && !text.endsWith('\n')) throw new PromParseError('the text does not end with a newline');
  const families = new Map<string, Family>();
  const closed = new Set<string>();
  const seen = new Set<string>();
  let current: string | undefined;
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((line, idx) => {
    const where = `line ${idx + 1}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const name = /^# (?:HELP|TYPE) (\S+)/.exec(line)?.[1];
      if (name && name !== current) {
        if (current) closed.add(current);
        current = name;
      }
      return parseComment(line, where, families, closed);
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nm) throw new PromParseError(`${where}: bad metric name`);
    let i = nm[0].length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i, where));
    const rest = line.slice(i);
    const vm = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
    if (!vm) throw new PromParseError(`${where}: expected " value [timestamp]" after the series, got ${JSON.stringify(rest)}`);
    const value = parseValue(vm[1]!, where);
    let f = familyOf(nm[0], families);
    if (!f) families.set(nm[0], (f = { name: nm[0], type: 'untyped', samples: [] }));
    if (f.name !== current) {
      if (closed.has(f.name)) throw new PromParseError(`${where}: samples of ${f.name} are not grouped together`);
      if (current) closed.add(current);
      current = f.name;
    }
    const key = `${nm[0]}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new PromParseError(`${where}: duplicate series ${nm[0]}${JSON.stringify(labels)}`);
    seen.add(key);
    if (f.type === 'counter' && value < 0) throw new PromParseError(`${where}: negative counter ${nm[0]}`);
    f.samples.push({ name: nm[0], labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: Array<[number, number]>; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new PromParseError(`${f.name}: bucket without le`);
      g.buckets.push([parseValue(le, `${f.name} le`), s.value]);
    } else if (s.name === `${f.name}_sum`) g.sum = s.value;
    else if (s.name === `${f.name}_count`) g.count = s.value;
    else throw new PromParseError(`${f.name}: unexpected sample ${s.name} in a histogram`);
  }
  for (const [key, g] of groups) {
    const where = `${f.name}${key}`;
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i]![0] > g.buckets[i - 1]![0])) throw new PromParseError(`${where}: le not ascending`);
      if (g.buckets[i]![1] < g.buckets[i - 1]![1]) throw new PromParseError(`${where}: bucket counts decrease`);
    }
    const inf = g.buckets[g.buckets.length - 1];
    if (!inf || inf[0] !== Infinity) throw new PromParseError(`${where}: no +Inf bucket`);
    if (g.count === undefined || g.sum === undefined) throw new PromParseError(`${where}: _count or _sum missing`);
    if (inf[1] !== g.count) throw new PromParseError(`${where}: +Inf bucket ${inf[1]} differs from _count ${g.count}`);
  }
}

/** The value of one series (labels must match exactly), or undefined. */
export function seriesValue(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue;
      const keys = Object.keys(s.labels);
      if (keys.length === Object.keys(labels).length && keys.every((k) => s.labels[k] === labels[k])) return s.value;
    }
  }
  return undefined;
}

/** The sum over the series of `name` whose labels include `match`. */
export function sumOf(families: Map<string, Family>, name: string, match: Record<string, string> = {}): number {
  let total = 0;
  for (const f of families.values()) {
    for (const s of f.samples) if (s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}
