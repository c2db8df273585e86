/**
 * The fuzzing kit of test/fuzz: a seeded random source, byte mutators, and the runner
 * that feeds cases to one codec for a time budget.
 *
 * Budgets: each fuzz test runs for FUZZ_SECONDS (default 2 s in `npm test`; `npm run
 * fuzz` raises it, see scripts/fuzz.ts). The seed is FUZZ_SEED or a fresh one; it is
 * printed, and a failure names the seed and the case number, so
 * `FUZZ_SEED=<seed> npx vitest run test/fuzz/<codec>.test.ts` replays the same inputs.
 */
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Per-codec time budget in ms. */
export function budgetMs(): number {
  const s = Number(process.env.FUZZ_SECONDS ?? '2');
  return Math.max(0.1, Number.isFinite(s) ? s : 2) * 1000;
}

/** A vitest timeout that leaves room for the budget and for a slow shared machine. */
export function testTimeout(): number {
  return budgetMs() + 60_000;
}

export function baseSeed(): number {
  const s = process.env.FUZZ_SEED;
  if (s !== undefined && s !== '') return Number(s) >>> 0;
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

/** xorshift32 (Marsaglia 2003): small, fast and reproducible. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  u32(): number {
    let x = this.s;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.s = x;
    return x;
  }
  /** 0 <= n < max */
  int(max: number): number {
    return max <= 0 ? 0 : this.u32() % max;
  }
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

/** Tokens that matter to line protocols and MIME: framing, literals, boundaries, encodings. */
const INTERESTING = [
  '\r\n', '\n', '\r', '\r\r\n', '\0', ' ', '  ', '"', '\\', '(', ')', '[', ']', '{', '}', '<', '>', '*', '%', ':', ',', ';', '.',
  '{0}', '{1}', '{5}\r\n', '{4294967296}', '{99999999999999999999}', '{3+}', '{0+}', '{18446744073709551616+}', '-1', '0', '4294967295',
  '1:*', '*:1', '1,2,3', '$', 'NIL', '=?utf-8?B?', '=?iso-8859-1?Q?', '?=', '=\r\n', '=XY', '--', 'boundary=', '"; charset="', 'Content-Type: multipart/mixed; boundary="b"\r\n',
  'Content-Transfer-Encoding: base64\r\n', '\r\n\r\n', '\xff\xfe', 'é', '\u{1F600}', '&AOk-', '&-', '&Jjo', '..', '/', '%00', '\t', '\x7f',
];

/** Returns a mutated copy of `input` (AFL-style havoc: a few stacked mutations). */
export function mutate(rng: Rng, input: Buffer, dict: readonly Buffer[] = []): Buffer {
  let b: Buffer = Buffer.from(input);
  const rounds = 1 + rng.int(rng.chance(0.2) ? 16 : 4);
  for (let r = 0; r < rounds; r++) b = mutateOnce(rng, b, dict);
  return b;
}

function mutateOnce(rng: Rng, b: Buffer, dict: readonly Buffer[]): Buffer {
  const at = rng.int(b.length + 1);
  switch (rng.int(10)) {
    case 0: {
      if (b.length === 0) return b;
      const c = Buffer.from(b);
      c[rng.int(c.length)]! ^= 1 << rng.int(8);
      return c;
    }
    case 1: {
      if (b.length === 0) return b;
      const c = Buffer.from(b);
      c[rng.int(c.length)] = rng.pick([0, 0x0a, 0x0d, 0x20, 0x22, 0x7b, 0x7d, 0x7f, 0x80, 0xff, rng.int(256)]);
      return c;
    }
    case 2: // delete a run
      return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + rng.int(32))]);
    case 3: // insert random bytes
      return Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(16)), b.subarray(at)]);
    case 4: // insert an interesting token
      return Buffer.concat([b.subarray(0, at), Buffer.from(rng.pick(INTERESTING), 'latin1'), b.subarray(at)]);
    case 5: {
      // duplicate a run (repetition is how parsers get driven into depth and length limits)
      const len = 1 + rng.int(64);
      const piece = b.subarray(at, at + len);
      const times = rng.chance(0.1) ? 50 + rng.int(500) : 1 + rng.int(4);
      return Buffer.concat([b.subarray(0, at), ...Array<Buffer>(times).fill(piece), b.subarray(at)]);
    }
    case 6: // splice from the dictionary (other real inputs)
      if (dict.length === 0) return b;
      {
        const d = rng.pick(dict);
        const s = rng.int(d.length);
        return Buffer.concat([b.subarray(0, at), d.subarray(s, s + 1 + rng.int(128)), b.subarray(at)]);
      }
    case 7: // line endings: CRLF ↔ bare LF ↔ bare CR
      return Buffer.from(b.toString('latin1').replace(/\r?\n/g, () => rng.pick(['\n', '\r', '\r\n', '\r\r\n'])), 'latin1');
    case 8: // truncate
      return b.subarray(0, at);
    default: {
      // replace a number by a boundary value
      const s = b.toString('latin1');
      const nums = [...s.matchAll(/\d+/g)];
      if (nums.length === 0) return b;
      const m = rng.pick(nums);
      const v = rng.pick(['0', '1', '-1', '4294967295', '4294967296', '2147483648', '9007199254740993', '99999999999999999999', String(rng.int(1000))]);
      return Buffer.from(s.slice(0, m.index) + v + s.slice(m.index! + m[0].length), 'latin1');
    }
  }
}

