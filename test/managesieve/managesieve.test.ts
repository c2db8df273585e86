// ManageSieve (RFC 5804) over real sockets with a raw client: capabilities, STARTTLS
// and the login rules IMAP has, every command with its response codes, the limits,
// and hostile input (over-long lines, huge literals, garbage, silent clients).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Listener } from '../../src/context.js';
import { startManageSieve } from '../../src/managesieve/server.js';
import { SieveStore } from '../../src/sieve/store.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { MsClient } from './client.js';

const USER = 'alice@example.test';
const PASS = 'correct horse battery';
let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({
    configure(c) {
      c.auth.allowPlaintextOnLoopback = false; // the production rule: TLS before credentials
      c.sieve.maxScripts = 3;
      c.sieve.maxScriptSize = 2048;
      c.limits.maxBadCommands = 4;
    },
  });
  await t.addAccount(USER, PASS);
  await t.addAccount('off@example.test', PASS);
  await t.accounts.setDisabled('off@example.test', true);
});
afterAll(() => t?.close());

async function session(): Promise<MsClient> {
  const { c } = await MsClient.connect(t.port('managesieve'));
  await c.startTls();
  expect((await c.login(USER, PASS)).status).toBe('OK');
  return c;
}

describe('greeting, STARTTLS and login (RFC 5804 §1.7, §2.1, §2.2)', () => {
  it('greets with its capabilities; no SASL mechanism and NO (ENCRYPT-NEEDED) before TLS', async () => {
    const { c, greeting } = await MsClient.connect(t.port('managesieve'));
    expect(greeting.status).toBe('OK');
    expect(greeting.lines).toContain('"IMPLEMENTATION" "mailserver ManageSieve"');
    expect(greeting.lines).toContain('"SASL" ""');
    expect(greeting.lines).toContain('"STARTTLS"');
    expect(greeting.lines).toContain('"VERSION" "1.0"');
    expect(greeting.lines).toContain('"MAXREDIRECTS" "4"');
    const sieve = greeting.lines.find((l) => l.startsWith('"SIEVE" '))!;
    expect(sieve).toContain('fileinto');
    expect(sieve).toContain('vacation');
    const no = await c.login(USER, PASS);
    expect([no.status, no.code]).toEqual(['NO', 'ENCRYPT-NEEDED']);
    const caps = await c.startTls();
    expect(caps.lines).toContain('"SASL" "PLAIN"');
    expect(caps.lines).not.toContain('"STARTTLS"');
    expect((await c.cmd('STARTTLS')).status).toBe('NO');
    expect((await c.login(USER, PASS)).status).toBe('OK');
    expect((await c.cmd('CAPABILITY')).lines).toContain(`"OWNER" "${USER}"`);
    c.close();
  });

  it('takes the PLAIN response after an empty challenge, and "*" cancels', async () => {
    const { c } = await MsClient.connect(t.port('managesieve'));
    await c.startTls();
    c.send('AUTHENTICATE "PLAIN"\r\n');
    c.send('"*"\r\n');
    const cancelled = await c.read();
    expect(cancelled.lines).toEqual(['""']);
    expect(cancelled.status).toBe('NO');
    c.send('AUTHENTICATE "PLAIN"\r\n');
    const b64 = Buffer.from(`\0${USER}\0${PASS}`).toString('base64');
    c.send(`{${b64.length}+}\r\n${b64}\r\n`);
    expect((await c.read()).status).toBe('OK');
    c.close();
  });

  it('refuses wrong passwords and disabled accounts, and ends the connection after three failures', async () => {
    const { c } = await MsClient.connect(t.port('managesieve'));
    await c.startTls();
    expect((await c.login(USER, 'wrong')).status).toBe('NO');
    expect((await c.login('off@example.test', PASS)).status).toBe('NO');
    expect((await c.cmd('LISTSCRIPTS')).text).toBe('Authenticate first');
    const bye = await c.login(USER, 'wrong again');
    expect(bye.status).toBe('BYE');
    expect(await c.closedByServer()).toBe(true);
  });
});

