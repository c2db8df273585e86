// The quota CLI (the built binary against a temp data root): account quota with a size
// argument and --messages, domain quota, account add --quota, usage in account list,
// reindex recomputing usage from the files.
import { readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempRoot, type RunResult } from '../cli/run.js';
import { message } from './env.js';

function ok(r: RunResult): RunResult {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r;
}

// Runs the built binary (npm test builds first, as for test/cli).
let t: ReturnType<typeof tempRoot>;
afterEach(() => t?.cleanup());

describe('quota CLI', () => {
  it('account add --quota, account quota <size> --messages, domain quota, and usage in account list (text and JSON)', async () => {
    t = tempRoot();
    ok(await t.cli(['domain', 'add', 'example.test']));
    ok(await t.cli(['account', 'add', 'a@example.test', '--password-stdin', '--quota', '2G'], { input: 'pw-123456789\n' }));
    ok(await t.cli(['account', 'add', 'b@example.test', '--password-stdin'], { input: 'pw-123456789\n' }));
    expect(ok(await t.cli(['account', 'quota', 'b@example.test', '1M', '--messages', '100'])).stdout).toMatch(/quota of b@example\.test: 1M, messages: 100/);
    expect(ok(await t.cli(['domain', 'quota', 'example.test', '50G'])).stdout).toMatch(/quota of example\.test: 50G/);
    // Mail dropped into new/ by another tool counts once indexed.
    const newDir = path.join(t.dir, 'maildir', 'example.test', 'b', 'new');
    writeFileSync(path.join(newDir, '1700000000.M1P1.host'), message(300 * 1024));
    ok(await t.cli(['reindex', 'b@example.test']));
    const list = JSON.parse(ok(await t.cli(['account', 'list', '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(list).toEqual([
      expect.objectContaining({ address: 'a@example.test', quotaBytes: 2 * 1024 ** 3, quotaMessages: null, usageBytes: 0, usageMessages: 0 }),
      expect.objectContaining({ address: 'b@example.test', quotaBytes: 1024 ** 2, quotaMessages: 100, usageBytes: 300 * 1024, usageMessages: 1 }),
    ]);
    const text = ok(await t.cli(['account', 'list'])).stdout.split('\n');
    expect(text[0]).toMatch(/^ADDRESS\s+QUOTA\s+USED\s+MESSAGES\s+STATUS$/);
    expect(text[2]).toMatch(/^b@example\.test\s+1M\s+300K \(29%\)\s+1\/100\s+active$/);
    const domains = JSON.parse(ok(await t.cli(['domain', 'list', '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(domains[0]).toMatchObject({ name: 'example.test', quotaBytes: 50 * 1024 ** 3 });

    // "none" removes a limit; the other stays.
    ok(await t.cli(['account', 'quota', 'b@example.test', 'none']));
    expect(JSON.parse(ok(await t.cli(['account', 'list', '--json'])).stdout)[1]).toMatchObject({ quotaBytes: null, quotaMessages: 100 });
    ok(await t.cli(['account', 'quota', 'b@example.test', '--messages', 'none']));
    expect(JSON.parse(ok(await t.cli(['account', 'list', '--json'])).stdout)[1]).toMatchObject({ quotaBytes: null, quotaMessages: null });
    ok(await t.cli(['domain', 'quota', 'example.test', 'none']));
    expect(JSON.parse(ok(await t.cli(['domain', 'list', '--json'])).stdout)[0]).toMatchObject({ quotaBytes: null });

    // reindex recomputes usage when a file disappears behind the server's back.
    const cur = path.join(t.dir, 'maildir', 'example.test', 'b', 'cur');
    for (const f of readdirSync(cur)) unlinkSync(path.join(cur, f));
    ok(await t.cli(['reindex', 'b@example.test']));
    expect(JSON.parse(ok(await t.cli(['account', 'list', '--json'])).stdout)[1]).toMatchObject({ usageBytes: 0, usageMessages: 0 });
  }, 180_000); // ~20 runs of the binary; slow only when the machine is busy

  it('refuses bad sizes and unknown domains with one error line', async () => {
    t = tempRoot();
    ok(await t.cli(['domain', 'add', 'example.test']));
    ok(await t.cli(['account', 'add', 'a@example.test', '--password-stdin'], { input: 'pw-123456789\n' }));
    for (const args of [
      ['account', 'quota', 'a@example.test', 'lots'],
      ['account', 'quota', 'a@example.test'],
      ['account', 'quota', 'a@example.test', '1G', '--quota', '2G'],
      ['account', 'quota', 'a@example.test', '--messages', 'many'],
      ['domain', 'quota', 'example.test', 'huge'],
      ['domain', 'quota', 'nowhere.test', '1G'],
    ]) {
      const r = await t.cli(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  }, 120_000);
});
