// POP3 over real sockets with the test client: wire form of RETR/TOP, the maildrop
// lifecycle (DELE only at QUIT, dropped connections delete nothing, IN-USE), UIDL ↔
// IMAP identity and stability across restarts, STLS/implicit TLS and the plaintext
// rule, limits (line length, bad commands, idle timeout, auth delay, per-IP).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImapFlow } from 'imapflow';
import { startImap } from '../../src/imap/server.js';
import { startPop3 } from '../../src/pop3/server.js';
import type { StoreChange, Uid } from '../../src/store/types.js';
import { Pop3Client } from '../helpers/pop3-client.js';
import { message, startPop3Env, type Pop3Env } from './env.js';
import { needs, peerPath } from '../helpers/peers.js';
import { openSnapshot } from '../../src/store/types.js';

const run = promisify(execFile);

/** Logs in, retrying while a just-dropped session still holds the lock (bounded, not timed). */
async function loginWhenFree(env: Pop3Env, user: string, pass: string): Promise<Pop3Client> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const c = await env.connect();
    // A refused greeting (per-address limit while old sockets close) is retried too, and
    // so is a session the short idle timer of 'POP3 limits' ended before USER (a loaded machine).
    const autologout = (st: { ok: boolean; text: string }) => !st.ok && st.text.startsWith('Autologout');
    if (c.greeting.startsWith('+OK')) {
      const u = await c.cmd(`USER ${user}`);
      if (!autologout(u)) {
        expect(u.ok).toBe(true);
        const st = await c.cmd(`PASS ${pass}`);
        if (st.ok) return c;
        if (!autologout(st)) expect(st.code).toBe('IN-USE');
      }
    }
    c.destroy();
    if (Date.now() > deadline) throw new Error('the maildrop lock was never released');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('POP3 over sockets', () => {
  let env: Pop3Env;
  beforeAll(async () => {
    env = await startPop3Env({ store: 'memory' });
  });
  afterAll(async () => {
    await env?.close();
  });

  it('RETR byte-stuffs lines starting with "." and turns bare LF into CRLF (RFC 1939 §3)', async () => {
    const { user, pass } = await env.newAccount();
    const stored = 'Subject: dots\n\n.\n..two\n.leading dot\nmiddle . dot\n\r\n.\r\nlast line without newline';
    await env.deliver(stored, user);
    const c = await env.login(user, pass);
    const r = await c.multiRaw('RETR 1');
    expect(r.ok).toBe(true);
    expect(r.raw.toString('latin1')).toBe(
      'Subject: dots\r\n\r\n..\r\n...two\r\n..leading dot\r\nmiddle . dot\r\n\r\n..\r\nlast line without newline\r\n.\r\n',
    );
    // TOP with the same rules, two body lines.
    const top = await c.multiRaw('TOP 1 2');
    expect(top.raw.toString('latin1')).toBe('Subject: dots\r\n\r\n..\r\n...two\r\n.\r\n');
    await c.quit();
  });

  it('RETR of a 3 MB message is byte-identical to what was delivered', async () => {
    const { user, pass } = await env.newAccount();
    const lines = ['Subject: big', 'X-Note: many lines', ''];
    const rnd = randomBytes(2_300_000).toString('base64');
    for (let i = 0; i < rnd.length; i += 76) lines.push((i % (76 * 50) === 0 ? '.' : '') + rnd.slice(i, i + 76));
    const data = Buffer.from(lines.join('\r\n') + '\r\n');
    await env.deliver(data, user);
    const c = await env.login(user, pass);
    const list = await c.cmd('LIST 1');
    expect(list.text).toBe(`1 ${data.length}`);
    const r = await c.multi('RETR 1');
    expect(r.text).toBe(`${data.length} octets`);
    expect(Buffer.from(r.lines.join('\r\n') + '\r\n').equals(data)).toBe(true);
    await c.quit();
  });

  it('TOP n sends the headers, the blank line and n body lines (RFC 1939 §7)', async () => {
    const { user, pass } = await env.newAccount();
    await env.deliver('A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\nl4\r\n', user);
    const c = await env.login(user, pass);
    expect((await c.multi('TOP 1 0')).lines).toEqual(['A: 1', 'B: 2', '']);
    expect((await c.multi('TOP 1 3')).lines).toEqual(['A: 1', 'B: 2', '', 'l1', 'l2', 'l3']);
    expect((await c.multi('TOP 1 100')).lines).toEqual(['A: 1', 'B: 2', '', 'l1', 'l2', 'l3', 'l4']);
    expect((await c.cmd('NOOP')).ok).toBe(true); // the connection is in step after TOP
    await c.quit();
  });

  it('a dropped connection deletes nothing and flags nothing (RFC 1939 §6)', async () => {
    const { user, pass } = await env.newAccount();
    for (let i = 1; i <= 3; i++) await env.deliver(message(i), user);
    const c = await env.login(user, pass);
    expect((await c.multi('RETR 1')).ok).toBe(true);
    expect((await c.cmd('DELE 1')).ok).toBe(true);
    expect((await c.cmd('DELE 2')).ok).toBe(true);
    expect((await c.cmd('STAT')).text).toBe('1 119');
    c.destroy();
    const c2 = await loginWhenFree(env, user, pass);
    expect((await c2.cmd('STAT')).text).toBe('3 357');
    await c2.quit();
    const snap = await openSnapshot(env.t.ctx.store, user, 'INBOX');
    expect(snap.messages.map((m) => m.flags.includes('\\Seen'))).toEqual([false, false, false]);
  });

  it('DELE + QUIT expunges, and the change bus (what IMAP sessions follow) reports it', async () => {
    const { user, pass } = await env.newAccount();
    const uids: Uid[] = [];
    for (let i = 1; i <= 4; i++) uids.push((await env.deliver(message(i), user)).uid);
    const changes: StoreChange[] = [];
    const unsub = env.t.ctx.store.changes.subscribe(user, (ch) => changes.push(ch));
    try {
      const c = await env.login(user, pass);
      expect((await c.cmd('DELE 2')).ok).toBe(true);
      expect((await c.cmd('DELE 4')).ok).toBe(true);
      expect(changes).toEqual([]); // DELE alone changes nothing
      const q = await c.quit();
      expect(q).toMatchObject({ ok: true, text: 'Bye, 2 messages deleted' });
      const expunged = changes.filter((ch) => ch.kind === 'expunged').flatMap((ch) => (ch.kind === 'expunged' ? ch.uids : []));
      expect(expunged.sort((a, b) => a - b)).toEqual([uids[1], uids[3]]);
      const snap = await openSnapshot(env.t.ctx.store, user, 'INBOX');
      expect(snap.messages.map((m) => m.uid)).toEqual([uids[0], uids[2]]);
    } finally {
      unsub();
    }
  });

  it('an IMAP session on INBOX sees the expunges after POP3 QUIT (imapflow)', async () => {
    // The server's own IMAP listener when src/server.ts starts one, else one on the same context.
    const own = env.t.server.listeners.get('imap') ? undefined : await startImap(env.t.ctx, { port: 0, host: env.host });
    const imapPort = env.t.server.listeners.get('imap')?.port ?? own!.port;
    const { user, pass } = await env.newAccount();
    const uids: number[] = [];
    for (let i = 1; i <= 3; i++) uids.push((await env.deliver(message(i), user)).uid);
    const imap = new ImapFlow({ host: env.host, port: imapPort, secure: false, auth: { user, pass }, logger: false, tls: { rejectUnauthorized: false } });
    await imap.connect();
    try {
      const box = await imap.mailboxOpen('INBOX');
      // The IMAP identity of message 1 is (UIDVALIDITY, UID): the same pair UIDL shows.
      const c = await env.login(user, pass);
      expect((await c.cmd('UIDL 1')).text).toBe(`1 ${box.uidValidity}.${uids[0]}`);
      const expunged = new Promise<void>((resolve) => imap.on('expunge', () => resolve()));
      expect((await c.cmd('DELE 1')).ok).toBe(true);
      await c.quit();
      await imap.noop();
      await expunged;
      const left = await imap.search({ all: true }, { uid: true });
      expect(left).toEqual(uids.slice(1));
    } finally {
      await imap.logout();
      await own?.close(0);
    }
  });

  it('RETR sets \\Seen at QUIT; TOP does not; deleted messages are simply gone', async () => {
    const { user, pass } = await env.newAccount();
    for (let i = 1; i <= 3; i++) await env.deliver(message(i), user);
    const c = await env.login(user, pass);
    await c.multi('RETR 1');
    await c.multi('TOP 2 5');
    await c.multi('RETR 3');
    await c.cmd('DELE 3');
    expect((await openSnapshot(env.t.ctx.store, user, 'INBOX')).messages.every((m) => !m.flags.includes('\\Seen'))).toBe(true);
    await c.quit();
    const snap = await openSnapshot(env.t.ctx.store, user, 'INBOX');
    expect(snap.messages.map((m) => m.flags.includes('\\Seen'))).toEqual([true, false]);
  });

  it('UIDL is "<uidvalidity>.<uid>", the pair IMAP identifies the message by', async () => {
    const { user, pass } = await env.newAccount();
    for (let i = 1; i <= 3; i++) await env.deliver(message(i), user);
    const snap = await openSnapshot(env.t.ctx.store, user, 'INBOX');
    const c = await env.login(user, pass);
    const u = await c.multi('UIDL');
    expect(u.lines).toEqual(snap.messages.map((m, i) => `${i + 1} ${snap.mailbox.uidValidity}.${m.uid}`));
    for (const l of u.lines) expect(l.split(' ')[1]).toMatch(/^[\x21-\x7e]{1,70}$/); // RFC 1939 §7
    await c.quit();
  });

  it('the maildrop is a snapshot: mail arriving during the session shows at the next login', async () => {
    const { user, pass } = await env.newAccount();
    await env.deliver(message(1), user);
    const c = await env.login(user, pass);
    await env.deliver(message(2), user);
    expect((await c.cmd('STAT')).text).toBe('1 119');
    await c.quit();
    const c2 = await env.login(user, pass);
    expect((await c2.cmd('STAT')).text).toBe('2 238');
    await c2.quit();
  });

  it('a message expunged elsewhere during the session answers -ERR, and QUIT still succeeds', async () => {
    const { user, pass } = await env.newAccount();
    await env.deliver(message(1), user);
    await env.deliver(message(2), user);
    const c = await env.login(user, pass);
    const snap = await openSnapshot(env.t.ctx.store, user, 'INBOX');
    await env.t.ctx.store.expunge(user, snap.mailbox.id, [snap.messages[0]!.uid]);
    const r = await c.cmd('RETR 1');
    expect(r.ok).toBe(false);
    expect((await c.cmd('DELE 1')).ok).toBe(true);
    expect((await c.multi('RETR 2')).ok).toBe(true);
    expect((await c.quit()).ok).toBe(true);
    expect((await openSnapshot(env.t.ctx.store, user, 'INBOX')).messages).toHaveLength(1);
  });

  it('pop3s (implicit TLS) logs in and retrieves', async () => {
    const { user, pass } = await env.newAccount();
    await env.deliver(message(7), user);
    const c = await env.login(user, pass, { tls: true });
    expect(c.secure).toBe(true);
    const caps = await c.multi('CAPA');
    expect(caps.lines).not.toContain('STLS');
    expect((await c.multi('RETR 1')).lines).toContain('Subject: message 7');
    await c.quit();
  });

  it('over-long lines answer -ERR and the connection goes on', async () => {
    const c = await env.connect();
    c.send('NOOP ' + 'x'.repeat(5000) + '\r\n');
    const st = await c.status();
    expect(st).toMatchObject({ ok: false, text: 'Line too long' });
    expect((await c.multi('CAPA')).ok).toBe(true);
    await c.quit();
  });

  it('random garbage gets -ERR replies and then the connection closes, without hurting others', async () => {
    const other = await env.connect();
    const c = await env.connect();
    let replies = 0;
    for (let i = 0; i < 20 && !c.isClosed; i++) {
      c.send(Buffer.concat([randomBytes(1 + (i * 37) % 300).map((b) => (b === 10 ? 32 : b)), Buffer.from('\r\n')]));
      const line = await c.readLine();
      if (line === undefined) break;
      expect(line.startsWith('-ERR')).toBe(true);
      replies++;
    }
    await c.waitClosed();
    expect(replies).toBe(env.t.config.limits.maxBadCommands);
    expect((await other.multi('CAPA')).ok).toBe(true);
    await other.quit();
  });

  it('seeded random lines and binary junk get -ERR until the budget closes the session; nothing deleted', async () => {
    const { user, pass } = await env.newAccount();
    await env.deliver(message(1), user);
    const c = await env.login(user, pass);
    expect((await c.cmd('DELE 1')).ok).toBe(true);
    const seeds = ['RETR', 'TOP 1', 'LIST x y z', 'DELE 1 2', 'UIDL -5', 'AUTH PLAIN', 'STLS', 'PASS', '\u0000\u0001\u0002', 'é'.repeat(600)];
    let replies = 0;
    for (const line of seeds) {
      c.send(`${line}\r\n`);
      const r = await c.readLine();
      if (r === undefined) break;
      expect(r.startsWith('-ERR'), `${JSON.stringify(line)} → ${r}`).toBe(true);
      replies++;
    }
    await c.waitClosed();
    expect(replies).toBe(env.t.config.limits.maxBadCommands);
    const c2 = await loginWhenFree(env, user, pass);
    expect((await c2.cmd('STAT')).text).toBe('1 119');
    await c2.quit();
  });

  it('a new certificate applies to new pop3s and STLS connections, with and without SNI', needs('openssl'), async () => {
    const peer = async (connect: () => Promise<tls.TLSSocket>) => {
      const s = await connect();
      const fp = s.getPeerX509Certificate()?.fingerprint256;
      s.destroy();
      return fp;
    };
    const implicit = (servername?: string) => () =>
      new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ host: env.host, port: env.pop3s, rejectUnauthorized: false, ...(servername ? { servername } : {}) }, () => resolve(s));
        s.once('error', reject);
      });
    const stls = async () => {
      const c = await env.connect();
      await c.startTls();
      return c.tlsSocket!;
    };
    const before = env.t.ctx.tls.describe().fingerprint256;
    expect(await peer(implicit())).toBe(before);
    // openssl makes a P-256 pair in milliseconds (forge's RSA keygen takes seconds).
    const dir = await mkdtemp(path.join(tmpdir(), 'pop3-cert-'));
    await run(peerPath('openssl')!, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=renewed.example.test', '-days', '2', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')]);
    env.t.ctx.tls.setCertificate({ key: await readFile(path.join(dir, 'key.pem'), 'utf8'), cert: await readFile(path.join(dir, 'cert.pem'), 'utf8') });
    await rm(dir, { recursive: true, force: true });
    const after = env.t.ctx.tls.describe().fingerprint256;
    expect(after).not.toBe(before);
    expect(await peer(implicit())).toBe(after); // no SNI (IP address)
    expect(await peer(implicit('localhost'))).toBe(after); // SNI
    expect(await peer(stls)).toBe(after);
  });
});

