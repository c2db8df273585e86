// Concurrency soak: 10 sessions on 2 accounts (3 on INBOX and 2 on Archive each), each
// running a seeded random mix of APPEND, STORE (flags and keywords), EXPUNGE, COPY,
// MOVE, FETCH, SEARCH, NOOP and IDLE for a bounded time, all through the strict client
// (imap-checker.ts). At the end the mailboxes must equal a model built only from what
// the server acknowledged: APPENDUID and COPYUID create messages, MOVE sources and
// observed EXPUNGEs remove them, and each message's flags are those of the FETCH with the
// highest MODSEQ any session saw (CONDSTORE is on everywhere).
//
// SOAK_SECONDS (default 20), SOAK_SEED (default random) and SOAK_SESSIONS (default 10)
// make longer or reproducible runs; the seed is printed, and named in every failure.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CheckerEvent } from '../helpers/imap-checker.js';
import { fetchAttrs, valueText, type ImapTestClient, type Response } from '../helpers/imap-client.js';
import { startImapFixture, type ImapFixture } from './fixture.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 20);
const SEED = Number(process.env.SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
const SESSIONS = Number(process.env.SOAK_SESSIONS ?? 10);
const ACCOUNTS = ['soak1@example.test', 'soak2@example.test'];
const BOXES = ['INBOX', 'Archive'];
const KEYWORDS = ['$k1', '$k2', '$k3', '$Label4', 'Work'];

let f: ImapFixture;
beforeAll(async () => {
  f = await startImapFixture();
  for (const a of ACCOUNTS) await f.addAccount(a, 'pw');
});
afterAll(async () => {
  await f?.close();
});

/** Park-Miller, so a seed gives the same choices on every machine. */
function rng(seed: number): (n: number) => number {
  let s = seed % 2147483647 || 1;
  return (n) => {
    s = (s * 48271) % 2147483647;
    return s % n;
  };
}

interface Known {
  msgid: string;
  /** Flags of the FETCH with the highest MODSEQ seen, or those given at APPEND. */
  flags: string[];
  modseq: number;
  /** \Deleted seen at some point (or inherited from a copied source that had it). */
  deletedSeen: boolean;
  removed: boolean;
  /** Made by COPY/MOVE: its first flags are the source's, not known until a FETCH. */
  copy: boolean;
}

class Model {
  readonly msgs = new Map<string, Known>();
  readonly problems: string[] = [];
  ops = 0;
  private n = 0;
  key(account: string, box: string, uid: number): string {
    return `${account}|${box}|${uid}`;
  }
  nextMsgid(): string {
    return `<soak-${SEED}-${++this.n}@example.test>`;
  }
  created(k: string, msgid: string, flags: string[], copyOf?: Known): void {
    if (this.msgs.has(k)) this.problems.push(`UID reused: ${k}`);
    this.msgs.set(k, { msgid, flags, modseq: 0, deletedSeen: copyOf?.deletedSeen ?? false, removed: false, copy: copyOf !== undefined });
  }
  event(account: string, e: CheckerEvent): void {
    const m = e.uid !== undefined ? this.msgs.get(this.key(account, e.mailbox, e.uid)) : undefined;
    if (e.kind === 'expunge') {
      if (m) m.removed = true;
      return;
    }
    if (!m) return;
    if (e.flags?.includes('\\Deleted')) m.deletedSeen = true;
    if (e.flags && e.modseq !== undefined && e.modseq >= m.modseq) {
      if (e.modseq === m.modseq && m.modseq > 0 && !sameFlags(e.flags, m.flags)) this.problems.push(`two flag sets for ${e.mailbox} UID ${e.uid} at MODSEQ ${e.modseq}`);
      m.modseq = e.modseq;
      m.flags = e.flags;
    }
  }
}

function sameFlags(a: string[], b: string[]): boolean {
  const norm = (x: string[]): string => x.filter((f) => f !== '\\Recent').map((f) => f.toLowerCase()).sort().join(' ');
  return norm(a) === norm(b);
}

const of = (rs: Response[], type: string): Response[] => rs.filter((r) => r.type === type);

class Session {
  private readonly rnd: (n: number) => number;
  constructor(
    readonly c: ImapTestClient,
    readonly account: string,
    readonly box: string,
    readonly model: Model,
    seed: number,
  ) {
    this.rnd = rng(seed);
    c.strict = false; // violations are counted at the end, with the seed
    c.checker.listener = (e) => model.event(account, e);
  }

  private get other(): string {
    return this.box === 'INBOX' ? 'Archive' : 'INBOX';
  }

  private pickFlags(): string[] {
    const pool = ['\\Seen', '\\Flagged', '\\Answered', ...KEYWORDS];
    return pool.filter(() => this.rnd(3) === 0);
  }

  /** A known message (sequence number and UID), if any. */
  private pick(): { seq: number; uid: number } | undefined {
    const mb = this.c.checker.selected;
    if (!mb || mb.exists === 0) return undefined;
    const seq = 1 + this.rnd(mb.exists);
    const uid = mb.uidOf(seq);
    return uid === undefined ? undefined : { seq, uid };
  }

  private async run(cmd: string | Array<string | Buffer>): Promise<{ tagged: Response; untagged: Response[] }> {
    const r = await this.c.transact(null, cmd);
    this.model.ops++;
    if (r.tagged.type === 'BAD') this.model.problems.push(`BAD for ${String(Array.isArray(cmd) ? cmd[0] : cmd)}: ${r.tagged.raw}`);
    return r;
  }

  /** Learns the UIDs of messages announced by EXISTS (FETCH holds EXPUNGE back, RFC 9051 §7.5.1). */
  private async resolve(): Promise<void> {
    const mb = this.c.checker.selected!;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < mb.exists; i++) {
      if (mb.uids[i] !== undefined) continue;
      if (lo === 0) lo = i + 1;
      hi = i + 1;
    }
    if (lo > 0) await this.run(`FETCH ${lo}:${hi} (UID FLAGS MODSEQ)`);
  }

  private copied(code: string | undefined, to: string, move: boolean): void {
    const m = /^COPYUID \d+ (\S+) (\S+)$/.exec(code ?? '');
    if (!m) return;
    const from = expand(m[1]!);
    const dest = expand(m[2]!);
    from.forEach((u, i) => {
      const src = this.model.msgs.get(this.model.key(this.account, this.box, u));
      if (!src) return void this.model.problems.push(`COPYUID names unknown source UID ${u}`);
      this.model.created(this.model.key(this.account, to, dest[i]!), src.msgid, [], src);
      if (move) src.removed = true;
    });
  }

  /** The end: the last updates, and the UIDs of the last new messages. */
  async finish(): Promise<void> {
    await this.run('NOOP');
    await this.resolve();
  }

  async step(): Promise<void> {
    const r = this.rnd(100);
    const target = this.rnd(2) === 0 ? this.box : this.other;
    const p = this.pick();
    const uidCmd = this.rnd(2) === 0;
    if (r < 15) {
      const msgid = this.model.nextMsgid();
      const flags = this.pickFlags();
      const body = Buffer.from(`From: a@example.org\r\nSubject: soak\r\nMessage-ID: ${msgid}\r\n\r\n${'x'.repeat(this.rnd(2000))}\r\n`);
      const res = await this.run([`APPEND ${target} (${flags.join(' ')}) `, body]);
      const m = /^APPENDUID \d+ (\d+)$/.exec(res.tagged.code ?? '');
      if (res.tagged.type === 'OK') {
        if (!m) this.model.problems.push(`APPEND without APPENDUID: ${res.tagged.raw}`);
        else this.model.created(this.model.key(this.account, target, Number(m[1])), msgid, flags);
      }
    } else if (r < 35 && p) {
      const op = ['+', '-', ''][this.rnd(3)]!;
      await this.run(`${uidCmd ? `UID STORE ${p.uid}` : `STORE ${p.seq}`} ${op}FLAGS (${this.pickFlags().join(' ')})`);
    } else if (r < 43 && p) {
      await this.run(`UID STORE ${p.uid} +FLAGS (\\Deleted)`);
      await this.resolve();
      await this.run(this.rnd(2) === 0 ? `UID EXPUNGE ${p.uid}` : 'EXPUNGE');
    } else if (r < 51 && p) {
      const res = await this.run(uidCmd ? `UID COPY ${p.uid} ${this.other}` : `COPY ${p.seq} ${this.other}`);
      if (res.tagged.type === 'OK') this.copied(res.tagged.code, this.other, false);
    } else if (r < 57 && p) {
      const res = await this.run(uidCmd ? `UID MOVE ${p.uid} ${this.other}` : `MOVE ${p.seq} ${this.other}`);
      const code = of(res.untagged, 'OK').find((x) => /^COPYUID/.test(x.code ?? ''))?.code;
      if (res.tagged.type === 'OK') this.copied(code, this.other, true);
    } else if (r < 72) {
      // (1:* is BAD in an empty mailbox, as with Dovecot)
      const bySeq = this.rnd(2) === 0 && this.c.checker.selected!.exists > 0;
      await this.run(bySeq ? 'FETCH 1:* (UID FLAGS MODSEQ)' : 'UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])');
    } else if (r < 82) {
      const crit = ['ALL', 'UNSEEN', 'FLAGGED', `KEYWORD ${KEYWORDS[this.rnd(KEYWORDS.length)]}`, 'MODSEQ 1', 'DELETED'][this.rnd(6)]!;
      await this.run(`${uidCmd ? 'UID ' : ''}SEARCH ${this.rnd(2) === 0 ? 'RETURN (MIN MAX COUNT) ' : ''}${crit}`);
    } else if (r < 92) {
      await this.run('NOOP');
    } else {
      await this.idle(20 + this.rnd(150));
    }
    await this.resolve();
  }

  private async idle(ms: number): Promise<void> {
    const tag = this.c.nextTag();
    this.c.write(`${tag} IDLE\r\n`);
    await this.c.waitFor((x) => x.tag === '+', 5000);
    await this.c.drain(ms);
    this.c.write('DONE\r\n');
    await this.c.waitFor((x) => x.tag === tag, 5000);
    this.c.pending.length = 0; // checked by the checker as they came
    this.model.ops++;
  }
}

