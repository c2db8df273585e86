// Logs a person can read: one pretty line per event on a terminal, JSON lines otherwise;
// log.file written by a real server process and read back by `mailserver logs`, with
// --grep following the connection of a grepped address and --follow seeing new lines;
// a password sent in a failed login never reaches the file.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createServerLogger } from '../../src/log.js';
import { BIN, ROOT } from '../cli/run.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { killHard, makeDataRoot, serve, type Serving } from './harness.js';

function sink(isTTY: boolean): { stream: Writable & { isTTY: boolean }; text: () => string } {
  let text = '';
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    }),
    { isTTY },
  );
  return { stream, text: () => text };
}

const settle = () => new Promise((r) => setTimeout(r, 100));

describe('log format', () => {
  it('a terminal gets one readable line per event, with the connection first', async () => {
    const s = sink(true);
    const { log } = createServerLogger({ level: 'info', stderr: s.stream });
    log.child({ proto: 'smtp', cid: 'Ab12Cd' }).info({ from: 'a@example.test', size: 1234 }, 'message accepted');
    log.error({ err: new Error('disk full\nsecond line') }, 'delivery failed');
    await settle();
    const lines = s.text().replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[smtp Ab12Cd\] message accepted \{"from":"a@example.test","size":1234\}$/);
    expect(lines[1]).toMatch(/ERROR: delivery failed \{"err":\{"type":"Error","message":"disk full\\nsecond line"/);
  });

  it('anything else gets JSON lines; "pretty" and "json" force a format; passwords are redacted', async () => {
    const pipe = sink(false);
    createServerLogger({ level: 'info', stderr: pipe.stream }).log.info({ user: 'a@example.test', password: 'hunter2' }, 'login');
    await settle();
    expect(JSON.parse(pipe.text())).toMatchObject({ level: 30, msg: 'login', user: 'a@example.test', password: '***' });
    const forced = sink(false);
    createServerLogger({ level: 'info', format: 'pretty', stderr: forced.stream }).log.info('hello');
    const json = sink(true);
    createServerLogger({ level: 'info', format: 'json', stderr: json.stream }).log.info('hello');
    await settle();
    expect(forced.text()).toMatch(/INFO: hello/);
    expect(JSON.parse(json.text())).toMatchObject({ msg: 'hello' });
  });
});

describe('log file and mailserver logs', () => {
  let server: Serving | undefined;
  let cleanup: (() => void) | undefined;
  afterEach(() => {
    killHard(server);
    cleanup?.();
  });

  it('the server appends JSON lines; logs prints them readably, --grep follows the connection, --follow sees new lines', { timeout: 90_000 }, async () => {
    const root = await makeDataRoot(['ann@example.test'], 'file = "logs/mailserver.log"\n');
    cleanup = root.cleanup;
    // [log] level is "warn" in the harness: the environment lowers it to info.
    server = await serve(root.dir, { MAILSERVER_LOG_LEVEL: 'info', MAILSERVER_PORT_SUBMISSION: '0' });
    const smtp = await SmtpTestClient.connect(server.ports.smtp!);
    await smtp.hello();
    expect((await smtp.cmd('MAIL FROM:<carol@remote.test>')).code).toBe(250);
    expect((await smtp.cmd('RCPT TO:<ann@example.test>')).code).toBe(250);
    expect((await smtp.cmd('DATA')).code).toBe(354);
    expect((await smtp.cmd('Subject: for the log\r\n\r\nSECRET-BODY-TEXT\r\n.')).code).toBe(250);
    await smtp.cmd('QUIT');
    // A failed login with a password that must never be written anywhere.
    const sub = await SmtpTestClient.connect(server.ports.submission!);
    await sub.hello();
    await sub.cmd(`AUTH PLAIN ${Buffer.from('\0ann@example.test\0Wr0ng-Pa55word-XYZ').toString('base64')}`);
    await sub.cmd('QUIT');
    await new Promise((r) => setTimeout(r, 500));

    const file = path.join(root.dir, 'logs', 'mailserver.log');
    const raw = readFileSync(file, 'utf8');
    const entries = raw.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.some((e) => e.msg === 'mail server started')).toBe(true);
    expect(raw).not.toContain('Wr0ng-Pa55word-XYZ');
    expect(raw).not.toContain(Buffer.from('\0ann@example.test\0Wr0ng-Pa55word-XYZ').toString('base64'));
    expect(raw).not.toContain('SECRET-BODY-TEXT');

    const all = await root.cli(['logs']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout.split('\n').filter(Boolean)).toHaveLength(entries.length);
    expect(all.stdout).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: mail server started/m);

    const grep = await root.cli(['logs', '--grep', 'CAROL@remote.test']);
    const lines = grep.stdout.split('\n').filter(Boolean);
    const cid = (entries.find((e) => JSON.stringify(e).includes('carol@remote.test')) as { cid: string }).cid;
    // Every line of that connection, including the ones that do not name the address.
    expect(lines.length).toBe(entries.filter((e) => e.cid === cid).length);
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.every((l) => l.includes(`[smtp ${cid}]`))).toBe(true);
    expect((await root.cli(['logs', '--lines', '1'])).stdout.split('\n').filter(Boolean)).toHaveLength(1);

    // --follow: a new connection shows up while it runs.
    const follow = spawn(process.execPath, [BIN, '--data', root.dir, 'logs', '--follow', '--grep', 'dave@remote.test'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    follow.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    try {
      await new Promise((r) => setTimeout(r, 700));
      const c = await SmtpTestClient.connect(server.ports.smtp!);
      await c.hello();
      await c.cmd('MAIL FROM:<dave@remote.test>');
      await c.cmd('RCPT TO:<ann@example.test>');
      await c.cmd('DATA');
      expect((await c.cmd('Subject: followed\r\n\nhi\r\n.')).code).toBe(250);
      await c.cmd('QUIT');
      const deadline = Date.now() + 10_000;
      while (!out.includes('dave@remote.test') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(out).toContain('dave@remote.test');
      expect(out).not.toContain('carol@remote.test');
    } finally {
      follow.kill('SIGTERM');
    }
    expect(await server.stop()).toBe(0);
    server = undefined;
  });

  it('says how to get a log file when none is configured', async () => {
    const root = await makeDataRoot([]);
    cleanup = root.cleanup;
    const r = await root.cli(['logs']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no log file: set log.file in config\/mailserver.toml/);
  });
});