describe('POP3 with plaintext login refused (allowPlaintextOnLoopback = false)', () => {
  let env: Pop3Env;
  beforeAll(async () => {
    env = await startPop3Env({
      store: 'memory',
      configure: (c) => {
        c.auth.allowPlaintextOnLoopback = false;
        c.auth.failureDelayMs = 100;
      },
    });
  });
  afterAll(async () => {
    await env?.close();
  });

  it('refuses USER and AUTH before STLS, accepts them after (RFC 2595 §4)', async () => {
    const { user, pass } = await env.newAccount();
    await env.deliver(message(1), user);
    const c = await env.connect();
    const caps = await c.multi('CAPA');
    expect(caps.lines).toContain('STLS');
    expect(caps.lines).not.toContain('USER');
    expect(caps.lines.some((l) => l.startsWith('SASL'))).toBe(false);
    expect(await c.cmd(`USER ${user}`)).toMatchObject({ ok: false, code: 'AUTH' });
    expect(await c.cmd(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`)).toMatchObject({ ok: false, code: 'AUTH' });
    expect((await c.startTls()).ok).toBe(true);
    expect(c.secure).toBe(true);
    const caps2 = await c.multi('CAPA');
    expect(caps2.lines).not.toContain('STLS');
    expect(caps2.lines).toEqual(expect.arrayContaining(['USER', 'SASL PLAIN']));
    expect((await c.cmd('STLS')).ok).toBe(false);
    expect((await c.login(user, pass)).ok).toBe(true);
    expect((await c.cmd('STAT')).text).toBe('1 119');
    await c.quit();
  });

  it('discards commands pipelined after STLS (no plaintext injection)', async () => {
    const c = await env.connect();
    c.send('STLS\r\nNOOP-INJECTED\r\n');
    // Only the STLS reply comes back in plaintext; the injected line is thrown away.
    const st = await c.status();
    expect(st.ok).toBe(true);
    await c.upgradeTls();
    // Had the injected line run, its -ERR would come before the CAPA answer.
    const caps = await c.multi('CAPA');
    expect(caps.ok).toBe(true);
    expect(caps.lines).toContain('USER');
    await c.quit();
  });

  it('wrong credentials answer -ERR [AUTH] after the configured delay (RFC 3206)', async () => {
    const { user } = await env.newAccount();
    const c = await env.connect({ tls: true });
    const t0 = Date.now();
    expect(await c.login(user, 'wrong-password')).toMatchObject({ ok: false, code: 'AUTH' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95);
    await c.quit();
  });
});

describe('POP3 limits', () => {
  let env: Pop3Env;
  beforeAll(async () => {
    env = await startPop3Env({ store: 'memory', listen: { idleTimeoutMs: 300, closeGraceMs: 200 }, configure: (c) => (c.limits.maxConnectionsPerIp = 3) });
  });
  afterAll(async () => {
    await env?.close();
  });

  it('closes an idle connection with -ERR (RFC 1939 §3 autologout) and deletes nothing', async () => {
    const { user, pass } = await env.newAccount();
    await env.deliver(message(1), user);
    const c = await env.login(user, pass);
    expect((await c.cmd('DELE 1')).ok).toBe(true);
    const st = await c.status(); // nothing sent: the next line is the server's autologout
    expect(st.ok).toBe(false);
    await c.waitClosed();
    const c2 = await loginWhenFree(env, user, pass);
    expect((await c2.cmd('STAT')).text).toBe('1 119');
    c2.destroy();
  });

  it('closes a session whose client stops reading in the middle of a RETR; nothing deleted', async () => {
    const { user, pass } = await env.newAccount();
    const big = Buffer.concat([Buffer.from('Subject: stall\r\n\r\n'), Buffer.alloc(16 * 1024 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789\r\n')]);
    await env.deliver(big, user);
    await env.deliver(message(2), user);
    const c = await env.login(user, pass);
    expect((await c.cmd('DELE 2')).ok).toBe(true);
    c.pauseReading();
    c.send('RETR 1\r\n');
    // The stalled session holds the lock until the idle timer ends it; then the maildrop is whole.
    const c2 = await loginWhenFree(env, user, pass);
    expect((await c2.cmd('STAT')).text).toBe(`2 ${big.length + 119}`);
    await c2.quit();
    c.destroy();
  });

  it('the idle timer also ends a client that owes a SASL response or never starts the STLS handshake', async () => {
    const a = await env.connect();
    a.send('AUTH PLAIN\r\n');
    expect(await a.readLine()).toBe('+ ');
    await a.waitClosed();
    const b = await env.connect();
    expect((await b.cmd('STLS')).ok).toBe(true);
    await b.waitClosed(); // no ClientHello ever sent
  });

  it('refuses connections past the per-address limit', async () => {
    const open = [await env.connect(), await env.connect(), await env.connect()];
    const extra = await env.connect();
    expect(extra.greeting).toMatch(/^-ERR \[SYS\/TEMP\]/);
    await extra.waitClosed();
    for (const c of open) c.destroy();
  });

  it('close() tells idle clients and lets the server stop', async () => {
    const l = await startPop3(env.t.ctx, { port: 0, host: env.host });
    const c = await Pop3Client.connect(l.port, { host: env.host });
    await l.close(2000);
    const st = await c.status();
    expect(st).toMatchObject({ ok: false, code: 'SYS/TEMP' });
    await c.waitClosed();
  });
});

describe('UIDL stability', () => {
  it('UIDL values are the same after a server restart on the same data root, and after reindex', async () => {
    const env1 = await startPop3Env({ keepData: true });
    const { user, pass } = await env1.newAccount();
    for (let i = 1; i <= 5; i++) await env1.deliver(message(i), user);
    const c = await env1.login(user, pass);
    await c.cmd('DELE 2');
    await c.quit();
    const before = (await (await env1.login(user, pass)).multi('UIDL')).lines;
    expect(before).toHaveLength(4);
    await env1.close();
    const env2 = await startPop3Env({ dataRoot: env1.t.dataRoot, noAccount: true });
    try {
      const c2 = await env2.login(user, pass);
      expect((await c2.multi('UIDL')).lines).toEqual(before);
      await c2.quit();
      await env2.t.ctx.store.reindex(user);
      const c3 = await env2.login(user, pass);
      expect((await c3.multi('UIDL')).lines).toEqual(before);
      await c3.quit();
    } finally {
      await env2.close();
    }
  });
});
