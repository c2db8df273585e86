// LIST — RFC 9051 §6.3.9, LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154, CHILDREN
// RFC 3348, LIST-STATUS RFC 5819; LSUB — RFC 3501 §6.3.9.
// list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
// Wildcards: "*" matches anything, "%" anything but the delimiter "/" (list-match.ts,
// a linear glob walk with a step budget per command).
//
// Subscriptions are names, not mailboxes (RFC 3501 §6.3.6: a deleted mailbox stays
// subscribed): LIST (SUBSCRIBED) returns them with \NonExistent when the mailbox is gone
// (RFC 5258 §3.1), LSUB returns them too.
import type { MailboxInfo } from '../../store/types.js';
import { ImapBad, ImapNo } from '../errors.js';
import type { Parser } from '../wire/parser.js';
import { accountOf } from './helpers.js';
import { compilePattern, ListBudget, matchPattern, type ListPattern } from './list-match.js';
import { parseStatusItems, statusResponse } from './status.js';
import { AUTH_OR_SELECTED, type CommandContext, type CommandSpec } from './types.js';

/** Matching steps one LIST may spend (about 20 ms of CPU); beyond: NO [LIMIT]. */
export const LIST_STEP_BUDGET = 5_000_000;

interface ListOptions {
  subscribedOnly: boolean;
  recursiveMatch: boolean;
  specialUseOnly: boolean;
  retSubscribed: boolean;
  retChildren: boolean;
  retSpecialUse: boolean;
  retStatus?: string[];
  lsub: boolean;
  extended: boolean;
}

interface Entry {
  name: string;
  attrs: string[];
  childInfo?: boolean;
  info?: MailboxInfo;
}

/** Patterns as given; one that is not valid modified UTF-7 matches nothing (Dovecot answers OK). */
function parsePatterns(p: Parser): Array<string | undefined> {
  const pats: Array<string | undefined> = [];
  const one = (): void => {
    const raw = p.listMailbox();
    try {
      pats.push(p.decodeMailbox(raw));
    } catch (e) {
      if (!(e instanceof ImapNo)) throw e;
      pats.push(undefined);
    }
  };
  if (p.peek() === '(') p.parenList(one, false);
  else one();
  return pats;
}

function parseOptions(p: Parser, o: ListOptions): void {
  // list-select-opts (RFC 5258 §3.1)
  if (!o.lsub && p.peek() === '(') {
    o.extended = true;
    p.parenList(() => {
      const s = p.atom().toUpperCase();
      if (s === 'SUBSCRIBED') o.subscribedOnly = o.retSubscribed = true;
      else if (s === 'RECURSIVEMATCH') o.recursiveMatch = true;
      else if (s === 'SPECIAL-USE') o.specialUseOnly = true; // RFC 6154 §3
      else if (s !== 'REMOTE') throw new ImapBad(`Unknown selection option ${s}`); // no remote mailboxes
    });
    if (o.recursiveMatch && !o.subscribedOnly && !o.specialUseOnly) throw new ImapBad('RECURSIVEMATCH needs another selection option'); // RFC 5258 §3.1
    p.sp();
  }
}

function parseReturn(p: Parser, o: ListOptions): void {
  // list-return-opts (RFC 5258 §3.2, RFC 5819, RFC 6154)
  p.take('RETURN');
  p.sp();
  o.extended = true;
  p.parenList(() => {
    const r = p.atom().toUpperCase();
    if (r === 'SUBSCRIBED') o.retSubscribed = true;
    else if (r === 'CHILDREN') o.retChildren = true;
    else if (r === 'SPECIAL-USE') o.retSpecialUse = true;
    else if (r === 'STATUS') {
      p.sp();
      o.retStatus = parseStatusItems(p);
    } else throw new ImapBad(`Unknown return option ${r}`);
  });
}

async function runList(c: CommandContext, p: Parser, lsub: boolean): Promise<void> {
  const o: ListOptions = {
    subscribedOnly: lsub,
    recursiveMatch: false,
    specialUseOnly: false,
    retSubscribed: false,
    retChildren: true, // CHILDREN (RFC 3348): given whether asked or not (RFC 5258 §4 allows it)
    retSpecialUse: true,
    lsub,
    extended: false,
  };
  p.sp();
  parseOptions(p, o);
  const refRaw = p.astring();
  p.sp();
  const rawPatterns = parsePatterns(p);
  if (!lsub && p.trySp()) parseReturn(p, o);
  p.end();
  const conn = c.conn;
  const kind = lsub ? 'LSUB' : 'LIST';
  let ref = '';
  try {
    ref = p.decodeMailbox(refRaw);
  } catch (e) {
    if (!(e instanceof ImapNo)) throw e;
    return; // a reference that is no valid name: nothing matches
  }
  // RFC 9051 §6.3.9: an empty pattern asks for the delimiter and root.
  if (rawPatterns.length === 1 && rawPatterns[0] === '' && !o.extended) {
    await conn.write([`* ${kind} (\\Noselect) "/" ""\r\n`]);
    return;
  }
  const patterns = rawPatterns.filter((x): x is string => x !== undefined && x !== '').map((pat) => compilePattern(ref + pat));
  if (patterns.length === 0) return;
  const account = accountOf(c);
  const store = conn.ctx.store;
  const boxes = await store.listMailboxes(account);
  const subscribed = new Set(await store.listSubscriptions(account));
  const entries = collect(o, conn.rev2, patterns, boxes, subscribed);
  const enc = conn.encoder();
  for (const e of entries) {
    // * LIST (\HasNoChildren) "/" INBOX
    enc.raw(`* ${kind} (${e.attrs.join(' ')}) "/" `).mailbox(e.name);
    if (e.childInfo) enc.raw(' ("CHILDINFO" ("SUBSCRIBED"))'); // RFC 5258 §3.5
    enc.crlf();
    if (o.retStatus && e.info && !e.attrs.includes('\\NonExistent')) await statusResponse(conn, account, e.info, o.retStatus, enc); // RFC 5819
  }
  await conn.send(enc);
}

