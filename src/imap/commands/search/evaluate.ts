/**
 * SEARCH evaluation (RFC 9051 §6.4.4): what each message is tested against, at a cost
 * that does not grow with the number of keys times the mailbox (issue 14):
 * - keys answered from the index (flags, sizes, dates, UIDs, modseq, and FROM/TO/CC/
 *   BCC/SUBJECT from the envelope cached at delivery) decide first; content is read only
 *   for a message they leave undecided (three-valued evaluation);
 * - content is then read once per message whatever the number of keys: a message up to
 *   SEARCH_BUFFER is read whole into memory and every BODY, TEXT and HEADER key looks at
 *   that copy; a larger one is read in at most one pass per kind (BODY, TEXT, header);
 *   all BODY needles are matched in one decoding pass (mime/search.ts matchesTexts), so
 *   are all TEXT needles;
 * - the scan yields to the event loop every YIELD_MS, so a long SEARCH does not stall
 *   other connections (DESIGN.md "One event loop serves everyone").
 */
import { Readable } from 'node:stream';
import { StoreError, type MailboxId, type MailStore, type MessageMeta, type Uid } from '../../../store/types.js';
import { addressText, type Envelope } from '../../mime/index.js';
import { headerBlockOf, headerText, matchTexts, messageBytes, searchHeader, sentDayOf, type MessageBytes } from '../../mime-adapter.js';
import { SelectedView } from '../../session.js';
import type { Criterion } from './criteria.js';
import type { IndexAnswers } from './to-store.js';

/** Messages up to this size are read whole once per SEARCH; larger ones by ranges. */
export const SEARCH_BUFFER = 1024 * 1024;
/** Longest stretch of work between two yields to other connections. */
export const YIELD_MS = 10;

export interface MessageCtx {
  meta: MessageMeta;
  /** This session's \Recent (RFC 3501 §2.3.2). */
  recent: boolean;
  seq: number;
  maxSeq: number;
  maxUid: number;
  facts?: Facts;
  /** The full-text index's answers (to-store.ts askIndex): decide BODY/TEXT/header keys without reading. */
  index?: IndexAnswers;
}

/** What the content keys found in one message. */
interface Facts {
  body: Map<string, boolean>;
  text: Map<string, boolean>;
  header?: Buffer;
  /** The Date header's day (ms), undefined when absent or invalid. */
  sentDay?: number;
}

/** The content one SEARCH needs: distinct needles per kind. */
export interface ContentPlan {
  body: string[];
  text: string[];
  header: boolean;
  sent: boolean;
}

const ENVELOPE_FIELDS = new Set(['subject', 'from', 'to', 'cc', 'bcc']);

export function contentPlan(c: Criterion): ContentPlan {
  const body = new Set<string>();
  const text = new Set<string>();
  const plan: ContentPlan = { body: [], text: [], header: false, sent: false };
  const walk = (x: Criterion): void => {
    if (x.k === 'body') body.add(x.value);
    else if (x.k === 'text') text.add(x.value);
    else if (x.k === 'header' && !ENVELOPE_FIELDS.has(x.field)) plan.header = true;
    else if (x.k === 'date' && x.which === 'sent') plan.sent = true;
    else if (x.k === 'not') walk(x.c);
    else if (x.k === 'or') {
      walk(x.a);
      walk(x.b);
    }
    else if (x.k === 'and') x.cs.forEach(walk);
  };
  walk(c);
  plan.body = [...body];
  plan.text = [...text];
  return plan;
}

function dayOf(d: Date): number {
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
}


/** Header values from the envelope cached at delivery, without reading the file. */
function fromEnvelope(meta: MessageMeta, field: string): string[] | undefined {
  const env = meta.envelope as Envelope | undefined;
  if (!env || !ENVELOPE_FIELDS.has(field)) return undefined;
  switch (field) {
    case 'subject':
      return env.subject === null ? [] : [env.subject];
    case 'from':
      return addressText(env.from);
    case 'to':
      return addressText(env.to);
    case 'cc':
      return addressText(env.cc);
    default:
      return addressText(env.bcc);
  }
}

function compareDay(day: number, c: { op: 'before' | 'on' | 'since'; day: Date }): boolean {
  const want = c.day.getTime();
  return c.op === 'before' ? day < want : c.op === 'on' ? day === want : day >= want;
}

/** Header keys: the cached envelope, else the header block (facts); undefined while unread. */
function headerKey(c: Extract<Criterion, { k: 'header' }>, x: MessageCtx): boolean | undefined {
  const values = fromEnvelope(x.meta, c.field);
  if (values) {
    const needle = c.value.toLowerCase();
    if (needle === '') return values.length > 0; // RFC 9051: an empty string matches all with the field
    return values.some((v) => headerText(v).toLowerCase().includes(needle));
  }
  if (!x.facts) return undefined;
  return searchHeader(x.facts.header ?? Buffer.alloc(0), c.field, c.value);
}

/**
 * Three-valued: true, false, or undefined when the answer needs content not read yet
 * (x.facts absent). With facts, always true or false.
 */
