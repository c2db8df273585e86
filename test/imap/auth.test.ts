// Authentication: LOGIN, AUTHENTICATE PLAIN (SASL-IR) and LOGIN, LOGINDISABLED before
// TLS unless loopback plaintext is allowed, STARTTLS, implicit TLS (RFC 9051 §6.2, RFC 8314).
import { afterEach, describe, expect, it } from 'vitest';
import { PASS, startImapFixture, USER, type ImapFixture } from './fixture.js';

let f: ImapFixture | undefined;
afterEach(async () => {
  await f?.close();
  f = undefined;
});

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('authentication', () => {
  it('AUTHENTICATE PLAIN with and without SASL-IR, and LOGIN', async () => {
    f = await startImapFixture({ store: 'memory' });
    const c1 = await f.connect();
    await c1.transact('ok', `AUTHENTICATE PLAIN ${b64(`\0${USER}\0${PASS}`)}`);
    const c2 = await f.connect();
    const tag = c2.nextTag();
    c2.write(`${tag} AUTHENTICATE PLAIN\r\n`);
    expect((await c2.readResponse()).tag).toBe('+');
    c2.write(b64(`${USER}\0${USER}\0${PASS}`) + '\r\n');
    const r = await c2.readResponse();
    expect([r.tag, r.type]).toEqual([tag, 'OK']);
    const c3 = await f.connect();
    const t3 = c3.nextTag();
    c3.write(`${t3} AUTHENTICATE LOGIN\r\n`);
    expect((await c3.readResponse()).text).toBe(b64('Username:'));
    c3.write(b64(USER) + '\r\n');
    expect((await c3.readResponse()).text).toBe(b64('Password:'));
    c3.write(b64(PASS) + '\r\n');
    expect((await c3.readResponse()).type).toBe('OK');
  });

  it('wrong credentials → NO [AUTHENTICATIONFAILED]; cancel → BAD; other authzid refused', async () => {
    f = await startImapFixture({ store: 'memory' });
    const c = await f.connect();
    const r = await c.transact('no', `LOGIN ${USER} wrong`);
    expect(r.tagged.code).toBe('AUTHENTICATIONFAILED');
    const r2 = await c.transact('no', `AUTHENTICATE PLAIN ${b64(`other@example.test\0${USER}\0${PASS}`)}`);
    expect(r2.tagged.code).toBe('AUTHENTICATIONFAILED');
    const t = c.nextTag();
    c.write(`${t} AUTHENTICATE PLAIN\r\n`);
    await c.readResponse();
    c.write('*\r\n');
    expect((await c.readResponse()).type).toBe('BAD');
    await c.transact('bad', 'AUTHENTICATE PLAIN !!!notbase64');
    await c.transact('no', 'AUTHENTICATE CRAM-MD5');
    await c.login(USER, PASS);
  });

  it('LOGINDISABLED before STARTTLS when plaintext is not allowed; works after STARTTLS', async () => {
    f = await startImapFixture({ store: 'memory', configure: (c) => (c.auth.allowPlaintextOnLoopback = false) });
    const c = await f.connect();
    expect(c.greeting.code).toContain('LOGINDISABLED');
    expect(c.greeting.code).toContain('STARTTLS');
    expect(c.greeting.code).not.toContain('AUTH=PLAIN');
    await c.transact('no', `LOGIN ${USER} ${PASS}`);
    await c.transact('no', `AUTHENTICATE PLAIN ${b64(`\0${USER}\0${PASS}`)}`);
    await c.startTls();
    const caps = await c.transact('ok', 'CAPABILITY');
    const line = caps.untagged.find((x) => x.type === 'CAPABILITY')!.raw;
    expect(line).not.toContain('LOGINDISABLED');
    expect(line).not.toContain('STARTTLS');
    expect(line).toContain('AUTH=PLAIN');
    await c.login(USER, PASS);
    await c.transact('ok', 'SELECT INBOX');
  });

  it('implicit TLS allows login at once', async () => {
    f = await startImapFixture({ store: 'memory', configure: (c) => (c.auth.allowPlaintextOnLoopback = false) });
    const c = await f.connect({ tls: true });
    expect(c.greeting.code).not.toContain('STARTTLS');
    await c.login(USER, PASS);
    await c.transact('bad', 'STARTTLS');
  });

  it('discards commands pipelined after STARTTLS (RFC 9051 §6.2.1)', async () => {
    f = await startImapFixture({ store: 'memory' });
    const c = await f.connect();
    const t = c.nextTag();
    c.write(`${t} STARTTLS\r\nx1 LOGIN ${USER} ${PASS}\r\n`);
    const r = await c.readResponse();
    expect(r.type).toBe('OK');
    // The LOGIN was injected before TLS: it must not run. We cannot speak TLS with this
    // raw client after it, so only check no further plaintext answer arrives.
    const more = await c.drain(200);
    expect(more.filter((x) => x.tag === 'x1')).toHaveLength(0);
  });
});
