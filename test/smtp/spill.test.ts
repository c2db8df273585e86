// Messages over the spill threshold (src/smtp/spool.ts SPILL_BYTES): received into a
// temp file, written to the final spool file, delivered and answered 250 over a real
// socket; nothing is left in spool/tmp. A spool writer that stalls (a close that never
// settles, as FileHandle.close() did on Node 20, or a write that never returns) gets
// the message a 451 once the configured step timeout has passed, leaves no file, and
// stalls no other connection.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listMessages } from '../../src/queue/repo.js';
import { fdSink, SPILL_BYTES, type SpoolSinkFactory } from '../../src/smtp/spool.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';

const STEP_TIMEOUT_MS = 1000;
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({
    configure: (c) => (c.checks.enabled = false),
  });
  await t.addAccount('alice@example.test');
  await t.addAccount('bob@example.test');
  // A forward outside makes even a small message go through a spool file (writeFinal).
  t.accounts.addAlias('fwd@example.test', ['bob@example.test', 'someone@remote.example']);
});

afterEach(() => {
  t.ctx.spoolSink = undefined;
  t.config.limits.spoolWriteTimeoutMs = 30_000;
});

afterAll(async () => {
  await t?.close();
});

function inbox(address: string): Buffer[] {
  const [local, domain] = address.split('@') as [string, string];
  const dir = path.join(t.dataRoot, 'maildir', domain, local, 'new');
  return existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(path.join(dir, f))) : [];
}

function spoolTmp(): string[] {
  const dir = path.join(t.dataRoot, 'spool', 'tmp');
  return existsSync(dir) ? readdirSync(dir) : [];
}

function message(subject: string, bodyBytes: number): Buffer {
  const line = 'abcdefghijklmnopqrstuvwxyz0123456789\r\n';
  const body = line.repeat(Math.ceil(bodyBytes / line.length));
  return Buffer.from(`From: big@remote.example\r\nTo: alice@example.test\r\nSubject: ${subject}\r\n\r\n${body}`);
}

/** The real sink, except that for files matching `which` one step never settles. */
function stalling(which: (file: string) => boolean, step: 'write' | 'close'): SpoolSinkFactory {
  return async (file) => {
    const real = await fdSink(file);
    if (!which(file)) return real;
    const never = new Promise<void>(() => undefined);
    if (step === 'write') return { ...real, write: () => never };
    // The descriptor is really closed; the promise never says so.
    return { ...real, close: () => real.close().then(() => never) };
  };
}

/** Sends one message over a raw connection and returns the reply to the final dot and how long it took. */
async function sendRaw(to: string, data: Buffer): Promise<{ code: number; text: string; ms: number; c: SmtpTestClient }> {
  const c = await SmtpTestClient.connect(t.port('smtp'));
  await c.hello();
  expect((await c.cmd('MAIL FROM:<big@remote.example>')).code).toBe(250);
  expect((await c.cmd(`RCPT TO:<${to}>`)).code).toBe(250);
  expect((await c.cmd('DATA')).code).toBe(354);
  c.write(Buffer.concat([data, Buffer.from('.\r\n')]));
  const started = Date.now();
  const r = await c.reply(20_000);
  return { code: r.code, text: r.text, ms: Date.now() - started, c };
}

describe('a message over the spill threshold', () => {
  it('is answered 250 on port 25 and stored whole', async () => {
    const raw = message('spill', SPILL_BYTES + 64 * 1024);
    const tr = nodemailer.createTransport({ host: '127.0.0.1', port: t.port('smtp'), ignoreTLS: true, socketTimeout: 10_000 });
    const info = await tr.sendMail({ envelope: { from: 'big@remote.example', to: ['alice@example.test'] }, raw });
    expect(info.response).toMatch(/^250 /);
    const got = inbox('alice@example.test').find((m) => m.includes('Subject: spill\r\n'));
    expect(got).toBeDefined();
    expect(got!.subarray(got!.length - raw.length).equals(raw)).toBe(true);
    expect(spoolTmp()).toEqual([]);
  });
});

describe('a spool writer that stalls', () => {
  const cases = [
    { name: 'the temp file of a big message never finishes closing', to: 'alice@example.test', size: SPILL_BYTES * 2, sink: stalling((f) => f.endsWith('.in'), 'close') },
    { name: 'a write to the temp file of a big message never returns', to: 'alice@example.test', size: SPILL_BYTES * 3, sink: stalling((f) => f.endsWith('.in'), 'write') },
    { name: 'the final spool file never finishes closing', to: 'alice@example.test', size: SPILL_BYTES * 2, sink: stalling((f) => f.endsWith('.msg'), 'close') },
    { name: 'the final spool file of a small forwarded message never finishes closing', to: 'fwd@example.test', size: 1024, sink: stalling((f) => f.endsWith('.msg'), 'close') },
  ];
  for (const k of cases) {
    it(`${k.name}: 451 after the step timeout, no file left, other connections served`, async () => {
      // Read per message: only this test's messages get the short step timeout.
      t.config.limits.spoolWriteTimeoutMs = STEP_TIMEOUT_MS;
      t.ctx.spoolSink = k.sink;
      const subject = `stall ${k.name}`;
      const sending = sendRaw(k.to, message(subject, k.size));
      // Meanwhile another client delivers a small message (memory path, no spool file).
      const other = await nodemailer
        .createTransport({ host: '127.0.0.1', port: t.port('smtp'), ignoreTLS: true, socketTimeout: 10_000 })
        .sendMail({ envelope: { from: 'x@remote.example', to: ['bob@example.test'] }, raw: `Subject: meanwhile ${k.name}\r\n\r\nhi\r\n` });
      expect(other.response).toMatch(/^250 /);
      const { code, text, ms, c } = await sending;
      expect(code, text).toBe(451);
      expect(text).toMatch(/^451 4\.3\.0 /);
      // The reply comes once the configured step timeout has run out (generous upper bound:
      // this asserts "answered", not a speed).
      expect(ms).toBeGreaterThanOrEqual(STEP_TIMEOUT_MS - 50);
      expect(ms).toBeLessThan(STEP_TIMEOUT_MS + 15_000);
      // The session is still in step: the next transaction on it works.
      t.ctx.spoolSink = undefined;
      t.config.limits.spoolWriteTimeoutMs = 30_000;
      expect((await c.cmd('MAIL FROM:<big@remote.example>')).code).toBe(250);
      expect((await c.cmd('QUIT')).code).toBe(221);
      expect(spoolTmp()).toEqual([]);
      expect(inbox(k.to === 'fwd@example.test' ? 'bob@example.test' : k.to).some((m) => m.includes(`Subject: ${subject}\r\n`))).toBe(false);
      const tmp = path.join(t.dataRoot, 'maildir', 'example.test', 'alice', 'tmp');
      expect(existsSync(tmp) ? readdirSync(tmp) : []).toEqual([]);
      expect(listMessages(t.ctx.db)).toEqual([]);
    });
  }
});