/** Cuts `b` into random chunks (1 byte to all of it), as TCP may deliver it. */
export function chunks(rng: Rng, b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  while (i < b.length) {
    const n = rng.chance(0.3) ? 1 + rng.int(3) : 1 + rng.int(b.length);
    out.push(b.subarray(i, i + n));
    i += n;
  }
  return out;
}

export interface FuzzStats {
  codec: string;
  seed: number;
  cases: number;
  ms: number;
}

/**
 * Runs `one(rng, caseNo)` with a fresh generator per case until the budget is spent.
 * A throw fails with the seed and the case number; every case's generator is derived
 * from (seed, case number), so one case replays alone with FUZZ_CASE.
 */
export async function fuzz(codec: string, one: (rng: Rng, caseNo: number) => void | Promise<void>, opts: { budget?: number } = {}): Promise<FuzzStats> {
  const seed = baseSeed();
  const budget = opts.budget ?? budgetMs();
  const only = process.env.FUZZ_CASE !== undefined ? Number(process.env.FUZZ_CASE) : undefined;
  const started = Date.now();
  let n = 0;
  for (; only === undefined ? Date.now() - started < budget : n <= only; n++) {
    if (only !== undefined && n !== only) continue;
    const rng = new Rng((seed ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0);
    try {
      await one(rng, n);
    } catch (err) {
      const e = err as Error;
      e.message = `${codec}: case ${n} failed (replay: FUZZ_SEED=${seed} FUZZ_CASE=${n}): ${e.message}`;
      throw e;
    }
  }
  const stats = { codec, seed, cases: n, ms: Date.now() - started };
  report(stats);
  return stats;
}

/** One line per codec run, on stdout and (for `npm run fuzz`) appended to FUZZ_REPORT. */
function report(s: FuzzStats): void {
  const line = `fuzz ${s.codec}: ${s.cases} cases in ${(s.ms / 1000).toFixed(1)} s, seed ${s.seed}`;
  console.log(line);
  const file = process.env.FUZZ_REPORT;
  if (file) appendFileSync(file, line + '\n');
}

const FIXTURES = path.join(import.meta.dirname, '../fixtures');
const TRANSCRIPTS = path.join(import.meta.dirname, '../transcripts');

/** The MIME corpus (test/fixtures/mime/**.eml). */
export function mimeCorpus(): Buffer[] {
  const dirs = [path.join(FIXTURES, 'mime'), path.join(FIXTURES, 'mime/random')];
  return dirs.flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.eml')).map((f) => readFileSync(path.join(d, f))));
}

/** The Sieve scripts of test/fixtures/sieve/scripts. */
export function sieveCorpus(): Buffer[] {
  const d = path.join(FIXTURES, 'sieve/scripts');
  return readdirSync(d).filter((f) => f.endsWith('.sieve')).map((f) => readFileSync(path.join(d, f)));
}

/**
 * The client lines of the transcripts in test/transcripts/<proto>: for IMAP the
 * commands after the status word ("ok fetch 1 flags" → "fetch 1 flags"), for POP3 the
 * lines that are not expectations.
 */
export function transcriptCommands(proto: 'imap' | 'pop3'): string[] {
  const d = path.join(TRANSCRIPTS, proto);
  const out: string[] = [];
  for (const f of readdirSync(d).filter((x) => x.endsWith('.txt'))) {
    const lines = readFileSync(path.join(d, f), 'utf8').split('\n');
    let i = lines.findIndex((l) => l.trim() === '');
    for (i++; i < lines.length; i++) {
      const l = lines[i]!.trimEnd();
      if (l === '' || /^(#|\*|!\*|=|\||\+|-|\.|>)/.test(l)) continue;
      if (proto === 'imap') {
        const m = /^(?:\d+ )?(?:ok|no|bad|any) (.*)$/i.exec(l);
        if (m) out.push(m[1]!);
      } else {
        out.push(l.replace(/\$\w+/g, 'x'));
      }
    }
  }
  return out;
}
