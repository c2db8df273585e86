/**
 * IMAP benchmarks (issue 3): prints figures, asserts nothing.
 * (a) a 100 000-message INBOX: SELECT, UID FETCH 1:* (UID FLAGS), SEARCH UNSEEN,
 *     SEARCH BODY "word", FETCH of 100 envelopes;
 * (b) 50 concurrent clients, mixed workload (select, fetch headers, fetch bodies, store
 *     flags, append, expunge) for 30 s: operations/s and p99 latency;
 * (c) RSS of the server process with 1 000 IDLE connections;
 * (d) LOGIN/s: 10 clients, each on its own account, doing connect + LOGIN + LOGOUT in a
 *     loop (issue 16's figure; a client's repeated logins hit the auth cache).
 * The server runs in a child process (so RSS is the server's own). Sizes can be reduced
 * with BENCH_IMAP_MESSAGES, BENCH_IMAP_SECONDS, BENCH_IMAP_IDLE; BENCH_IMAP_PARTS=d (or
 * any of a,b,c,d, comma-separated) runs only those parts; BENCH_IMAP_CACHE_TTL=0 turns
 * the login cache off (auth.cache_ttl_seconds).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImapTestClient } from '../../test/helpers/imap-client.js';
import { openSnapshot } from '../../src/store/types.js';
import { RawClient } from '../lib-clients.js';

const MESSAGES = Number(process.env.BENCH_IMAP_MESSAGES ?? 100_000);
const SECONDS = Number(process.env.BENCH_IMAP_SECONDS ?? 30);
const IDLE = Number(process.env.BENCH_IMAP_IDLE ?? 1000);
const CLIENTS = 50;
const PARTS = new Set((process.env.BENCH_IMAP_PARTS ?? 'a,b,c,d').split(',').map((x) => x.trim()));
const LOGIN_CLIENTS = 10;
const LOGIN_SECONDS = Number(process.env.BENCH_IMAP_LOGIN_SECONDS ?? 10);

type Req = { op: 'start' } | { op: 'populate'; user: string; count: number } | { op: 'rss' } | { op: 'stop' };

async function serverMain(): Promise<void> {
  const { startImapFixture, message } = await import('../../test/imap/fixture.js');
  const f = await startImapFixture({ configure: (c) => (c.limits.maxConnectionsPerIp = 100_000) });
  // BENCH_IMAP_CACHE_TTL=0: logins without the cache of successful checks (every LOGIN pays scrypt).
  const ttl = process.env.BENCH_IMAP_CACHE_TTL;
  if (ttl !== undefined) {
    const { AccountsRepo } = await import('../../src/accounts/repo.js');
    f.ctx.accounts = new AccountsRepo(f.ctx.db, f.ctx.store, { passwords: () => ({ ...f.ctx.config.auth, cacheTtlSeconds: Number(ttl) }) });
  }
  process.on('message', async (m: Req & { id: number }) => {
    const reply = (v: unknown): void => void process.send!({ id: m.id, v });
    if (m.op === 'start') reply({ port: f.port });
    else if (m.op === 'populate') {
      if (!f.accounts.getAccount(m.user)) await f.addAccount(m.user, 'pw');
      // Files dropped into new/ as another delivery agent would, then picked up by the
      // store in one pass (per-message appends fsync the index each time: too slow for 100k).
      const at = m.user.indexOf('@');
      const dir = path.join(f.dataRoot, 'maildir', m.user.slice(at + 1), m.user.slice(0, at), 'new');
      const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf'];
      for (let i = 0; i < m.count; i++) {
        const body = `Hello ${words[i % words.length]} ${i}.\r\n` + 'lorem ipsum dolor sit amet '.repeat(8) + (i === m.count - 7 ? ' needleword' : '');
        writeFileSync(path.join(dir, `${1700000000 + i}.M${i}P${process.pid}.bench`), message(i + 1, { subject: `bench ${i}`, body, to: m.user }));
      }
      const snap = await openSnapshot(f.ctx.store, m.user, 'INBOX');
      const seen = snap.messages.filter((_x, i) => i % 4 !== 0).map((x) => x.uid);
      for (let i = 0; i < seen.length; i += 5000) await f.ctx.store.updateFlags(m.user, snap.mailbox.id, seen.slice(i, i + 5000), 'add', ['\\Seen']);
      reply({ messages: snap.messages.length });
    } else if (m.op === 'rss') {
      global.gc?.();
      await new Promise((r) => setTimeout(r, 200));
      { const m = process.memoryUsage(); reply({ rss: m.rss, heap: m.heapUsed + m.external + m.arrayBuffers }); }
    } else if (m.op === 'stop') {
      await f.close();
      reply({});
      process.exit(0);
    }
  });
  process.send!({ ready: true });
}

class Server {
  private n = 0;
  private waiting = new Map<number, (v: any) => void>();
  constructor(private child: ChildProcess) {
    child.on('message', (m: { id?: number; v?: unknown }) => {
      if (m.id !== undefined) {
        this.waiting.get(m.id)?.(m.v);
        this.waiting.delete(m.id);
      }
    });
  }
  call<T>(req: Req): Promise<T> {
    const id = ++this.n;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.send({ ...req, id });
    });
  }
}

/** (d): connect + LOGIN + LOGOUT per iteration, LOGIN_CLIENTS clients in parallel. */
async function loginRate(srv: Server, port: number): Promise<void> {
  for (let i = 0; i < LOGIN_CLIENTS; i++) await srv.call({ op: 'populate', user: `login${i}@example.test`, count: 0 });
  let logins = 0;
  let errors = 0;
  const lat: number[] = [];
  const end = Date.now() + LOGIN_SECONDS * 1000;
  const worker = async (w: number): Promise<void> => {
    while (Date.now() < end) {
      const t0 = performance.now();
      try {
        const c = await RawClient.connect(port);
        await c.cmd(`LOGIN login${w}@example.test pw`);
        lat.push(performance.now() - t0);
        logins++;
        await c.cmd('LOGOUT');
        c.close();
      } catch (err) {
        if (errors++ < 3) console.log(`  login error: ${(err as Error).message.slice(0, 200)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: LOGIN_CLIENTS }, (_, w) => worker(w)));
  lat.sort((x, y) => x - y);
  console.log(`(d) ${LOGIN_CLIENTS} clients, connect + LOGIN + LOGOUT, ${LOGIN_SECONDS} s`);
  console.log(`  LOGIN/s                                    ${(logins / LOGIN_SECONDS).toFixed(1).padStart(9)}`);
  console.log(`  connect+LOGIN p50 / p99 (ms)               ${pct(lat, 50).toFixed(1)} / ${pct(lat, 99).toFixed(1)}`);
  console.log(`  errors                                     ${errors}`);
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const r = await fn();
  console.log(`${label.padEnd(44)} ${(performance.now() - t0).toFixed(1).padStart(9)} ms`);
  return r;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

async function main(): Promise<void> {
  ImapTestClient.defaultTimeoutMs = 300_000;
  const child = fork(fileURLToPath(import.meta.url), ['--server'], { execArgv: ['--import', 'tsx', '--expose-gc'], stdio: 'inherit' });
  await new Promise<void>((resolve) => child.once('message', () => resolve()));
  const srv = new Server(child);
  const { port } = await srv.call<{ port: number }>({ op: 'start' });

  if (PARTS.has('d')) await loginRate(srv, port);
  if (PARTS.has('c')) await idleConnections(srv, port);
  if (PARTS.has('a')) await bigMailbox(srv, port);
  if (PARTS.has('b')) await mixedWorkload(srv, port);
  await srv.call({ op: 'stop' });
}

async function idleConnections(srv: Server, port: number): Promise<void> {
  // (c) idle connections
  const idleUser = 'idle@example.test';
  await srv.call({ op: 'populate', user: idleUser, count: 10 });
  const idlers: ImapTestClient[] = [];
  const openIdle = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, count - i) }, async () => {
          const cl = await ImapTestClient.connect(port);
          await cl.login(idleUser, 'pw');
          await cl.transact('ok', 'SELECT INBOX');
          cl.write('i IDLE\r\n');
          await cl.readResponse();
          idlers.push(cl);
        }),
      );
    }
  };
  // Warm-up: the first connections pay for JIT code and pools, not per-connection state.
  await openIdle(100);
  const b = await srv.call<{ rss: number; heap: number }>({ op: 'rss' });
  await openIdle(IDLE);
  const a = await srv.call<{ rss: number; heap: number }>({ op: 'rss' });
  console.log(`(c) ${IDLE} IDLE connections (after 100 warm-up ones)`);
  console.log(`  server RSS before / after (MB)             ${(b.rss / 1048576).toFixed(1)} / ${(a.rss / 1048576).toFixed(1)}`);
  console.log(`  RSS per connection (KB)                    ${((a.rss - b.rss) / IDLE / 1024).toFixed(1).padStart(9)}`);
  console.log(`  JS heap+external per connection (KB)       ${((a.heap - b.heap) / IDLE / 1024).toFixed(1).padStart(9)}`);
  await Promise.all(idlers.map((x) => x.close()));
}

async function bigMailbox(srv: Server, port: number): Promise<void> {
  // (a) big mailbox
  const big = 'big@example.test';
  await timed(`populate ${MESSAGES} messages (store.append)`, () => srv.call({ op: 'populate', user: big, count: MESSAGES }));
  const c = await RawClient.connect(port);
  await c.cmd(`LOGIN ${big} pw`);
  console.log(`(a) ${MESSAGES}-message INBOX`);
  await timed('  SELECT INBOX', () => c.cmd('SELECT INBOX'));
  await timed('  SELECT INBOX (again)', () => c.cmd('SELECT INBOX'));
  await timed('  UID FETCH 1:* (UID FLAGS)', () => c.cmd('UID FETCH 1:* (UID FLAGS)'));
  console.log(`    (${(c.bytes / 1048576).toFixed(1)} MB of responses)`);
  await timed('  SEARCH UNSEEN', () => c.cmd('SEARCH UNSEEN'));
  await timed('  SEARCH BODY "needleword"', () => c.cmd('SEARCH BODY "needleword"'));
  await timed('  FETCH 1:100 (ENVELOPE)', () => c.cmd('FETCH 1:100 (ENVELOPE)'));
  c.close();
}

async function mixedWorkload(srv: Server, port: number): Promise<void> {
  // (b) mixed workload
  // 10 accounts with 5 sessions each (a user's phone, laptop, ... on one mailbox).
  const ACCOUNTS = 10;
  for (let a = 0; a < ACCOUNTS; a++) await srv.call({ op: 'populate', user: `mixed${a}@example.test`, count: 1000 });
  const lat: number[] = [];
  let ops = 0;
  let errors = 0;
  let end = Infinity;
  const body = Buffer.from('From: a@example.org\r\nSubject: bench append\r\n\r\n' + 'x'.repeat(2000) + '\r\n');
  let ready = 0;
  const perOp: number[][] = [];
  const worker = async (w: number): Promise<void> => {
    const cl = await ImapTestClient.connect(port);
    await cl.login(`mixed${w % ACCOUNTS}@example.test`, 'pw');
    await cl.transact('ok', 'SELECT INBOX');
    ready++;
    if (ready === CLIENTS) end = Date.now() + SECONDS * 1000;
    while (end === Infinity) await new Promise((r) => setTimeout(r, 10));
    let i = 0;
    while (Date.now() < end) {
      const op = (w + i++) % 6;
      const t0 = performance.now();
      try {
        if (op === 0) await cl.transact('ok', 'SELECT INBOX');
        else if (op === 1) await cl.transact('ok', `FETCH ${1 + (i % 900)}:${10 + (i % 900)} (UID FLAGS BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])`);
        else if (op === 2) await cl.transact('ok', `FETCH ${1 + (i % 900)} (BODY.PEEK[])`);
        else if (op === 3) await cl.transact('ok', `STORE ${1 + (i % 900)} ${i % 2 ? '+' : '-'}FLAGS (\\Flagged)`);
        else if (op === 4) await cl.transact('ok', ['APPEND INBOX ', body]);
        else {
          await cl.transact('ok', 'UID SEARCH SUBJECT "bench append"').then(async (r) => {
            const uids = (r.untagged.find((x) => x.type === 'SEARCH')?.values ?? []) as number[];
            if (uids.length > 2) {
              await cl.transact('ok', `UID STORE ${uids[0]} +FLAGS.SILENT (\\Deleted)`);
              await cl.transact('ok', `UID EXPUNGE ${uids[0]}`);
            }
          });
        }
        ops++;
        lat.push(performance.now() - t0);
        (perOp[op] ??= []).push(performance.now() - t0);
      } catch (err) {
        if (errors++ < 3) console.log(`  error in op ${op}: ${(err as Error).message.slice(0, 200)}`);
      }
    }
    await cl.close();
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, w) => worker(w)));
  const secs = SECONDS;
  lat.sort((a, b) => a - b);
  console.log(`(b) ${CLIENTS} clients on ${ACCOUNTS} accounts, mixed workload, ${secs.toFixed(1)} s`);
  console.log(`  operations/s                               ${(ops / secs).toFixed(0).padStart(9)}`);
  console.log(`  latency p50 / p99 / max (ms)               ${pct(lat, 50).toFixed(1)} / ${pct(lat, 99).toFixed(1)} / ${(lat[lat.length - 1] ?? 0).toFixed(1)}`);
  console.log(`  errors                                     ${errors}`);
  const names = ['select', 'fetch headers', 'fetch body', 'store', 'append', 'search+expunge'];
  perOp.forEach((l, i) => {
    l.sort((x, y) => x - y);
    console.log(`  ${names[i]!.padEnd(16)} n=${String(l.length).padEnd(6)} p50 ${pct(l, 50).toFixed(1)} ms, p99 ${pct(l, 99).toFixed(1)} ms`);
  });
}

if (process.argv.includes('--server')) void serverMain();
else
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