interface Tree {
  o: ListOptions;
  rev2: boolean;
  patterns: ListPattern[];
  byName: Map<string, MailboxInfo>;
  subscribed: Set<string>;
  /** Names with existing inferiors. */
  withChildren: Set<string>;
  /** Names with subscribed inferiors. */
  withSubscribedChildren: Set<string>;
}

/** The LIST/LSUB entries, in name order with INBOX first. */
function collect(o: ListOptions, rev2: boolean, patterns: ListPattern[], boxes: MailboxInfo[], subscribed: Set<string>): Entry[] {
  const t: Tree = { o, rev2, patterns, byName: new Map(boxes.map((b) => [b.name, b])), subscribed, withChildren: new Set(), withSubscribedChildren: new Set() };
  for (const b of boxes) for (const q of parents(b.name)) t.withChildren.add(q);
  for (const s of subscribed) for (const q of parents(s)) t.withSubscribedChildren.add(q);
  // Candidates: every existing name and its parents; subscribed names (LSUB, SUBSCRIBED).
  const names = new Set<string>(t.withChildren);
  for (const b of boxes) names.add(b.name);
  if (o.subscribedOnly) for (const s of [...subscribed, ...t.withSubscribedChildren]) names.add(s);
  const sorted = [...names].sort((a, b) => (a === 'INBOX' ? -1 : b === 'INBOX' ? 1 : a < b ? -1 : a > b ? 1 : 0));

  const budget = new ListBudget(LIST_STEP_BUDGET);
  const out: Entry[] = [];
  for (const name of sorted) {
    const matched = patterns.some((pat) => matchPattern(pat, name, budget));
    if (budget.exhausted) throw new ImapNo('Pattern too complex for this many mailboxes', 'LIMIT');
    if (!matched) continue;
    const e = entry(t, name);
    if (e) out.push(e);
  }
  return out;
}

function entry(t: Tree, name: string): Entry | undefined {
  const { o } = t;
  const info = t.byName.get(name);
  const isSubscribed = t.subscribed.has(name);
  const attrs: string[] = [];
  if (o.lsub) {
    if (isSubscribed) return { name, attrs };
    // RFC 3501 §6.3.9: "foo/bar" subscribed, "foo" not: LSUB "%" returns foo with \Noselect.
    return t.withSubscribedChildren.has(name) && t.patterns.some((p) => p.text.endsWith('%')) ? { name, attrs: ['\\Noselect'] } : undefined;
  }
  const children = o.retChildren ? [t.withChildren.has(name) ? '\\HasChildren' : '\\HasNoChildren'] : []; // RFC 5258 §4
  if (o.subscribedOnly && !isSubscribed) {
    // RFC 5258 §3.1 RECURSIVEMATCH: a parent that matches the pattern but not the
    // selection, with subscribed inferiors, comes with CHILDINFO (§3.5).
    if (!o.recursiveMatch || !t.withSubscribedChildren.has(name)) return undefined;
    return { name, attrs: info ? children : ['\\NonExistent'], childInfo: true, ...(info ? { info } : {}) };
  }
  if (o.specialUseOnly && !info?.specialUse) return undefined;
  // RFC 5258 §3.4: \NonExistent (implies \Noselect) in extended LIST and IMAP4rev2.
  if (!info) attrs.push(o.extended || t.rev2 ? '\\NonExistent' : '\\Noselect');
  if (o.retSubscribed && isSubscribed) attrs.push('\\Subscribed');
  if (o.retSpecialUse && info?.specialUse) attrs.push(info.specialUse);
  attrs.push(...children);
  return { name, attrs, ...(info ? { info } : {}) };
}

/** "a/b/c" → "a", "a/b". */
function parents(name: string): string[] {
  const out: string[] = [];
  for (let i = name.indexOf('/'); i > 0; i = name.indexOf('/', i + 1)) out.push(name.slice(0, i));
  return out;
}

export const list: CommandSpec = {
  name: 'LIST',
  states: AUTH_OR_SELECTED,
  handle: (c, p) => runList(c, p, false),
};

export const lsub: CommandSpec = {
  name: 'LSUB',
  states: AUTH_OR_SELECTED,
  handle: (c, p) => runList(c, p, true),
};
