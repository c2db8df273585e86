// Non-synchronizing literals (RFC 7888): LITERAL+ by default, LITERAL- on a listener
// that limits them to 4096 octets (§5). The example of RFC 7888 §3 on both, the 4096
// bound only where LITERAL- alone is in force, and imapflow, which sends a literal
// without waiting when it is small enough for the capability it was shown.
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImapTestClient } from '../helpers/imap-client.js';
import { message, startImapFixture, type ImapFixture } from './fixture.js';

const PW = 'pw';
let plus: ImapFixture;
let minus: ImapFixture;
beforeAll(async () => {
  [plus, minus] = await Promise.all([startImapFixture({ store: 'memory' }), startImapFixture({ store: 'memory', listen: { literalMinus: true } })]);
  for (const f of [plus, minus]) {
    await f.addAccount('fred@example.test', PW);
    await f.addAccount('fred.foobar@example.test', 'fat man');
  }
});
afterAll(async () => {
  await Promise.all([plus?.close(), minus?.close()]);
});

async function capabilities(c: ImapTestClient): Promise<string[]> {
  const r = await c.transact('ok', 'CAPABILITY');
  return r.untagged.find((x) => x.type === 'CAPABILITY')!.raw.split(' ').slice(2);
}

/** `a APPEND INBOX {n+}` with a message of `n` octets, sent without waiting; the tagged response. */
async function appendNonSync(c: ImapTestClient, tag: string, n: number): Promise<string> {
  const body = Buffer.alloc(n, 'x');
  body.write('Subject: s\r\n\r\n');
  c.write(Buffer.concat([Buffer.from(`${tag} APPEND INBOX {${n}+}\r\n`), body, Buffer.from('\r\n')]));
  const r = await c.waitFor((x) => x.tag === tag);
  return r.code === 'TOOBIG' ? `${r.type} [TOOBIG]` : r.type;
}

describe('LITERAL+ / LITERAL- (RFC 7888)', () => {
  it('advertises one of the two: LITERAL+ by default, LITERAL- on a listener that bounds them', async () => {
    const a = await plus.connect();
    const capsPlus = await capabilities(a);
    expect(capsPlus).toContain('LITERAL+');
    expect(capsPlus).not.toContain('LITERAL-');
    await a.close();
    const b = await minus.connect();
    const capsMinus = await capabilities(b);
    expect(capsMinus).toContain('LITERAL-');
    expect(capsMinus).not.toContain('LITERAL+');
    await b.close();
  });

  for (const which of ['LITERAL+', 'LITERAL-'] as const) {
    it(`${which}: the example of RFC 7888 §3, a LOGIN with two non-synchronizing literals and no "+"`, async () => {
      const f = which === 'LITERAL+' ? plus : minus;
      const c = await f.connect({ strict: false });
      // The RFC's user "FRED FOOBAR" is an address here.
      c.write('A001 LOGIN {24+}\r\nfred.foobar@example.test {7+}\r\nfat man\r\n');
      const r = await c.waitFor((x) => x.tag === 'A001');
      expect(r.type).toBe('OK');
      await c.close();
    });
  }

  it('LITERAL+: a non-synchronizing message literal of 20 000 octets is taken', async () => {
    const c = await plus.client('fred@example.test', PW);
    expect(await appendNonSync(c, 'p1', 20_000)).toBe('OK');
    await c.close();
  });

  it('LITERAL-: 4096 octets are taken, 4097 are BAD [TOOBIG] and the session goes on; a synchronizing literal of any size is fine (§5)', async () => {
    const c = await minus.connect({ strict: false });
    await c.login('fred@example.test', PW);
    expect(await appendNonSync(c, 'm1', 4096)).toBe('OK');
    expect(await appendNonSync(c, 'm2', 4097)).toBe('BAD [TOOBIG]');
    // The refused literal's bytes were read and dropped: the next command is understood.
    await c.transact('ok', ['APPEND INBOX ', Buffer.from(message(1) + 'y'.repeat(20_000)), '']);
    const st = await c.transact('ok', 'STATUS INBOX (MESSAGES)');
    expect(st.untagged[0]!.raw).toBe('* STATUS INBOX (MESSAGES 2)');
    await c.close();
  });

  it('imapflow on a LITERAL- listener: a 1 KiB and a 20 KiB APPEND both land (it waits for "+" above 4096)', async () => {
    const client = new ImapFlow({ host: '127.0.0.1', port: minus.port, secure: false, auth: { user: 'fred@example.test', pass: PW }, tls: { rejectUnauthorized: false }, logger: false });
    await client.connect();
    const count = async (): Promise<number | undefined> => {
      const st = await client.status('INBOX', { messages: true });
      return st ? st.messages : undefined;
    };
    const before = (await count())!;
    await client.append('INBOX', message(2) + 'a'.repeat(1024));
    await client.append('INBOX', message(3) + 'b'.repeat(20 * 1024));
    expect(await count()).toBe(before + 2);
    await client.logout();
  });
});
