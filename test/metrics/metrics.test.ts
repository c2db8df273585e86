// /metrics over a real socket (curl), parsed by a strict Prometheus text parser
// (test/helpers/prom-text.ts), while mail flows over real sockets: SMTP on port 25
// (accepted, refused for an unknown user, for relaying, for size just over the
// maximum), submission to a remote domain (queued, deferred: DNS does not answer),
// IMAP and POP3 logins, one of them wrong. The counters must move by exactly what was done.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { Counter, Histogram, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapTestClient } from '../helpers/imap-client.js';
import { Pop3Client } from '../helpers/pop3-client.js';
import { parsePrometheusText, PromParseError, seriesValue, sumOf, type Family } from '../helpers/prom-text.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

const run = promisify(execFile);
const MAX_SIZE = 100_000;

let t: TestServer;

async function scrape(): Promise<{ status: number; type: string; families: Map<string, Family> }> {
  const { stdout } = await run('curl', ['-s', '-i', '--max-time', '10', `http://127.0.0.1:${t.port('http')}/metrics`]);
  const sep = stdout.indexOf('\r\n\r\n');
  const head = stdout.slice(0, sep);
  const status = Number(/^HTTP\/[\d.]+ (\d+)/.exec(head)![1]);
  const type = /^content-type: (.*)$/im.exec(head)?.[1]?.trim() ?? '';
  return { status, type, families: status === 200 ? parsePrometheusText(stdout.slice(sep + 4)) : new Map() };
}