function expand(set: string): number[] {
  const out: number[] = [];
  for (const part of set.split(',')) {
    const [a, b] = part.split(':').map(Number) as [number, number | undefined];
    for (let i = Math.min(a, b ?? a); i <= Math.max(a, b ?? a); i++) out.push(i);
  }
  return out;
}

/** Compares one mailbox as a fresh session sees it with the model. */
async function verify(model: Model, account: string, box: string): Promise<number> {
  const c = await f.client(account, 'pw');
  await c.transact('ok', 'ENABLE CONDSTORE');
  await c.transact('ok', `EXAMINE ${box}`);
  const r = await c.transact('ok', 'UID FETCH 1:* (FLAGS MODSEQ BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])');
  const seen = new Set<number>();
  for (const x of of(r.untagged, 'FETCH')) {
    const a = fetchAttrs(x);
    const uid = a.UID as number;
    seen.add(uid);
    const k = model.key(account, box, uid);
    const m = model.msgs.get(k);
    const flags = (a.FLAGS as string[]).map(String);
    const modseq = (a.MODSEQ as number[])[0]!;
    const header = a['BODY[HEADER.FIELDS (MESSAGE-ID)]'];
    const msgid = /<[^>]+>/.exec(header === undefined || header === null ? '' : valueText(header))?.[0];
    if (!m) model.problems.push(`${k}: a message nobody created`);
    else if (m.removed) model.problems.push(`${k}: expunged or moved, yet still there`);
    else {
      if (msgid !== m.msgid) model.problems.push(`${k}: Message-ID ${msgid}, created as ${m.msgid}`);
      if (modseq < m.modseq) model.problems.push(`${k}: MODSEQ ${modseq} below one seen (${m.modseq})`);
      else if (modseq === m.modseq && !sameFlags(flags, m.flags)) model.problems.push(`${k}: flags (${flags.join(' ')}), last seen (${m.flags.join(' ')}) at the same MODSEQ`);
      else if (modseq > m.modseq && m.modseq > 0) model.problems.push(`${k}: flag change at MODSEQ ${modseq} that no session was told of (last seen ${m.modseq})`);
      else if (m.modseq === 0 && !m.copy && !sameFlags(flags, m.flags)) model.problems.push(`${k}: flags (${flags.join(' ')}) never seen, appended with (${m.flags.join(' ')})`);
    }
  }
  let count = 0;
  for (const [k, m] of model.msgs) {
    const [acc, b, uid] = k.split('|');
    if (acc !== account || b !== box) continue;
    if (!m.removed) count++;
    // Gone without an acknowledged removal: only a message once \Deleted may go (EXPUNGE).
    if (!seen.has(Number(uid)) && !m.removed && !m.deletedSeen) model.problems.push(`${k}: lost (never \\Deleted, never moved)`);
  }
  c.leftover();
  await c.close();
  return count;
}

