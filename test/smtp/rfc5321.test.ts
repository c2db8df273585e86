// RFC 5321 musts on port 25 (issue 12): postmaster, bare or at every local domain and in
// any case, is always taken (§4.5.1), also for a domain made with `domain add` alone,
// and goes where `domain list` says; parameters nobody advertised get 555 5.5.4
// (§4.1.1.11); a non-ASCII address without SMTPUTF8 gets 553 5.6.7 (RFC 6531 §3.4).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postmasterRoute } from '../../src/smtp/postmaster.js';
import { tempRoot } from '../cli/run.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

let root: ReturnType<typeof tempRoot>;
let t: TestServer;
const PASS = 'rfc5321-password';

beforeAll(async () => {
  // Set up as a user would: quickstart (admin, postmaster alias, admin_address), then a
  // second domain with `domain add` alone, and a third with accounts but no alias.
  root = tempRoot();
  expect((await root.cli(['quickstart', 'admin@one.test'])).code).toBe(0);
  expect((await root.cli(['domain', 'add', 'two.test'])).code).toBe(0);
  expect((await root.cli(['domain', 'add', 'three.test'])).code).toBe(0);
  for (const a of ['carol@three.test', 'dave@three.test']) expect((await root.cli(['account', 'add', a, '--password-stdin'], { input: `${PASS}\n` })).code).toBe(0);
  t = await startTestServer({
    dataRoot: root.dir,
    keepData: true,
    configure: (c) => {
      c.checks.enabled = false;
      c.adminAddress = 'admin@one.test'; // as quickstart wrote it (the test config does not read the file)
    },
  });
});

afterAll(async () => {
  await t?.close();
  root?.cleanup();
});

function inbox(address: string): string[] {
  const [local, domain] = address.split('@') as [string, string];
  const dir = path.join(root.dir, 'maildir', domain, local, 'new');
  return existsSync(dir) ? readdirSync(dir).map((f) => readFileSync(path.join(dir, f), 'utf8')) : [];
}

async function send(rcpt: string, subject: string): Promise<{ rcpt: string; data?: string }> {
  const c = await SmtpTestClient.connect(t.port('smtp'));
  try {
    await c.hello();
    expect((await c.cmd('MAIL FROM:<someone@remote.example>')).code).toBe(250);
    const r = await c.cmd(`RCPT TO:<${rcpt}>`);
    if (r.code !== 250) return { rcpt: r.text };
    expect((await c.cmd('DATA')).code).toBe(354);
    const d = await c.cmd(`Subject: ${subject}\r\nFrom: someone@remote.example\r\n\r\nfor the postmaster\r\n.`);
    return { rcpt: r.text, data: d.text };
  } finally {
    c.close();
  }
}

describe('postmaster (RFC 5321 §4.5.1)', () => {
  it.each([
    ['postmaster', 'admin@one.test'],
    ['POSTMASTER', 'admin@one.test'],
    ['PostMaster@one.test', 'admin@one.test'],
    ['postmaster@two.test', 'admin@one.test'],
    ['Postmaster@THREE.test', 'admin@one.test'],
  ])('RCPT TO:<%s> is taken and delivered to %s', async (rcpt, mailbox) => {
    const subject = `pm ${rcpt}`;
    const r = await send(rcpt, subject);
    expect(r.rcpt).toMatch(/^250 /);
    expect(r.data).toMatch(/^250 /);
    expect(inbox(mailbox).some((m) => m.includes(`Subject: ${subject}\r\n`))).toBe(true);
  });

  it('without an admin address: the domain postmaster alias, else its first account, else the server first account', () => {
    expect(postmasterRoute(t.accounts, '', 'one.test')).toMatchObject({ via: 'alias', target: 'admin@one.test' });
    expect(postmasterRoute(t.accounts, '', 'three.test')).toMatchObject({ via: 'first account', target: 'carol@three.test' });
    expect(postmasterRoute(t.accounts, '', 'two.test')).toMatchObject({ via: "server's first account", target: 'admin@one.test' });
    expect(postmasterRoute(t.accounts, 'nobody@nowhere.example', 'two.test')?.via).toBe("server's first account");
    expect(postmasterRoute(t.accounts, '', 'remote.example')).toBeUndefined();
  });

  it('domain list says where each domain postmaster mail goes', async () => {
    const json = await root.cli(['domain', 'list', '--json']);
    expect(json.code).toBe(0);
    const rows = JSON.parse(json.stdout) as Array<{ name: string; postmaster: { to: string; via: string } }>;
    expect(Object.fromEntries(rows.map((r) => [r.name, r.postmaster]))).toEqual({
      'one.test': { to: 'admin@one.test', via: 'alias' },
      'two.test': { to: 'admin@one.test', via: 'admin' },
      'three.test': { to: 'admin@one.test', via: 'admin' },
    });
    const text = await root.cli(['domain', 'list']);
    expect(text.stdout).toMatch(/^two\.test\s+0\s+0\s+\S+\s+admin@one\.test \(admin\)$/m);
  });

  it('postmaster of a domain that is not ours is still relaying', async () => {
    expect((await send('postmaster@remote.example', 'relay')).rcpt).toMatch(/^554 5\.7\.1 /);
  });
});