async function until(fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A message of exactly `size` bytes (CRLF lines of 78 characters). */
function message(size: number, subject: string): string {
  const head = `From: sender@remote.example\r\nTo: alice@example.test\r\nSubject: ${subject}\r\n\r\n`;
  let body = '';
  while (head.length + body.length + 80 <= size) body += `${'x'.repeat(78)}\r\n`;
  body += 'y'.repeat(size - head.length - body.length - 2) + '\r\n';
  return head + body;
}

/**
 * The traffic the counters must show: port 25 (one message accepted, two recipients
 * refused, one message one byte over the size limit; then nodemailer, a message just
 * under it), IMAP (a wrong password, then the right one), POP3, and submission of a
 * message to a remote recipient.
 */
async function mailFlows(): Promise<void> {
  const c = await SmtpTestClient.connect(t.port('smtp'));
  expect((await c.hello()).code).toBe(250);
  expect((await c.cmd('MAIL FROM:<sender@remote.example>')).code).toBe(250);
  expect((await c.cmd('RCPT TO:<alice@example.test>')).code).toBe(250);
  expect((await c.cmd("RCPT TO:<o'brien&co@example.test>")).text).toMatch(/^550 5\.1\.1/);
  expect((await c.cmd('RCPT TO:<someone@elsewhere.example>')).text).toMatch(/^554 5\.7\.1/);
  expect((await c.cmd('DATA')).code).toBe(354);
  c.write(message(1000, 'small') + '.\r\n');
  expect((await c.reply()).code).toBe(250);
  expect((await c.cmd('MAIL FROM:<sender@remote.example>')).code).toBe(250);
  expect((await c.cmd('RCPT TO:<alice@example.test>')).code).toBe(250);
  expect((await c.cmd('DATA')).code).toBe(354);
  c.write(message(MAX_SIZE + 1, 'one byte too big') + '.\r\n');
  expect((await c.reply()).text).toMatch(/^552 5\.3\.4/);
  await c.cmd('QUIT');
  c.close();
  // nodemailer, a message just under the limit.
  const mx = nodemailer.createTransport({ host: '127.0.0.1', port: t.port('smtp'), secure: false, ignoreTLS: true });
  await mx.sendMail({ envelope: { from: 'sender@remote.example', to: ['alice@example.test'] }, raw: message(MAX_SIZE - 1000, 'just under') });
  mx.close();

  // Logins: IMAP wrong then right, POP3 right; submission right, to a remote recipient.
  const imap = await ImapTestClient.connect(t.port('imap'));
  await imap.transact('no', 'LOGIN "alice@example.test" "wrong"');
  await imap.login('alice@example.test', 'alice-password');
  await imap.transact('ok', 'LOGOUT');
  await imap.close();
  const pop = await Pop3Client.connect(t.port('pop3'));
  expect((await pop.login('alice@example.test', 'alice-password')).ok).toBe(true);
  await pop.quit();
  const sub = nodemailer.createTransport({ host: '127.0.0.1', port: t.port('submission'), secure: false, ignoreTLS: true, auth: { user: 'alice@example.test', pass: 'alice-password' } });
  await sub.sendMail({ from: 'alice@example.test', to: 'bob@remote.example', subject: 'out', text: 'hello' });
  sub.close();
}

beforeAll(async () => {
  t = await startTestServer({
    configure: (c) => {
      c.checks.enabled = false;
      c.limits.maxMessageSize = MAX_SIZE;
      c.queue.retryBaseSeconds = 3600;
    },
  });
  await t.addAccount('alice@example.test', 'alice-password');
});
afterAll(() => t?.close());

describe('/metrics', () => {
  it('counts connections, commands, refusals by reason, deliveries, logins and queue state as mail flows', async () => {
    const before = await scrape();
    expect(before.status).toBe(200);
    expect(before.type).toMatch(/^text\/plain; version=0\.0\.4; charset=utf-8$/);
    const b = before.families;

    await mailFlows();

    // The queue tries at once; DNS does not answer here, so the attempt is deferred.
    let a!: Map<string, Family>;
    await until(async () => {
      a = (await scrape()).families;
      return sumOf(a, 'mailserver_deliveries_total', { destination: 'remote', result: 'deferred' }) >= 1;
    });
    const delta = (name: string, labels: Record<string, string>) => sumOf(a, name, labels) - sumOf(b, name, labels);

    expect(delta('mailserver_connections_total', { listener: 'smtp' })).toBe(2);
    expect(delta('mailserver_connections_total', { listener: 'imap' })).toBe(1);
    expect(delta('mailserver_connections_total', { listener: 'pop3' })).toBe(1);
    expect(delta('mailserver_connections_total', { listener: 'submission' })).toBe(1);
    expect(delta('mailserver_commands_total', { protocol: 'smtp', command: 'RCPT' })).toBe(5);
    expect(delta('mailserver_commands_total', { protocol: 'smtp', command: 'DATA' })).toBe(3);
    expect(delta('mailserver_commands_total', { protocol: 'imap', command: 'LOGIN' })).toBe(2);
    expect(delta('mailserver_commands_total', { protocol: 'pop3', command: 'PASS' })).toBe(1);
    expect(delta('mailserver_commands_total', { protocol: 'submission', command: 'AUTH' })).toBe(1);
    expect(delta('mailserver_smtp_rejections_total', { protocol: 'smtp', stage: 'rcpt', reason: 'unknown_user', status: '5.1.1' })).toBe(1);
    expect(delta('mailserver_smtp_rejections_total', { protocol: 'smtp', stage: 'rcpt', reason: 'relay_denied', status: '5.7.1' })).toBe(1);
    expect(delta('mailserver_smtp_rejections_total', { protocol: 'smtp', stage: 'data', reason: 'too_big', status: '5.3.4' })).toBe(1);
    expect(delta('mailserver_smtp_rejections_total', {})).toBe(3);
    expect(delta('mailserver_messages_received_total', { protocol: 'smtp' })).toBe(2);
    expect(delta('mailserver_messages_received_total', { protocol: 'submission' })).toBe(1);
    expect(delta('mailserver_deliveries_total', { destination: 'local', result: 'delivered' })).toBe(2);
    expect(delta('mailserver_deliveries_total', { destination: 'remote', result: 'deferred' })).toBe(1);
    expect(delta('mailserver_logins_total', { result: 'failed' })).toBe(1);
    expect(delta('mailserver_logins_total', { result: 'ok' })).toBe(3);
    expect(delta('mailserver_store_operation_seconds_count', { op: 'deliver' })).toBe(2);
    expect(seriesValue(a, 'mailserver_queue_messages')).toBe(1);
    expect(seriesValue(a, 'mailserver_queue_recipients', { state: 'queued' })).toBe(1);
    expect(seriesValue(a, 'mailserver_queue_oldest_age_seconds')).toBeGreaterThan(0);
    expect(seriesValue(a, 'mailserver_tls_certificate_expiry_timestamp_seconds')).toBe(t.ctx.tls.describe().notAfter.getTime() / 1000);
    expect(seriesValue(a, 'process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(a.get('mailserver_store_operation_seconds')?.type).toBe('histogram');
    // Closed connections leave the open gauge.
    await until(async () => seriesValue((await scrape()).families, 'mailserver_connections_open', { listener: 'smtp' }) === 0);

    // The same events in the admin's recent-mail ring, with the offending address as sent.
    const recent = t.ctx.metrics!.recent.list();
    expect(recent.find((e) => e.kind === 'refused' && e.reason === 'unknown_user')?.to).toEqual(["o'brien&co@example.test"]);
    expect(recent.filter((e) => e.kind === 'received' && e.protocol === 'smtp' && e.to.includes('alice@example.test'))).toHaveLength(2);
    expect(recent.find((e) => e.kind === 'deferred')).toMatchObject({ protocol: 'queue', from: 'alice@example.test', to: ['bob@remote.example'] });
  });

  it('answers 403 outside metrics.allow and 404 when disabled, read per request', async () => {
    const cfg = t.ctx.config.metrics;
    cfg.allow = ['192.0.2.0/24'];
    expect((await scrape()).status).toBe(403);
    cfg.allow = ['127.0.0.0/8', '::1'];
    cfg.enabled = false;
    expect((await scrape()).status).toBe(404);
    cfg.enabled = true;
    expect((await scrape()).status).toBe(200);
  });
});

describe('the strict Prometheus text parser', () => {
  it("reads prom-client's own output, label escapes included", async () => {
    const r = new Registry();
    new Counter({ name: 'x_total', help: 'a "help"\\ with\nnewline', labelNames: ['v'], registers: [r] }).inc({ v: 'q"b\\s\nn' }, 2);
    new Histogram({ name: 'h_seconds', help: 'h', buckets: [0.1, 1], registers: [r] }).observe(0.5);
    const f = parsePrometheusText(await r.metrics());
    expect(seriesValue(f, 'x_total', { v: 'q"b\\s\nn' })).toBe(2);
    expect(f.get('x_total')?.help).toBe('a "help"\\ with\nnewline');
    expect(seriesValue(f, 'h_seconds_bucket', { le: '+Inf' })).toBe(1);
  });

  it.each([
    ['no final newline', '# TYPE a counter\na 1'],
    ['a bad metric name', '# TYPE 1a counter\n'],
    ['a bad escape in a label value', 'a{l="\\x"} 1\n'],
    ['an unterminated label value', 'a{l="x} 1\n'],
    ['a reserved label', 'a{__name__="x"} 1\n'],
    ['a duplicate series', 'a{l="x"} 1\na{l="x"} 2\n'],
    ['TYPE after samples', 'a 1\n# TYPE a counter\n'],
    ['a family split in two', 'a 1\nb 1\na{l="y"} 2\n'],
    ['a bad value', 'a 1,5\n'],
    ['a negative counter', '# TYPE a counter\na -1\n'],
    ['an unknown type', '# TYPE a meter\n'],
    ['a histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['a histogram whose +Inf differs from _count', '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n'],
    ['decreasing buckets', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
  ])('rejects %s', (_what, text) => {
    expect(() => parsePrometheusText(text)).toThrow(PromParseError);
  });
});
