/**
 * Hostile IMAP clients (issue 14): prints figures, asserts nothing. In one process
 * (server and clients), with short timers so a run takes seconds:
 * (a) a client that never reads: it pipelines FETCH BODY[] of a 1 MB message and
 *     reads nothing; how many bytes sit in socket buffers (kernel Send-Q + Recv-Q from
 *     `ss`, plus Node's write buffer), and how long the connection lives past a 1 s
 *     autologout timer;
 * (b) literals from clients that never read: pipelined APPEND and SEARCH commands with
 *     64 LITERAL+ literals of 200 KB each; growth of the server's memory (the server
 *     runs in a child process for this part);
 * (c) SEARCH with 200 BODY terms (all matching) over 300 messages: CPU time of the server.
 */
import { execFileSync, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { message, startImapFixture, type ImapFixture } from '../../test/imap/fixture.js';
import { ImapTestClient } from '../../test/helpers/imap-client.js';

ImapTestClient.defaultTimeoutMs = 300_000;

const USER = 'mjl@example.test';
const PASS = 'test-password';

function kernelQueued(port: number): number {
  // Send-Q and Recv-Q of every socket on the port (both ends are on loopback).
  const out = execFileSync('ss', ['-tnH', `( sport = :${port} or dport = :${port} )`], { encoding: 'utf8' });
  let sum = 0;
  for (const line of out.trim().split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 3) sum += Number(f[1]) + Number(f[2]);
  }
  return sum;
}

async function rawLogin(f: ImapFixture): Promise<net.Socket> {
  const s = net.connect({ port: f.port, host: '127.0.0.1' });
  await new Promise((r) => s.once('connect', r));
  let got = '';
  await new Promise<void>((resolve) => {
    const on = (d: Buffer) => {
      got += d.toString('latin1');
      if (/a0 OK/.test(got)) {
        s.off('data', on);
        resolve();
      }
    };
    s.on('data', on);
    s.write(`a0 LOGIN ${USER} ${PASS}\r\n`);
  });
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function nonReader(): Promise<void> {
  const f = await startImapFixture({ listen: { timeouts: { authMs: 1000 } } });
  await f.deliver(USER, message(1, { body: 'x'.repeat(1024 * 1024) }));
  const s = await rawLogin(f);
  s.write('a1 SELECT INBOX\r\n');
  s.pause(); // never read again
  for (let i = 0; i < 50; i++) s.write(`f${i} FETCH 1 BODY.PEEK[]\r\n`);
  const t0 = Date.now();
  // The session's end as the server sees it: its change subscription goes (the client reads nothing, so it cannot tell).
  const sessions = () => (f.ctx.store.changes as unknown as { listenerCount(a: string): number }).listenerCount(USER);
  await sleep(500);
  const held = kernelQueued(f.port);
  while (sessions() > 0 && Date.now() - t0 < 8000) await sleep(50);
  const ended = sessions() === 0 ? Date.now() - t0 : 0;
  await sleep(2500); // the grace
  const after = kernelQueued(f.port);
  console.log(
    `(a) non-reading client: ${(held / 1e6).toFixed(2)} MB in socket buffers; ` +
      (ended ? `session ended ${(ended / 1000).toFixed(1)} s after its last command (autologout 1 s); ${(after / 1e6).toFixed(2)} MB still buffered 2.5 s later` : 'session still open after 8 s (autologout 1 s)'),
  );
  s.destroy();
  await f.close();
}

/** Part b's server: a child process (so its memory is its own), answering over IPC. */
async function literalServer(): Promise<void> {
  const f = await startImapFixture({ configure: (c) => (c.limits.maxConnectionsPerIp = 1000) });
  process.on('message', (m: string) => {
    global.gc?.();
    const mem = process.memoryUsage();
    if (m === 'mem') process.send!({ port: f.port, rss: mem.rss, external: mem.external, heap: mem.heapUsed });
    if (m === 'stop') void f.close().then(() => process.exit(0));
  });
  process.send!({ port: f.port });
}

async function literalFlood(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, BENCH_HOSTILE_ROLE: 'literal-server' }, execArgv: ['--expose-gc', '--import', 'tsx'] });
  const ask = (m: string) => new Promise<{ port: number; rss: number; external: number; heap: number }>((resolve) => (child.once('message', resolve), m && child.send(m)));
  const { port } = await ask('');
  const before = await ask('mem');
  // 8 connections that never read, each with 4 pipelined commands of 64 LITERAL+ literals
  // of 200 KB (under the 256 KB spool threshold: kept in memory), APPEND and SEARCH.
  const socks: net.Socket[] = [];
  const lit = Buffer.concat([Buffer.from('Subject: x\r\n\r\n'), Buffer.alloc(200 * 1024, 'y')]);
  for (let k = 0; k < 8; k++) {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    s.pause();
    s.write(`a0 LOGIN ${USER} ${PASS}\r\n`);
    for (let c = 0; c < 4; c++) {
      s.write(c % 2 ? `s${c} SEARCH` : `a${c} APPEND INBOX`);
      for (let i = 0; i < 64; i++) s.write(Buffer.concat([Buffer.from(` ${c % 2 ? 'TEXT ' : ''}{${lit.length}+}\r\n`), lit]));
      s.write('\r\n');
    }
    socks.push(s);
  }
  await sleep(3000);
  const after = await ask('mem');
  const mb = (n: number) => (n / 1e6).toFixed(1);
  console.log(
    `(b) 8 non-reading clients × 4 commands × 64 LITERAL+ literals of 200 KB (210 MB offered): ` +
      `server rss +${mb(after.rss - before.rss)} MB, external +${mb(after.external - before.external)} MB, heap +${mb(after.heap - before.heap)} MB; ` +
      `${socks.filter((s) => s.destroyed).length} of 8 connections closed by the server`,
  );
  for (const s of socks) s.destroy();
  child.send('stop');
  await new Promise((r) => child.once('exit', r));
}

async function searchCost(): Promise<void> {
  const f = await startImapFixture();
  for (let i = 1; i <= 300; i++) await f.deliver(USER, message(i, { body: `line ${i} of some text about the quarterly figures\r\n`.repeat(20) + Array.from({ length: 200 }, (_, k) => `w${k}x`).join(' ') }));
  const c = await f.client();
  await c.transact('ok', 'SELECT INBOX');
  const terms = Array.from({ length: 200 }, (_, i) => `BODY "w${i}x"`).join(' ');
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  await c.transact('ok', `SEARCH ${terms}`);
  const cpu = process.cpuUsage(cpu0);
  console.log(`(c) SEARCH with 200 BODY terms (all matching) over 300 messages: ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s CPU, ${((Date.now() - t0) / 1000).toFixed(2)} s wall`);
  await c.close();
  await f.close();
}

const parts = new Set((process.env.BENCH_HOSTILE_PARTS ?? 'a,b,c').split(','));
if (process.env.BENCH_HOSTILE_ROLE === 'literal-server') await literalServer();
else await main();

async function main(): Promise<void> {
if (parts.has('a')) await nonReader();
if (parts.has('b')) await literalFlood();
if (parts.has('c')) await searchCost();
process.exit(0);
}
