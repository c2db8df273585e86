// The differential corpus (test/fixtures/sieve: scripts × messages, cases.txt): our
// engine must take the same actions as Dovecot Pigeonhole, and refuse the same broken
// scripts. Pigeonhole's answers were recorded by scripts/record-pigeonhole-sieve.ts
// (pigeonhole.json), so this runs without Dovecot; when Debian's dovecot-sieve is
// installed, every case is also run through the live `sieve-test` and compared again.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSieve, runSieve } from '../../src/sieve/engine.js';
import { SieveCompileError } from '../../src/sieve/errors.js';
import { MAX_BODY_BYTES, SieveMessage } from '../../src/sieve/message.js';
import type { SieveOutcome } from '../../src/sieve/result.js';
import {
  loadCases,
  loadRecorded,
  makeSieveTestConfig,
  messagePath,
  normalizePigeonhole,
  printable,
  removeSieveTestConfig,
  runSieveTest,
  scriptPath,
  sieveTestAvailable,
  storeLine,
  vacationLine,
  type Case,
  type Normalized,
} from './pigeonhole.js';

const cases = loadCases();
const recorded = loadRecorded();

function normalizeOutcome(o: SieveOutcome): Normalized {
  if (o.error) return { status: 'runtime-error', actions: [], implicitKeep: ['store INBOX'] };
  const actions = o.actions.map((a) => {
    switch (a.type) {
      case 'store':
        return storeLine({ mailbox: a.mailbox, flags: a.flags ?? [], create: a.create, copy: a.copy });
      case 'redirect':
        return `redirect ${a.address.toLowerCase()}${a.copy ? ' copy' : ''}`;
      case 'discard':
        return 'discard';
      case 'reject':
        return `reject ${JSON.stringify(printable(a.reason))}`;
      case 'vacation':
        return vacationLine(a);
    }
  });
  return { status: 'ok', actions, implicitKeep: o.implicitKeep ? [storeLine({ mailbox: 'INBOX', flags: o.implicitKeep.flags, create: false, copy: false })] : [] };
}

/** Our engine on one case, as the delivery path feeds it. */
export function ours(c: Case): Normalized {
  let script;
  try {
    script = compileSieve(readFileSync(scriptPath(c), 'utf8'));
  } catch (err) {
    if (err instanceof SieveCompileError) return { status: 'compile-error', errorLine: err.pos.line, actions: [], implicitKeep: [] };
    throw err;
  }
  const raw = readFileSync(messagePath(c));
  const end = raw.indexOf('\r\n\r\n');
  const message = new SieveMessage({ header: raw.subarray(0, end < 0 ? raw.length : end + 4), size: raw.length, raw: raw.subarray(0, MAX_BODY_BYTES) });
  return normalizeOutcome(runSieve(script, { message, envelope: { from: c.from, to: c.to }, zoneOffsetMinutes: 0 }));
}

function expectSame(got: Normalized, want: Normalized): void {
  // Both refuse a broken script; the line of the first error is compared too.
  expect({ ...got, errorLine: undefined }).toEqual({ ...want, errorLine: undefined });
  if (want.status === 'compile-error' && want.errorLine !== undefined) expect(got.errorLine).toBe(want.errorLine);
}

describe('Sieve differential corpus against Pigeonhole (recorded answers)', () => {
  it('has at least 60 cases, with compile errors, runtime errors and every action among them', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
    const all = cases.map((c) => normalizePigeonhole(recorded[c.name]!));
    expect(all.filter((n) => n.status === 'compile-error').length).toBeGreaterThanOrEqual(10);
    expect(all.some((n) => n.status === 'runtime-error')).toBe(true);
    const kinds = new Set(all.flatMap((n) => n.actions.map((a) => a.split(' ')[0])));
    expect([...kinds].sort()).toEqual(['discard', 'redirect', 'reject', 'store', 'vacation']);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const rec = recorded[c.name];
    expect(rec, `no recorded answer for ${c.name}: run scripts/record-pigeonhole-sieve.ts`).toBeDefined();
    expectSame(ours(c), normalizePigeonhole(rec!));
  });
});

// SIEVE_LIVE=0 skips the live run (it starts sieve-test once per case).
const live = sieveTestAvailable() && process.env.SIEVE_LIVE !== '0';

describe.skipIf(!live)('Sieve differential corpus against a live Pigeonhole sieve-test', () => {
  let dir: string;
  const answers = new Map<string, Normalized>();
  beforeAll(async () => {
    dir = makeSieveTestConfig();
    // A few at a time: each sieve-test start costs ~0.1 s.
    const queue = [...cases];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let c = queue.shift(); c; c = queue.shift()) answers.set(c.name, normalizePigeonhole(await runSieveTest(dir, c)));
      }),
    );
  }, 120_000);
  afterAll(() => {
    if (dir) removeSieveTestConfig(dir);
  });
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expectSame(ours(c), answers.get(c.name)!);
  });
});
if (!sieveTestAvailable()) console.log('live Pigeonhole comparison skipped: install Debian package dovecot-sieve (sieve-test)');

