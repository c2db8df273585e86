/**
 * Scripted multi-session scenarios run through the strict client against any IMAP
 * server: ours (session-state.test.ts) and Dovecot (checker.test.ts, which thereby
 * checks the checker). Each scenario gets a way to open logged-in sessions of one fresh
 * account and asserts what must be seen; the strict client fails on anything that
 * contradicts what a session was told (imap-checker.ts).
 */
import { expect } from 'vitest';
import { fetchAttrs, type ImapTestClient, type Response } from '../helpers/imap-client.js';

export interface ScenarioEnv {
  /** A new logged-in strict session on the scenario's account. */
  open(): Promise<ImapTestClient>;
}

export function msg(n: number, subject = `message ${n}`): Buffer {
  return Buffer.from(`From: a@example.org\r\nTo: b@example.org\r\nSubject: ${subject}\r\nMessage-ID: <s${n}@example.org>\r\n\r\nbody ${n}\r\n`);
}

async function appendN(c: ImapTestClient, box: string, n: number, from = 1): Promise<void> {
  for (let i = from; i < from + n; i++) await c.transact('ok', [`APPEND ${box} `, msg(i)]);
}

const of = (rs: Response[], type: string): Response[] => rs.filter((r) => r.type === type);
const flagsOf = (r: Response): string[] => (fetchAttrs(r).FLAGS as string[]).map(String);

/** Two sessions, n messages in INBOX; a selects INBOX, b `bBox` (INBOX); `create` made first. */
async function two(env: ScenarioEnv, n: number, o: { create?: string; bBox?: string } = {}): Promise<[ImapTestClient, ImapTestClient]> {
  const a = await env.open();
  const b = await env.open();
  if (o.create) await a.transact('ok', `CREATE ${o.create}`);
  await appendN(a, 'INBOX', n);
  await a.transact('ok', 'SELECT INBOX');
  await b.transact('ok', `SELECT ${o.bBox ?? 'INBOX'}`);
  return [a, b];
}