it(`soak: ${SESSIONS} sessions on 2 accounts for ${SECONDS} s through the strict client (seed ${SEED})`, async () => {
  console.log(`IMAP soak seed ${SEED} (SOAK_SEED=${SEED} SOAK_SECONDS=${SECONDS} to repeat)`);
  const model = new Model();
  const sessions: Session[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const account = ACCOUNTS[i % 2]!;
    const box = BOXES[Math.floor(i / 2) % 5 < 3 ? 0 : 1]!;
    const c = await f.client(account, 'pw');
    if (i % 4 === 0) await c.transact('ok', 'ENABLE IMAP4rev2 CONDSTORE');
    else await c.transact('ok', 'ENABLE CONDSTORE');
    await c.transact('ok', `SELECT ${box}`);
    sessions.push(new Session(c, account, box, model, SEED + i));
  }
  const deadline = Date.now() + SECONDS * 1000;
  await Promise.all(
    sessions.map(async (s) => {
      while (Date.now() < deadline) await s.step();
    }),
  );
  for (const s of sessions) await s.finish();
  const violations = sessions.flatMap((s) => s.c.checker.violations);
  let messages = 0;
  for (const a of ACCOUNTS) for (const b of BOXES) messages += await verify(model, a, b);
  for (const s of sessions) await s.c.close();
  console.log(`IMAP soak: ${SESSIONS} sessions × ${SECONDS} s, ${model.ops} operations, ${violations.length} protocol violations, ${model.problems.length} model mismatches, ${messages} messages at the end (seed ${SEED})`);
  expect(violations, `seed ${SEED}`).toEqual([]);
  expect(model.problems, `seed ${SEED}`).toEqual([]);
}, (SECONDS + 60) * 1000);