describe('MAIL FROM / RCPT TO parameters (RFC 5321 §4.1.1.11) and 8-bit addresses (RFC 6531 §3.4)', () => {
  async function session(): Promise<SmtpTestClient> {
    const c = await SmtpTestClient.connect(t.port('smtp'));
    await c.hello();
    return c;
  }

  it('an unknown MAIL FROM parameter gets 555 5.5.4; AUTH= too (AUTH is not offered on port 25)', async () => {
    const c = await session();
    expect((await c.cmd('MAIL FROM:<a@remote.example> FOO=bar')).text).toMatch(/^555 5\.5\.4 /);
    expect((await c.cmd('MAIL FROM:<a@remote.example> AUTH=<>')).text).toMatch(/^555 5\.5\.4 /);
    expect((await c.cmd('MAIL FROM:<a@remote.example> SIZE=1000 BODY=8BITMIME')).code).toBe(250);
    c.close();
  });

  it('an unknown RCPT TO parameter gets 555 5.5.4; the session goes on', async () => {
    const c = await session();
    expect((await c.cmd('MAIL FROM:<a@remote.example>')).code).toBe(250);
    expect((await c.cmd('RCPT TO:<carol@three.test> XYZ=1')).text).toMatch(/^555 5\.5\.4 /);
    expect((await c.cmd('RCPT TO:<carol@three.test>')).code).toBe(250);
    c.close();
  });

  it('a non-ASCII address without SMTPUTF8 gets 553 5.6.7, with SMTPUTF8 it is looked at', async () => {
    const c = await session();
    expect((await c.cmd('MAIL FROM:<jörg@remote.example>')).text).toMatch(/^553 5\.6\.7 /);
    c.write(Buffer.from('MAIL FROM:<j\xf6rg@remote.example>\r\n', 'latin1')); // a raw 8-bit byte, not UTF-8
    expect((await c.reply()).text).toMatch(/^553 5\.6\.7 /);
    expect((await c.cmd('MAIL FROM:<a@remote.example>')).code).toBe(250);
    expect((await c.cmd('RCPT TO:<jörg@three.test>')).text).toMatch(/^553 5\.6\.7 /);
    expect((await c.cmd('RSET')).code).toBe(250);
    expect((await c.cmd('MAIL FROM:<jörg@remote.example> SMTPUTF8')).code).toBe(250);
    expect((await c.cmd('RCPT TO:<jörg@three.test>')).text).toMatch(/^550 5\.1\.1 /); // looked up: nobody has it
    c.close();
  });

  it('submission takes AUTH= on MAIL FROM (RFC 4954 §5), refuses other unknown parameters', async () => {
    const c = await SmtpTestClient.connect(t.port('submission'));
    await c.hello();
    expect((await c.cmd(`AUTH PLAIN ${Buffer.from(`\0carol@three.test\0${PASS}`).toString('base64')}`)).code).toBe(235);
    expect((await c.cmd('MAIL FROM:<carol@three.test> FOO=1')).text).toMatch(/^555 5\.5\.4 /);
    expect((await c.cmd('MAIL FROM:<carol@three.test> AUTH=<>')).code).toBe(250);
    c.close();
  });
});