export const SCENARIOS: Record<string, (env: ScenarioEnv) => Promise<void>> = {
  async 'new mail and a new keyword reach the other session: EXISTS first, FLAGS before the keyword'(env) {
    const [a, b] = await two(env, 2);
    await a.transact('ok', ['APPEND INBOX ', msg(3)]);
    await a.transact('ok', 'STORE 3 +FLAGS ($fresh)');
    const r = await b.transact('ok', 'NOOP');
    expect(of(r.untagged, 'EXISTS').map((x) => x.num)).toContain(3);
    const f = await b.transact('ok', 'FETCH 3 (FLAGS)');
    expect(flagsOf(of(f.untagged, 'FETCH').find((x) => x.num === 3)!)).toContain('$fresh');
  },

  async 'a keyword set elsewhere is announced before a FETCH shows it'(env) {
    const [a, b] = await two(env, 2);
    await a.transact('ok', 'STORE 1 +FLAGS.SILENT ($late)');
    const f = await b.transact('ok', 'FETCH 1 (FLAGS)');
    expect(of(f.untagged, 'FETCH').some((x) => flagsOf(x).includes('$late'))).toBe(true);
    await b.transact('ok', 'NOOP');
  },

  async 'EXPUNGE waits until a command that allows it (RFC 9051 §7.5.1)'(env) {
    const [a, b] = await two(env, 3);
    await a.transact('ok', 'STORE 1 +FLAGS.SILENT (\\Deleted)');
    await a.transact('ok', 'EXPUNGE');
    await b.transact('ok', 'FETCH 1:* (FLAGS)');
    await b.transact('ok', 'STORE 3 +FLAGS (\\Seen)');
    const s = await b.transact('ok', 'SEARCH ALL');
    // The expunged message 1 may still match (Dovecot) or not (ours); 2 and 3 must.
    expect(of(s.untagged, 'SEARCH')[0]!.values.filter((v) => v !== 1)).toEqual([2, 3]);
    const r = await b.transact('ok', 'NOOP');
    expect(of(r.untagged, 'EXPUNGE').map((x) => x.num)).toEqual([1]);
    expect(b.checker.selected!.exists).toBe(2);
  },

  async 'a message added and changed between two commands: EXISTS before its FETCH'(env) {
    const [a, b] = await two(env, 1);
    await a.transact('ok', ['APPEND INBOX ', msg(2)]);
    await a.transact('ok', 'STORE 2 +FLAGS (\\Flagged)');
    await a.transact('ok', ['APPEND INBOX ', msg(3)]);
    await b.transact('ok', 'NOOP');
    expect(b.checker.selected!.exists).toBe(3);
  },

  async 'a message added and expunged between two commands never confuses the count'(env) {
    const [a, b] = await two(env, 1);
    await a.transact('ok', ['APPEND INBOX ', msg(2)]);
    await a.transact('ok', 'STORE 2 +FLAGS.SILENT (\\Deleted)');
    await a.transact('ok', 'EXPUNGE');
    await b.transact('ok', 'NOOP');
    await b.transact('ok', 'NOOP');
    expect(b.checker.selected!.exists).toBe(1);
  },

  async 'IDLE sees new mail, flag changes and expunges in order'(env) {
    const [a, b] = await two(env, 2);
    b.write('i1 IDLE\r\n');
    await b.waitFor((r) => r.tag === '+');
    await a.transact('ok', ['APPEND INBOX ', msg(3)]);
    await b.waitFor((r) => r.type === 'EXISTS' && r.num === 3, 3000);
    await a.transact('ok', 'STORE 3 +FLAGS ($idlekw \\Deleted)');
    await b.waitFor((r) => r.type === 'FETCH' && r.num === 3, 3000);
    await a.transact('ok', 'EXPUNGE');
    await b.waitFor((r) => r.type === 'EXPUNGE' && r.num === 3, 3000);
    b.write('DONE\r\n');
    await b.waitFor((r) => r.tag === 'i1', 3000);
    b.pending.length = 0; // the order was checked by the checker, the content above
    expect(b.checker.selected!.exists).toBe(2);
  },

  async 'COPY and MOVE into a mailbox selected elsewhere: COPYUID here, EXISTS there'(env) {
    const [a, b] = await two(env, 4, { create: 'Target', bBox: 'Target' });
    const copy = await a.transact('ok', 'COPY 1 Target');
    expect(copy.tagged.code).toMatch(/^COPYUID \d+ 1 1$/);
    const uidCopy = await a.transact('ok', 'UID COPY 2 Target');
    expect(uidCopy.tagged.code).toMatch(/^COPYUID \d+ 2 2$/);
    expect(of((await b.transact('ok', 'NOOP')).untagged, 'EXISTS').map((x) => x.num)).toContain(2);
    const move = await a.transact('ok', 'MOVE 1 Target');
    expect(move.untagged.find((x) => x.type === 'OK' && /^COPYUID/.test(x.code ?? ''))?.code).toMatch(/^COPYUID \d+ 1 3$/);
    expect(of(move.untagged, 'EXPUNGE').map((x) => x.num)).toEqual([1]);
    const uidMove = await a.transact('ok', 'UID MOVE 3 Target');
    expect(uidMove.untagged.find((x) => x.type === 'OK' && /^COPYUID/.test(x.code ?? ''))?.code).toMatch(/^COPYUID \d+ 3 4$/);
    expect(of((await b.transact('ok', 'NOOP')).untagged, 'EXISTS').map((x) => x.num)).toContain(4);
    expect(b.checker.selected!.exists).toBe(4);
  },

  async 'COPY and MOVE into the selected mailbox itself'(env) {
    const [a, b] = await two(env, 2);
    const copy = await a.transact('ok', 'COPY 1 INBOX');
    expect(copy.tagged.code).toMatch(/^COPYUID \d+ 1 3$/);
    expect(of(copy.untagged, 'EXISTS').map((x) => x.num)).toContain(3);
    const move = await a.transact('ok', 'MOVE 1 INBOX');
    expect(of(move.untagged, 'EXPUNGE').map((x) => x.num)).toEqual([1]);
    expect(a.checker.selected!.exists).toBe(3);
    await b.transact('ok', 'NOOP');
    expect(b.checker.selected!.exists).toBe(3);
  },

  async 'COPY of a message expunged elsewhere fails whole: NO [EXPUNGEISSUED], nothing copied (RFC 5530 §3)'(env) {
    const [a, b] = await two(env, 3, { create: 'Target' });
    await a.transact('ok', 'STORE 1 +FLAGS.SILENT (\\Deleted)');
    await a.transact('ok', 'EXPUNGE');
    await b.transact('ok', 'FETCH 1:3 (UID)'); // b still knows 3 messages
    const r = await b.transact('no', 'COPY 1:2 Target');
    expect(r.tagged.code).toBe('EXPUNGEISSUED');
    const st = await a.transact('ok', 'STATUS Target (MESSAGES)');
    expect(of(st.untagged, 'STATUS')[0]!.raw).toMatch(/MESSAGES 0/);
    await b.transact('ok', 'NOOP');
    expect(b.checker.selected!.exists).toBe(2);
  },

  async 'IMAP4rev1: a new message is \\Recent in exactly one session (RFC 3501 §2.3.2)'(env) {
    const a = await env.open();
    const b = await env.open();
    const c = await env.open();
    await appendN(c, 'INBOX', 2);
    const sa = await a.transact('ok', 'SELECT INBOX');
    expect(of(sa.untagged, 'RECENT')[0]!.num).toBe(2);
    const sb = await b.transact('ok', 'SELECT INBOX');
    expect(of(sb.untagged, 'RECENT')[0]!.num).toBe(0);
    await c.transact('ok', ['APPEND INBOX ', msg(3)]);
    let recent = 0;
    for (const s of [a, b]) {
      await s.transact('ok', 'NOOP');
      const f = await s.transact('ok', 'FETCH 1:* (FLAGS)');
      const withRecent = of(f.untagged, 'FETCH').filter((x) => flagsOf(x).includes('\\Recent')).map((x) => x.num);
      if (s === a) expect(withRecent.filter((n) => n! <= 2)).toEqual([1, 2]);
      else expect(withRecent.filter((n) => n! <= 2)).toEqual([]);
      recent += withRecent.filter((n) => n === 3).length;
    }
    expect(recent).toBe(1);
  },
};