describe('commands (RFC 5804 §2.5–§2.14)', () => {
  it('puts, checks, lists, activates, gets, renames and deletes scripts with the right codes', async () => {
    const c = await session();
    const script = 'require "fileinto";\r\nif header :contains "subject" "[list]" { fileinto "Lists"; }\r\n';
    expect((await c.cmd('HAVESPACE "lists" 100')).status).toBe('OK');
    expect((await c.cmd(`PUTSCRIPT "lists" {${Buffer.byteLength(script)}+}\r\n${script}`)).status).toBe('OK');

    // A broken script is refused with the compiler's message, nothing stored.
    const broken = 'require "fileinto";\r\nfileinto "a" "b";\r\n';
    const no = await c.cmd(`PUTSCRIPT "broken" {${broken.length}+}\r\n${broken}`);
    expect(no.status).toBe('NO');
    expect(no.text).toBe('line 2, column 1: the fileinto command requires 1 positional argument(s), but 2 were given');
    const bad = await c.cmd('CHECKSCRIPT "if true { keep; "');
    expect([bad.status, bad.text]).toEqual(['NO', 'line 1, column 17: expected a command or "}", found end of script']);
    expect((await c.cmd('CHECKSCRIPT "keep;"')).status).toBe('OK');

    expect((await c.cmd('PUTSCRIPT "spare" "keep;"')).status).toBe('OK');
    expect((await c.cmd('LISTSCRIPTS')).lines).toEqual(['"lists"', '"spare"']);
    expect((await c.cmd('SETACTIVE "lists"')).status).toBe('OK');
    expect((await c.cmd('LISTSCRIPTS')).lines).toEqual(['"lists" ACTIVE', '"spare"']);

    const got = await c.cmd('GETSCRIPT "lists"');
    expect(got.lines).toEqual([script]);
    expect(got.status).toBe('OK');
    expect((await c.cmd('GETSCRIPT "nope"')).code).toBe('NONEXISTENT');

    expect((await c.cmd('RENAMESCRIPT "lists" "spare"')).code).toBe('ALREADYEXISTS');
    expect((await c.cmd('RENAMESCRIPT "lists" "Listen"')).status).toBe('OK');
    expect(new SieveStore(t.ctx.db).active(USER)?.name).toBe('Listen');
    expect((await c.cmd('DELETESCRIPT "Listen"')).code).toBe('ACTIVE');
    expect((await c.cmd('SETACTIVE ""')).status).toBe('OK');
    expect((await c.cmd('DELETESCRIPT "Listen"')).status).toBe('OK');
    expect((await c.cmd('DELETESCRIPT "Listen"')).code).toBe('NONEXISTENT');
    expect((await c.cmd('SETACTIVE "nope"')).code).toBe('NONEXISTENT');

    expect(await c.cmd('NOOP "t1"')).toMatchObject({ status: 'OK', code: 'TAG "t1"' });
    expect((await c.cmd('UNAUTHENTICATE')).status).toBe('OK');
    expect((await c.cmd('LISTSCRIPTS')).status).toBe('NO');
    expect((await c.login(USER, PASS)).status).toBe('OK');
    expect((await c.cmd('DELETESCRIPT "spare"')).status).toBe('OK');
    expect((await c.cmd('LOGOUT')).status).toBe('OK');
    expect(await c.closedByServer()).toBe(true);
  });

  it('enforces the number of scripts and the script size (QUOTA/MAXSCRIPTS, QUOTA/MAXSIZE)', async () => {
    const c = await session();
    for (const n of ['a', 'b', 'c']) expect((await c.cmd(`PUTSCRIPT "${n}" "keep;"`)).status).toBe('OK');
    expect((await c.cmd('PUTSCRIPT "d" "keep;"')).code).toBe('QUOTA/MAXSCRIPTS');
    expect((await c.cmd('HAVESPACE "d" 10')).code).toBe('QUOTA/MAXSCRIPTS');
    expect((await c.cmd('HAVESPACE "a" 4096')).code).toBe('QUOTA/MAXSIZE');
    // A literal over the limit is read, dropped and refused; the session goes on.
    const big = `# ${'x'.repeat(3000)}\r\nkeep;\r\n`;
    expect((await c.cmd(`PUTSCRIPT "a" {${big.length}+}\r\n${big}`)).code).toBe('QUOTA/MAXSIZE');
    expect((await c.cmd('GETSCRIPT "a"')).lines).toEqual(['keep;']);
    for (const n of ['a', 'b', 'c']) await c.cmd(`DELETESCRIPT "${n}"`);
    c.close();
  });
});

describe('hostile input', () => {
  it('answers an over-long line with NO and goes on; garbage counts as bad commands until BYE', async () => {
    const c = await session();
    const long = await c.cmd(`NOOP "${'x'.repeat(20_000)}"`);
    expect([long.status, long.text]).toEqual(['NO', 'line longer than 8192 bytes']);
    expect((await c.cmd('NOOP')).status).toBe('OK');
    expect((await c.cmd('FROB')).status).toBe('NO');
    expect((await c.cmd('\x00\x01\x02')).status).toBe('NO');
    const last = await c.cmd('NOOP "unterminated');
    expect(last.status).toBe('BYE');
    expect(await c.closedByServer()).toBe(true);
  });

  it('ends the connection at once for a literal too large to be worth reading', async () => {
    const c = await session();
    const r = await c.cmd('PUTSCRIPT "x" {2000000000+}');
    expect([r.status, r.code]).toEqual(['BYE', 'QUOTA/MAXSIZE']);
    expect(await c.closedByServer()).toBe(true);
  });

  it('closes idle connections and commands that trickle in past their deadline', async () => {
    let l: Listener | undefined;
    try {
      l = await startManageSieve(t.ctx, { port: 0, host: '127.0.0.1', idleTimeoutMs: 300, commandTimeoutMs: 600 });
      const idle = (await MsClient.connect(l.port)).c;
      expect(await idle.closedByServer(3000)).toBe(true);

      const slow = (await MsClient.connect(l.port)).c;
      const started = Date.now();
      // A byte every 100 ms keeps an idle timer alive forever; the deadline does not care.
      const drip = setInterval(() => slow.send('N'), 100);
      try {
        expect(await slow.closedByServer(3000)).toBe(true);
      } finally {
        clearInterval(drip);
      }
      expect(Date.now() - started).toBeLessThan(2500);
    } finally {
      await l?.close(0);
    }
  });
});
