/**
 * bench/inbound-checks: messages/s on port 25 with the inbound checks on vs off.
 *
 *   npx tsx bench/inbound-checks/run.ts            (BENCH_COUNT=3000 BENCH_SESSIONS=20)
 *
 * The server runs in this process (startTestServer: Maildir store, fsync on), with two
 * port 25 listeners on the same context: one without checks, one with every check
 * (FCrDNS + one DNSBL zone at connect; SPF, DKIM (RSA-2048), ARC, DMARC p=reject and
 * the policy at end of DATA). The DNS server (test/helpers/dns-server.ts) runs in a
 * child process on loopback, so its work is not on the measured event loop. Each
 * message is a 5 KB DKIM-signed message from a sender whose SPF, DKIM and DMARC all
 * pass, to one of 10 local accounts; sessions reuse their connection.
 * Prints msg/s and p50/p99 latency per message for each shape.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { dkimSign } from 'mailauth';
import type { Listener } from '../../src/context.js';
import { startInbound } from '../../src/smtp/inbound.js';
import { checkConnection, checkInbound, filterHeader } from '../../src/smtp/policy.js';
import type { Zone } from '../../test/helpers/dns-server.js';
import { startTestServer } from '../../test/helpers/servers.js';
import { openSnapshot } from '../../src/store/types.js';

const COUNT = Number(process.env.BENCH_COUNT ?? 3000);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 20);
const ACCOUNTS = 10;
const SENDER = 'news@bench-sender.test';

class Client {
  private buf = '';
  private waiting: Array<(s: string) => void> = [];
  private constructor(private sock: net.Socket) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      this.pump();
    });
  }
  static async connect(port: number): Promise<Client> {
    const c = new Client(net.connect(port, '127.0.0.1'));
    const greeting = await c.reply();
    if (!greeting.startsWith('220')) throw new Error(`greeting: ${greeting}`);
    return c;
  }
  private pump() {
    while (this.waiting.length) {
      const m = /^(\d{3}) [^\r\n]*\r\n/m.exec(this.buf);
      if (!m) return;
      const end = m.index + m[0].length;
      const text = this.buf.slice(0, end);
      this.buf = this.buf.slice(end);
      this.waiting.shift()!(text);
    }
  }
  reply(): Promise<string> {
    return new Promise((r) => {
      this.waiting.push(r);
      this.pump();
    });
  }
  cmd(line: string): Promise<string> {
    this.sock.write(`${line}\r\n`);
    return this.reply();
  }
  async send(from: string, rcpt: string, body: string): Promise<void> {
    this.sock.write(`MAIL FROM:<${from}>\r\nRCPT TO:<${rcpt}>\r\nDATA\r\n`); // RFC 2920 pipelining
    const r = [await this.reply(), await this.reply(), await this.reply()];
    if (!r[2]!.startsWith('354')) throw new Error(`DATA refused: ${r.join('')}`);
    this.sock.write(`${body.replace(/^\./gm, '..')}.\r\n`);
    const res = await this.reply();
    if (!res.startsWith('250')) throw new Error(`message refused: ${res}`);
  }
  close() {
    this.sock.end('QUIT\r\n');
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0;
}

async function load(port: number, body: string, count: number): Promise<{ rate: number; p50: number; p99: number; secs: number }> {
  let next = 0;
  const lat: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: SESSIONS }, async (_, w) => {
      const c = await Client.connect(port);
      await c.cmd(`EHLO client.bench-sender.test`);
      for (;;) {
        const i = next++;
        if (i >= count) break;
        const s = performance.now();
        await c.send(SENDER, `user${(i + w) % ACCOUNTS}@bench.test`, body);
        lat.push(performance.now() - s);
      }
      c.close();
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { rate: count / secs, p50: percentile(lat, 50), p99: percentile(lat, 99), secs };
}

async function startDns(zone: Zone): Promise<{ servers: string[]; stop(): void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'dns.ts')], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.write(`${JSON.stringify(zone)}\n`);
  const rl = createInterface({ input: child.stdout });
  const line = await new Promise<string>((resolve, reject) => {
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`DNS server exited (${code})`)));
  });
  const { port } = JSON.parse(line) as { port: number };
  return { servers: [`127.0.0.1:${port}`], stop: () => child.kill('SIGTERM') };
}

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const zone: Zone = {
  'bench-sender.test': { TXT: ['v=spf1 ip4:192.0.2.0/24 ip4:127.0.0.1 -all'] },
  'sel._domainkey.bench-sender.test': { TXT: [`v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`] },
  '_dmarc.bench-sender.test': { TXT: ['v=DMARC1; p=reject'] },
  '1.0.0.127.in-addr.arpa': { PTR: ['client.bench-sender.test'] },
  'client.bench-sender.test': { A: ['127.0.0.1'] },
  'bl.bench.test': { NS: ['ns.bench.test'] },
};
const dns = await startDns(zone);

const line = 'The quick brown fox jumps over the lazy dog 0123456789 abcdefghij\r\n';
const unsigned = `From: News <${SENDER}>\r\nTo: <user@bench.test>\r\nSubject: bench\r\nDate: Sun, 22 Nov 2026 06:00:00 +0000\r\nMessage-ID: <bench@bench-sender.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n${line.repeat(74)}`;
const signed =
  (
    await dkimSign(unsigned, {
      canonicalization: 'relaxed/relaxed',
      signTime: new Date(),
      signatureData: [{ signingDomain: 'bench-sender.test', selector: 'sel', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() }],
    } as Parameters<typeof dkimSign>[1])
  ).signatures + unsigned;

const t = await startTestServer({
  configure: (c) => {
    c.hostname = 'mx.bench.test';
    c.dns.servers = dns.servers;
    c.dns.timeoutMs = 2000;
    c.limits.maxConnectionsPerIp = 10_000;
    c.checks.dnsblZones = ['bl.bench.test'];
  },
});
const listeners: Listener[] = [];
try {
  for (let i = 0; i < ACCOUNTS; i++) await t.addAccount(`user${i}@bench.test`);
  const off = await startInbound(t.ctx, { port: 0, host: '127.0.0.1' });
  const on = await startInbound(t.ctx, { port: 0, host: '127.0.0.1', checks: { checkConnection, checkInbound, filterHeader } });
  listeners.push(off, on);

  console.log(`inbound-checks: ${COUNT} DKIM-signed messages of ${(signed.length / 1024).toFixed(1)} KB, ${SESSIONS} sessions, ${ACCOUNTS} local accounts, fsync on`);
  for (const [name, port] of [
    ['checks off', off.port],
    ['checks on (FCrDNS, DNSBL, SPF, DKIM rsa-2048, ARC, DMARC)', on.port],
  ] as const) {
    await load(port, signed, Math.min(200, COUNT)); // warm-up
    const r = await load(port, signed, COUNT);
    console.log(`  ${name}: ${r.rate.toFixed(0)} msg/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms (${r.secs.toFixed(1)} s)`);
  }
  // Sanity: the last message delivered through the checked listener carries passing results.
  const box = await openSnapshot(t.ctx.store, 'user0@bench.test' as never, 'INBOX');
  const last = box.messages[box.messages.length - 1]!;
  const { stream } = await t.ctx.store.readMessage('user0@bench.test' as never, box.mailbox.id, last.uid);
  let head = '';
  for await (const chunk of stream) {
    head += (chunk as Buffer).toString('latin1');
    if (head.includes('\r\n\r\n')) break;
  }
  stream.destroy();
  const ar = /^Authentication-Results: [^]*?\r\n(?![ \t])/m.exec(head)?.[0].replace(/\r\n[ \t]+/g, ' ').trim() ?? '(none)';
  const verdicts = ['dkim', 'spf', 'dmarc'].map((m) => new RegExp(`${m}=(\\w+)`).exec(ar)?.[1] ?? '-');
  console.log(`  last message via the checked listener: dkim=${verdicts[0]} spf=${verdicts[1]} dmarc=${verdicts[2]}; ${box.messages.length} messages in user0's INBOX`);
} finally {
  for (const l of listeners) await l.close(0);
  await t.close();
  dns.stop();
}
