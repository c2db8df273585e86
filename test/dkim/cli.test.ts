// `mailserver dkim …` and `mailserver queue …`: the CLI's own entry point (runCli, the
// same code dist/cli/main.js runs) in this process, against a temp data root; in-process
// because the real binary costs seconds per start on a loaded 2-core machine.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/index.js';
import { dbPath, openDb } from '../../src/db/index.js';
import { insertMessage, updateRecipients } from '../../src/queue/repo.js';
import { oneErrorLine, type RunResult } from '../cli/run.js';

function sink(parts: string[]): Writable {
  return new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      parts.push(chunk.toString());
      cb();
    },
  });
}

let t: { dir: string; cli(args: string[]): Promise<RunResult> };
beforeEach(() => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailserver-dkim-cli-'));
  t = {
    dir,
    async cli(args) {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(['--data', dir, ...args], { stdin: Readable.from([]), stdout: sink(out), stderr: sink(err), env: {} });
      return { code, stdout: out.join(''), stderr: err.join('') };
    },
  };
});
afterEach(() => rmSync(t.dir, { recursive: true, force: true }));

function ok(r: RunResult): RunResult {
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return r;
}

describe('dkim CLI', () => {
  it('domain add creates an RSA-2048 key; show prints a TXT record in 255-byte strings', async () => {
    ok(await t.cli(['domain', 'add', 'a.test']));
    const show = ok(await t.cli(['dkim', 'show', 'a.test']));
    expect(show.stdout).toMatch(/^; active key \(signs outgoing mail\), rsa-2048/);
    const m = /^(ms\d{8})\._domainkey\.a\.test\. 3600 IN TXT \( ((?:"[^"]*"\s*)+)\)$/m.exec(show.stdout);
    expect(m).not.toBeNull();
    const strings = [...m![2]!.matchAll(/"([^"]*)"/g)].map((x) => x[1]!);
    expect(strings.length).toBeGreaterThan(1);
    expect(strings.every((s) => Buffer.byteLength(s) <= 255)).toBe(true);
    expect(strings.join('')).toMatch(/^v=DKIM1; k=rsa; p=MIIBIjAN[A-Za-z0-9+/=]+$/);
    expect(show.stdout).not.toContain('PRIVATE');

    const json = JSON.parse(ok(await t.cli(['dkim', 'show', 'a.test', '--json'])).stdout) as Array<{ selector: string; status: string; value: string }>;
    expect(json).toHaveLength(1);
    expect(json[0]!.status).toBe('active');
  });

  it('generate --algorithm ed25519 --selector, then rotate keeps the old key retiring', async () => {
    ok(await t.cli(['domain', 'add', 'a.test']));
    const gen = ok(await t.cli(['dkim', 'generate', 'a.test', '--selector', 'ed1', '--algorithm', 'ed25519']));
    expect(gen.stdout).toContain('generated ed25519 key for a.test, selector ed1');
    expect(gen.stdout).toMatch(/ed1\._domainkey\.a\.test\. 3600 IN TXT "v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}="/);
    const rot = ok(await t.cli(['dkim', 'rotate', 'a.test', '--selector', 'ed2']));
    expect(rot.stdout).toContain('now signing with selector ed2 (ed25519); ed1 is retiring');
    const json = JSON.parse(ok(await t.cli(['dkim', 'show', 'a.test', '--json'])).stdout) as Array<{ selector: string; status: string }>;
    expect(json.map((k) => `${k.selector}:${k.status}`)).toEqual(['ed2:active', 'ed1:retiring', expect.stringMatching(/^ms\d{8}:retiring$/)]);
    const bad = await t.cli(['dkim', 'generate', 'a.test', '--algorithm', 'dsa']);
    expect(bad.code).toBe(2);
    expect(oneErrorLine(bad)).toContain('--algorithm must be one of rsa-2048, ed25519');
    const unknown = await t.cli(['dkim', 'show', 'nope.test']);
    expect(unknown.code).toBe(1);
    expect(oneErrorLine(unknown)).toContain('no such domain: nope.test');
  });
});

describe('queue CLI', () => {
  it('lists, shows, retries and deletes queued messages', async () => {
    expect(ok(await t.cli(['queue', 'list'])).stdout).toBe('the queue is empty\n');
    const db = openDb(dbPath(t.dir));
    const id = insertMessage(db, { spoolPath: 'queue/x.eml', mailFrom: 'alice@a.test', account: 'alice@a.test', size: 1234, rcpts: ['bob@b.test', 'carol@c.test'] });
    const rows = db.prepare('SELECT id, rcpt FROM queue_recipients WHERE message_id = ? ORDER BY id').all(id) as Array<{ id: number; rcpt: string }>;
    updateRecipients(db, [
      { id: rows[0]!.id, state: 'queued', attempted: true, nextAttemptAt: Date.now() + 3_600_000, reply: '451 4.3.0 try later', host: 'mx.b.test[127.0.0.3]:25' },
      { id: rows[1]!.id, state: 'delivered', attempted: true, reply: '250 ok' },
    ]);
    db.close();

    const list = ok(await t.cli(['queue', 'list'])).stdout;
    expect(list).toMatch(/^ID\s+FROM\s+RECIPIENT\s+STATE\s+ATTEMPTS\s+NEXT TRY\s+LAST REPLY$/m);
    expect(list).toMatch(new RegExp(`^${id}\\s+alice@a\\.test\\s+bob@b\\.test\\s+queued\\s+1\\s+\\S+ \\(in (59|60)m\\)\\s+451 4\\.3\\.0 try later$`, 'm'));
    expect(list).toMatch(/carol@c\.test\s+delivered\s+1\s+-\s+250 ok/);

    const json = JSON.parse(ok(await t.cli(['queue', 'list', '--json'])).stdout) as Array<{ id: number; recipients: Array<{ rcpt: string; state: string; attempts: number; lastReply: string }> }>;
    expect(json[0]!.id).toBe(id);
    expect(json[0]!.recipients[0]).toMatchObject({ rcpt: 'bob@b.test', state: 'queued', attempts: 1, lastReply: '451 4.3.0 try later' });

    const show = ok(await t.cli(['queue', 'show', String(id)])).stdout;
    expect(show).toContain('from:       <alice@a.test> (submitted by alice@a.test)');
    expect(show).toMatch(/<bob@b\.test>\n {4}state: {5}queued\n {4}attempts: {2}1\n {4}next try: {2}.*\(in (59|60)m\)\n {4}last try: .* to mx\.b\.test\[127\.0\.0\.3\]:25\n {4}last reply: 451 4\.3\.0 try later/);

    expect(ok(await t.cli(['queue', 'retry', String(id)])).stdout).toBe(`message ${id}: 1 recipient will be retried now\n`);
    const after = JSON.parse(ok(await t.cli(['queue', 'show', String(id), '--json'])).stdout) as { recipients: Array<{ nextAttemptAt: string | null }> };
    expect(Date.parse(after.recipients[0]!.nextAttemptAt!)).toBeLessThanOrEqual(Date.now());
    expect(ok(await t.cli(['queue', 'retry', '--all'])).stdout).toBe('1 recipient will be retried now\n');
    expect((await t.cli(['queue', 'retry'])).code).toBe(2);

    expect(ok(await t.cli(['queue', 'delete', String(id)])).stdout).toBe(`deleted message ${id} from the queue\n`);
    const gone = await t.cli(['queue', 'show', String(id)]);
    expect(gone.code).toBe(1);
    expect(oneErrorLine(gone)).toBe(`mailserver: error: no queued message with id ${id}`);
  });
});