export function evaluate(c: Criterion, x: MessageCtx): boolean | undefined {
  const m = x.meta;
  const known = x.index?.get(c);
  if (known) {
    if (known.hits.has(m.uid)) return true;
    if (!known.unsure.has(m.uid)) return false;
  }
  switch (c.k) {
    case 'all':
      return true;
    case 'flag': {
      const want = c.flag.toLowerCase();
      let has = false;
      for (const f of m.flags) if (f === c.flag || f.toLowerCase() === want) has = true;
      return has === c.set;
    }
    // RFC 3501 §6.4.4: NEW = RECENT UNSEEN, OLD = NOT RECENT.
    case 'recent':
      return x.recent;
    case 'old':
      return !x.recent;
    case 'new':
      return x.recent && !m.flags.includes('\\Seen');
    case 'seq':
      return SelectedView.inSet(c.set, x.seq, x.maxSeq);
    case 'uid':
      return SelectedView.inSet(c.set, m.uid, x.maxUid);
    case 'size':
      return c.op === 'larger' ? m.size > c.n : m.size < c.n;
    case 'modseq':
      return m.modseq >= c.n;
    case 'emailid': // RFC 8474 §6
      return m.emailId === c.id;
    case 'age': // WITHIN, RFC 5032 §2
      return c.op === 'older' ? m.internalDate.getTime() <= c.at : m.internalDate.getTime() > c.at;
    case 'date':
      // SENT*: the Date header's own calendar day; without one, INTERNALDATE (as Dovecot).
      if (c.which === 'internal') return compareDay(dayOf(m.internalDate), c);
      if (c.which === 'saved') return compareDay(dayOf(m.saveDate ?? m.internalDate), c); // RFC 8514 §4
      if (!x.facts) return undefined;
      return compareDay(x.facts.sentDay ?? dayOf(m.internalDate), c);
    case 'header':
      return headerKey(c, x);
    case 'body':
      return x.facts ? x.facts.body.get(c.value) === true : undefined;
    case 'text':
      return x.facts ? x.facts.text.get(c.value) === true : undefined;
    case 'not': {
      const v = evaluate(c.c, x);
      return v === undefined ? undefined : !v;
    }
    case 'or': {
      const a = evaluate(c.a, x);
      if (a === true) return true;
      const b = evaluate(c.b, x);
      if (b === true) return true;
      return a === false && b === false ? false : undefined;
    }
    case 'and': {
      let unknown = false;
      for (const s of c.cs) {
        const v = evaluate(s, x);
        if (v === false) return false;
        if (v === undefined) unknown = true;
      }
      return unknown ? undefined : true;
    }
  }
}

/** The message's bytes for one SEARCH: one read into memory when small, ranges otherwise. */
async function bytesOnce(store: MailStore, account: string, mailboxId: MailboxId, uid: Uid, size: number): Promise<MessageBytes> {
  if (size > SEARCH_BUFFER) return messageBytes(store, account, mailboxId, uid);
  const { stream } = await store.readMessage(account, mailboxId, uid);
  const chunks: Buffer[] = [];
  try {
    for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  } finally {
    stream.destroy();
  }
  const buf = Buffer.concat(chunks);
  return {
    open: async () => ({ stream: Readable.from([buf]), size: buf.length }),
    read: (start, end) => Readable.from([buf.subarray(Math.min(start, buf.length), Math.min(end, buf.length))]),
  };
}

/** Reads what the plan needs from one message (at most once per kind, see above). */
export async function loadFacts(plan: ContentPlan, x: MessageCtx, store: MailStore, account: string, mailboxId: MailboxId): Promise<Facts> {
  const meta = x.meta;
  const src = await bytesOnce(store, account, mailboxId, meta.uid, meta.size);
  const facts: Facts = { body: new Map(), text: new Map() };
  const fill = async (where: 'BODY' | 'TEXT', needles: string[], into: Map<string, boolean>): Promise<void> => {
    if (needles.length === 0) return;
    const found = await matchTexts(meta, src, where, needles);
    needles.forEach((n, i) => into.set(n, found[i] === true));
  };
  await fill('BODY', plan.body, facts.body);
  await fill('TEXT', plan.text, facts.text);
  // FROM/TO/CC/BCC/SUBJECT of a message without a cached envelope need the header too.
  if (plan.header || !meta.envelope) facts.header = await headerBlockOf(meta, src);
  if (plan.sent) facts.sentDay = (await sentDayOf(meta, src))?.getTime();
  return facts;
}

/** Runs `fn` over the messages, yielding to other connections every YIELD_MS. */
export async function scan<T>(items: readonly T[], fn: (item: T) => Promise<void> | void): Promise<void> {
  let since = performance.now();
  for (const item of items) {
    await fn(item);
    if (performance.now() - since > YIELD_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      since = performance.now();
    }
  }
}

/** True when the message matches; a message expunged meanwhile matches nothing. */
export async function matches(crit: Criterion, plan: ContentPlan, x: MessageCtx, store: MailStore, account: string, mailboxId: MailboxId): Promise<boolean> {
  const first = evaluate(crit, x);
  if (first !== undefined) return first;
  try {
    x.facts = await loadFacts(plan, x, store, account, mailboxId);
  } catch (err) {
    if (err instanceof StoreError && err.kind === 'nonexistent') return false;
    throw err;
  }
  return evaluate(crit, x) === true;
}
