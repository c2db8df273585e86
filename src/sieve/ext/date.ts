/**
 * date and currentdate (RFC 5260 §4, §5): compare a part of a Date-like header field,
 * or of the current time, in a chosen zone (:zone "+hhmm", :originalzone, or the
 * server's zone).
 */
import { parseRfc5322Date } from '../../imap/mime/search.js';
import type { Interpreter } from '../interpreter.js';
import type { MatchSpec } from '../match.js';
import type { CompiledNode, Extension, TestDef, ValidatorApi } from '../types.js';
import { evalMatch, indexed, INDEX_TAGS, MATCH_AND_COMPARATOR, validateIndex, validateMatch } from './common.js';
import { checkHeaderNames } from './core.js';

const DATE_PARTS = new Set(['year', 'month', 'day', 'date', 'julian', 'hour', 'minute', 'second', 'time', 'iso8601', 'std11', 'zone', 'weekday']);
const ZONE = /^[+-]\d{4}$/;
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function zoneString(offset: number): string {
  const a = Math.abs(offset);
  return `${offset < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}${pad(a % 60)}`;
}

function parseZone(z: string): number {
  const sign = z[0] === '-' ? -1 : 1;
  return sign * (Number(z.slice(1, 3)) * 60 + Number(z.slice(3, 5)));
}

/** RFC 5260 §4.2: the value of one date-part for an instant shown in a zone. */
export function datePart(part: string, instant: number, offset: number): string {
  const d = new Date(instant + offset * 60_000);
  const Y = d.getUTCFullYear();
  const M = d.getUTCMonth();
  const D = d.getUTCDate();
  const h = d.getUTCHours();
  const m = d.getUTCMinutes();
  const s = d.getUTCSeconds();
  const date = `${pad(Y, 4)}-${pad(M + 1)}-${pad(D)}`;
  const time = `${pad(h)}:${pad(m)}:${pad(s)}`;
  const zone = zoneString(offset);
  switch (part) {
    case 'year':
      return pad(Y, 4);
    case 'month':
      return pad(M + 1);
    case 'day':
      return pad(D);
    case 'date':
      return date;
    case 'julian':
      // Modified Julian Day: days since 1858-11-17 (the Unix epoch is MJD 40587).
      return String(Math.floor(Date.UTC(Y, M, D) / 86_400_000) + 40_587);
    case 'hour':
      return pad(h);
    case 'minute':
      return pad(m);
    case 'second':
      return pad(s);
    case 'time':
      return time;
    case 'iso8601':
      // RFC 3339 §5.6, as Pigeonhole writes it: "Z" for UTC.
      return `${date}T${time}${offset === 0 ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(3)}`}`;
    case 'std11':
      return `${DAYS[d.getUTCDay()]}, ${D} ${MONTHS[M]} ${Y} ${time} ${zone}`;
    case 'zone':
      return zone;
    case 'weekday':
      return String(d.getUTCDay());
    default:
      return '';
  }
}

function validateDate(node: CompiledNode, v: ValidatorApi, partIndex: number): void {
  node.data = validateMatch(node, v);
  const z = node.tags.get('zone');
  if (z !== undefined && z !== true && z.kind === 'string') {
    const s = v.constant(z.s);
    if (s !== undefined && !ZONE.test(s)) v.error(z.pos, `invalid time zone "${s}" (expected +hhmm or -hhmm)`);
  }
  const p = node.args[partIndex]!;
  const s = p.kind === 'string' ? v.constant(p.s) : undefined;
  if (s !== undefined && !DATE_PARTS.has(s.toLowerCase())) v.error(p.pos, `unknown date part "${s}"`);
}

function zoneOf(node: CompiledNode, it: Interpreter, original?: number): number | undefined {
  const z = it.tagString(node, 'zone');
  if (z !== undefined) return ZONE.test(z) ? parseZone(z) : undefined;
  if (node.tags.has('originalzone')) return original;
  return it.env.zoneOffsetMinutes ?? -new Date().getTimezoneOffset();
}

const dateTest: TestDef = {
  kind: 'test',
  name: 'date',
  requires: 'date',
  tags: [{ name: 'zone', param: 'string', group: 'zone' }, { name: 'originalzone', group: 'zone' }, ...MATCH_AND_COMPARATOR, ...INDEX_TAGS],
  positional: [
    { name: 'header name', kind: 'string' },
    { name: 'date part', kind: 'string' },
    { name: 'key list', kind: 'stringList' },
  ],
  validate(node, v) {
    validateDate(node, v, 1);
    validateIndex(node, v);
    checkHeaderNames(node, 0, v);
  },
  evaluate(node, it) {
    const part = it.arg(node, 1).toLowerCase();
    const values: string[] = [];
    for (const raw of indexed(node, it, it.env.message.headerValues(it.arg(node, 0)))) {
      const p = parseRfc5322Date(raw);
      if (!p) continue; // RFC 5260 §4: a field that is not a date is skipped
      const instant = Date.UTC(p.year, p.month, p.day, p.hour, p.minute, p.second) - p.offsetMinutes * 60_000;
      const zone = zoneOf(node, it, p.offsetMinutes);
      if (zone !== undefined) values.push(datePart(part, instant, zone));
    }
    return evalMatch(it, node.data as MatchSpec, values, it.list(node, 2));
  },
};

const currentdate: TestDef = {
  kind: 'test',
  name: 'currentdate',
  requires: 'date',
  tags: [{ name: 'zone', param: 'string', group: 'zone' }, ...MATCH_AND_COMPARATOR],
  positional: [
    { name: 'date part', kind: 'string' },
    { name: 'key list', kind: 'stringList' },
  ],
  validate: (node, v) => validateDate(node, v, 0),
  evaluate(node, it) {
    const zone = zoneOf(node, it);
    const now = (it.env.now ?? new Date()).getTime();
    const values = zone === undefined ? [] : [datePart(it.arg(node, 0).toLowerCase(), now, zone)];
    return evalMatch(it, node.data as MatchSpec, values, it.list(node, 1));
  },
};

export const dateExtension: Extension = { name: 'date', tests: [dateTest, currentdate] };
