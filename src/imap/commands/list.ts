// LIST — RFC 9051 §6.3.9, LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154, CHILDREN
// RFC 3348, LIST-STATUS RFC 5819; LSUB — RFC 3501 §6.3.9.
// list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]
// Wildcards: "*" matches anything, "%" anything but the delimiter "/" (RFC 9051 §6.3.9).
import type { MailboxInfo } from '../../store/types.js';
import { ImapBad } from '../errors.js';
import { accountOf } from './helpers.js';
import { parseStatusItems, statusResponse } from './status.js';
import { AUTH_OR_SELECTED, type CommandContext, type CommandSpec } from './types.js';
import type { Parser } from '../wire/parser.js';

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

function patternRegex(pattern: string): RegExp {
  let re = '';
  for (const ch of pattern) {
    if (ch === '*') re += '.*';
    else if (ch === '%') re += '[^/]*';
    else re += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'su');
}

function matches(re: RegExp, name: string): boolean {
  if (re.test(name)) return true;
  // INBOX is case-insensitive (RFC 9051 §5.1), including as a hierarchy prefix.
  if (/^inbox(\/|$)/i.test(name)) return false;
  return false;
}

function inboxAware(pattern: string): string {
  return /^inbox(\/|$)/i.test(pattern) ? 'INBOX' + pattern.slice(5) : pattern;
}

function parsePatterns(p: Parser): string[] {
  const pats: string[] = [];
  if (p.peek() === '(') {
    p.parenList(() => pats.push(p.decodeMailbox(p.listMailbox())), false);
  } else {
    pats.push(p.decodeMailbox(p.listMailbox()));
  }
  return pats;
}

async function runList(c: CommandContext, p: Parser, lsub: boolean): Promise<void> {
  const o: ListOptions = {
    subscribedOnly: lsub,
    recursiveMatch: false,
    specialUseOnly: false,
    retSubscribed: false,
    retChildren: true,
    retSpecialUse: true,
    lsub,
    extended: false,
  };
  p.sp();
  if (!lsub && p.peek() === '(') {
    o.extended = true;
    p.parenList(() => {
      const s = p.atom().toUpperCase();
      if (s === 'SUBSCRIBED') o.subscribedOnly = o.retSubscribed = true;
      else if (s === 'RECURSIVEMATCH') o.recursiveMatch = true;
      else if (s === 'SPECIAL-USE') o.specialUseOnly = true;
      else if (s === 'REMOTE') {
        /* no remote mailboxes */
      } else throw new ImapBad(`Unknown selection option ${s}`);
    });
    if (o.recursiveMatch && !o.subscribedOnly) throw new ImapBad('RECURSIVEMATCH needs another selection option'); // RFC 5258 §3.1
    p.sp();
  }
  const ref = p.decodeMailbox(p.astring());
  p.sp();
  const rawPatterns = parsePatterns(p);
  if (!lsub && p.trySp()) {
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
  p.end();
  const conn = c.conn;
  const account = accountOf(c);
  const kind = lsub ? 'LSUB' : 'LIST';
  const enc = conn.encoder();
  // RFC 9051 §6.3.9: an empty pattern asks for the delimiter and root.
  if (rawPatterns.length === 1 && rawPatterns[0] === '' && !o.extended) {
    enc.raw(`* ${kind} (\\Noselect) "/" ""\r\n`);
    await conn.send(enc);
    return;
  }
  const boxes = await conn.ctx.store.listMailboxes(account);
  const byName = new Map<string, MailboxInfo>(boxes.map((b) => [b.name, b]));
  // Every name and its implied parents (which may not exist).
  const all = new Set<string>();
  for (const b of boxes) {
    const parts = b.name.split('/');
    for (let i = 1; i <= parts.length; i++) all.add(parts.slice(0, i).join('/'));
  }
  const hasChildren = (name: string): boolean => {
    for (const n of all) if (n.startsWith(name + '/')) return true;
    return false;
  };
  const res = rawPatterns.filter((x) => x !== '').map((pat) => patternRegex(inboxAware(ref + pat)));
  const names = [...all].sort((a, b) => (a === 'INBOX' ? -1 : b === 'INBOX' ? 1 : a < b ? -1 : a > b ? 1 : 0));
  const out: Array<{ name: string; attrs: string[]; childInfo?: boolean; info?: MailboxInfo }> = [];
  for (const name of names) {
    if (!res.some((r) => matches(r, name))) continue;
    const info = byName.get(name);
    const attrs: string[] = [];
    if (!info) {
      if (o.subscribedOnly) {
        // RFC 5258 §3.5: parents of subscribed mailboxes with RECURSIVEMATCH get CHILDINFO.
        if (o.recursiveMatch && boxes.some((b) => b.subscribed && b.name.startsWith(name + '/'))) out.push({ name, attrs: ['\\NonExistent'], childInfo: true });
        continue;
      }
      attrs.push(o.extended || conn.rev2 ? '\\NonExistent' : '\\Noselect');
    } else {
      if (o.subscribedOnly && !info.subscribed) {
        if (o.recursiveMatch && boxes.some((b) => b.subscribed && b.name.startsWith(name + '/'))) out.push({ name, attrs: [], childInfo: true, info });
        continue;
      }
      if (o.specialUseOnly && !info.specialUse) continue;
      if ((o.retSubscribed || o.lsub || o.subscribedOnly) && info.subscribed && !o.lsub) attrs.push('\\Subscribed');
      if (o.retSpecialUse && info.specialUse && !o.lsub) attrs.push(info.specialUse);
    }
    if (o.retChildren && !o.lsub) attrs.push(hasChildren(name) ? '\\HasChildren' : '\\HasNoChildren');
    out.push({ name, attrs, info });
  }
  for (const e of out) {
    // * LIST (\HasNoChildren) "/" "INBOX"
    enc.raw(`* ${kind} (${e.attrs.join(' ')}) "/" `).mailbox(e.name);
    if (e.childInfo) enc.raw(' ("CHILDINFO" ("SUBSCRIBED"))');
    enc.crlf();
    if (o.retStatus && e.info && !e.attrs.includes('\\NonExistent')) await statusResponse(conn, account, e.info, o.retStatus, enc); // RFC 5819
  }
  await conn.send(enc);
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
