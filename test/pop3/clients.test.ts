// Real POP3 clients against the server: python3 poplib (plain on loopback, STLS, and
// POP3_SSL against the implicit-TLS port with an unverified context) and curl
// (pop3:// with and without --ssl-reqd, pop3s:// with -k).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { message, startPop3Env, type Pop3Env } from './env.js';
import { needs, peer } from '../helpers/peers.js';

const run = promisify(execFile);

const POPLIB = `
import json, poplib, ssl, sys
host, port, user, pw, mode = sys.argv[1:6]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if mode == 'ssl':
    p = poplib.POP3_SSL(host, int(port), context=ctx, timeout=20)
else:
    p = poplib.POP3(host, int(port), timeout=20)
    if mode == 'stls':
        p.stls(ctx)
out = {'welcome': p.getwelcome().decode(), 'capa': sorted(p.capa().keys())}
try:
    p.user(user)
    p.pass_(pw)
except poplib.error_proto as e:
    out['error'] = e.args[0].decode()
    print(json.dumps(out))
    sys.exit(0)
count, size = p.stat()
out['stat'] = [count, size]
out['uidl'] = [l.decode() for l in p.uidl()[1]]
out['messages'] = [b'\\r\\n'.join(p.retr(i + 1)[1]).decode('latin1') + '\\r\\n' for i in range(count)]
out['top'] = [l.decode('latin1') for l in p.top(1, 1)[1]]
p.dele(1)
p.quit()
print(json.dumps(out))
`;
import { openSnapshot } from '../../src/store/types.js';

interface PoplibResult {
  welcome: string;
  capa: string[];
  error?: string;
  stat?: [number, number];
  uidl?: string[];
  messages?: string[];
  top?: string[];
}

async function poplib(env: Pop3Env, port: number, user: string, pass: string, mode: 'plain' | 'stls' | 'ssl'): Promise<PoplibResult> {
  const { stdout } = await run(peer('python3'), ['-c', POPLIB, env.host, String(port), user, pass, mode], { timeout: 30_000 });
  return JSON.parse(stdout) as PoplibResult;
}

const DOTTED = 'From: a@example.org\r\nSubject: dotted\r\n\r\n.\r\n..double\r\n.x\r\nend\r\n';

describe('python3 poplib', needs('python3'), () => {
  let env: Pop3Env;
  beforeAll(async () => {
    env = await startPop3Env({ store: 'memory' });
  });
  afterAll(async () => {
    await env?.close();
  });

  it.each(['plain', 'stls', 'ssl'] as const)('%s: STAT, UIDL, RETR (dot-stuffed message intact), TOP, DELE, QUIT', async (mode) => {
    const { user, pass } = await env.newAccount();
    await env.deliver(message(1), user);
    await env.deliver(DOTTED, user);
    const snap = await openSnapshot(env.t.ctx.store, user, 'INBOX');
    const r = await poplib(env, mode === 'ssl' ? env.pop3s : env.pop3, user, pass, mode);
    expect(r.welcome).toMatch(/^\+OK /);
    expect(r.capa).toEqual(expect.arrayContaining(['TOP', 'UIDL', 'USER', 'PIPELINING', 'RESP-CODES']));
    expect(r.stat).toEqual([2, 119 + Buffer.byteLength(DOTTED)]);
    expect(r.uidl).toEqual(snap.messages.map((m, i) => `${i + 1} ${snap.mailbox.uidValidity}.${m.uid}`));
    expect(r.messages).toEqual([message(1), DOTTED]);
    expect(r.top).toEqual(['From: sender@example.org', `To: pop@example.test`, 'Subject: message 1', 'Message-ID: <m1@example.org>', '', 'body of message 1']);
    // QUIT applied the DELE.
    const after = await openSnapshot(env.t.ctx.store, user, 'INBOX');
    expect(after.messages.map((m) => m.uid)).toEqual([snap.messages[1]!.uid]);
  });

  it('wrong password: poplib sees -ERR [AUTH]', async () => {
    const { user } = await env.newAccount();
    const r = await poplib(env, env.pop3, user, 'not-the-password', 'plain');
    expect(r.error).toMatch(/^-ERR \[AUTH\] /);
  });
});

describe('curl pop3:// and pop3s://', needs('curl'), () => {
  let env: Pop3Env;
  beforeAll(async () => {
    env = await startPop3Env({ store: 'memory' });
  });
  afterAll(async () => {
    await env?.close();
  });

  const curl = async (args: string[]) => (await run(peer('curl'), ['-sS', '--max-time', '20', ...args], { timeout: 30_000, encoding: 'latin1' })).stdout;

  it('lists and retrieves over plain POP3 on loopback, over STLS (--ssl-reqd) and over pop3s', async () => {
    const { user, pass } = await env.newAccount();
    await env.deliver(message(1), user);
    await env.deliver(DOTTED, user);
    const auth = ['-u', `${user}:${pass}`];
    const plainUrl = `pop3://${env.host}:${env.pop3}`;
    const sslUrl = `pop3s://${env.host}:${env.pop3s}`;
    expect(await curl([...auth, `${plainUrl}/`])).toBe(`1 119\r\n2 ${Buffer.byteLength(DOTTED)}\r\n`);
    expect(await curl([...auth, `${plainUrl}/2`])).toBe(DOTTED);
    expect(await curl([...auth, '--ssl-reqd', '-k', `${plainUrl}/1`])).toBe(message(1));
    expect(await curl([...auth, '-k', `${sslUrl}/2`])).toBe(DOTTED);
    const uidl = await curl([...auth, '-k', '-X', 'UIDL', `${sslUrl}/`]);
    const snap = await openSnapshot(env.t.ctx.store, user, 'INBOX');
    expect(uidl).toBe(snap.messages.map((m, i) => `${i + 1} ${snap.mailbox.uidValidity}.${m.uid}\r\n`).join(''));
    // DELE via curl (-X DELE, no transfer), applied at curl's QUIT.
    await curl([...auth, '-k', '-X', 'DELE', '-I', `${sslUrl}/1`]);
    expect((await openSnapshot(env.t.ctx.store, user, 'INBOX')).messages).toHaveLength(1);
  });

  it('curl with SASL PLAIN (AUTH with initial response, RFC 5034)', async () => {
    const { user, pass } = await env.newAccount();
    await env.deliver(message(3), user);
    const out = await curl(['-u', `${user}:${pass}`, '--login-options', 'AUTH=PLAIN', '-k', `pop3s://${env.host}:${env.pop3s}/1`]);
    expect(out).toBe(message(3));
  });

  it('curl gets a login failure for a wrong password', async () => {
    const { user } = await env.newAccount();
    await expect(curl(['-u', `${user}:wrong`, `pop3://${env.host}:${env.pop3}/`])).rejects.toThrow(/Login denied|67/);
  });
});
