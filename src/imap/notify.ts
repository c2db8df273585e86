/**
 * NOTIFY (RFC 5465): the client names mailboxes and events, and the server tells it of
 * them as they happen, without IDLE or polling, including mailboxes it has not
 * selected (a phone watching INBOX and Archive over one connection).
 *
 *   notify = "NOTIFY" SP (notify-set / "NONE")
 *   notify-set = "SET" [SP "STATUS"] SP event-groups
 *   event-group = "(" filter-mailboxes SP events ")"
 *   filter-mailboxes = "SELECTED" / "SELECTED-DELAYED" / "INBOXES" / "PERSONAL" /
 *                      "SUBSCRIBED" / "SUBTREE" SP one-or-more-mailbox / "MAILBOXES" SP ...
 *   events = ( "(" event *(SP event) ")" ) / "NONE"
 *
 * What is sent (as Dovecot does):
 * - the selected mailbox, SELECTED: EXISTS, FETCH FLAGS and EXPUNGE (or VANISHED) as soon
 *   as no command is running; SELECTED-DELAYED: the same, expunges only where they are
 *   always allowed (NOOP, IDLE, the end of other commands: RFC 5465 §5.1). Without
 *   FlagChange, flag changes are not a reason to write, but ride along with the next
 *   EXISTS or EXPUNGE pushed (the view sends what it holds, in order);
 * - other mailboxes with MessageNew / MessageExpunge / FlagChange: `* STATUS name
 *   (MESSAGES UIDNEXT UIDVALIDITY UNSEEN [HIGHESTMODSEQ])`, one per mailbox per burst
 *   (§5.2–5.4); never for the selected mailbox;
 * - MailboxName: `* LIST` of a created mailbox, `\NonExistent` for a deleted one,
 *   `("OLDNAME" (old))` for a renamed one (§5.5, RFC 5258 §3.4).
 * INBOXES is taken as PERSONAL (Sieve may file into any mailbox). Not supported, so
 * `NO [BADEVENT ...]` (§6): SubscriptionChange, AnnotationChange and the METADATA
 * events, and fetch attributes after MessageNew. The first group that names a mailbox
 * decides its events (§6: "the first one ... that matches").
 */
import type { AccountId, MailboxId, StoreChange } from '../store/types.js';
import { parseFetchItems } from './commands/fetch/items.js';
import { ImapBad, ImapNo } from './errors.js';
import type { Encoder } from './wire/encoder.js';
import type { Parser } from './wire/parser.js';

export type NotifyEventName = 'MessageNew' | 'MessageExpunge' | 'FlagChange' | 'MailboxName';
const SUPPORTED: readonly NotifyEventName[] = ['MessageNew', 'MessageExpunge', 'FlagChange', 'MailboxName'];
const KNOWN = [...SUPPORTED, 'SubscriptionChange', 'AnnotationChange', 'MailboxMetadataChange', 'ServerMetadataChange'];

/** Mailbox names one NOTIFY may list (Dovecot's bound; NOTIFICATIONOVERFLOW past it). */
export const MAX_NOTIFY_NAMES = 100;

type Filter = { kind: 'personal' | 'subscribed' } | { kind: 'subtree' | 'mailboxes'; names: string[] };

export interface NotifySpec {
  /** Events for the selected mailbox; undefined: as without NOTIFY. */
  selected?: { events: Set<NotifyEventName>; delayed: boolean };
  groups: Array<{ filter: Filter; events: Set<NotifyEventName> }>;
  /** SET STATUS: a STATUS of every mailbox named now. */
  status: boolean;
}

/** After "NOTIFY ": NONE (undefined) or SET. */
export function parseNotify(p: Parser, mailbox: () => string): NotifySpec | undefined {
  if (p.tryTake('NONE')) {
    p.end();
    return undefined;
  }
  p.take('SET');
  const spec: NotifySpec = { groups: [], status: false };
  p.sp();
  if (p.tryTake('STATUS ')) spec.status = true;
  const unsupported = new Set<string>();
  let names = 0;
  do {
    p.take('(');
    const kind = p.atom().toUpperCase();
    let filter: Filter | undefined;
    if (kind === 'SUBTREE' || kind === 'MAILBOXES') {
      p.sp();
      const list: string[] = [];
      if (p.peek() === '(') p.parenList(() => list.push(mailbox()), false);
      else list.push(mailbox());
      names += list.length;
      filter = { kind: kind === 'SUBTREE' ? 'subtree' : 'mailboxes', names: list };
    } else if (kind === 'INBOXES' || kind === 'PERSONAL') filter = { kind: 'personal' };
    else if (kind === 'SUBSCRIBED') filter = { kind: 'subscribed' };
    else if (kind !== 'SELECTED' && kind !== 'SELECTED-DELAYED') throw new ImapBad(`Unknown NOTIFY filter ${kind}`);
    p.sp();
    const events = parseEvents(p, unsupported);
    p.take(')');
    if (filter) spec.groups.push({ filter, events });
    else {
      if (spec.selected) throw new ImapBad('SELECTED named twice');
      spec.selected = { events, delayed: kind === 'SELECTED-DELAYED' };
    }
    checkGroup(events);
  } while (p.trySp());
  p.end();
  // RFC 5465 §6: NO [BADEVENT (the events we support)].
  if (unsupported.size > 0) throw new ImapNo(`Unsupported NOTIFY events: ${[...unsupported].join(' ')}`, `BADEVENT (${SUPPORTED.join(' ')})`);
  if (names > MAX_NOTIFY_NAMES) throw new ImapNo('Too many mailbox names', 'NOTIFICATIONOVERFLOW');
  return spec;
}

function parseEvents(p: Parser, unsupported: Set<string>): Set<NotifyEventName> {
  const events = new Set<NotifyEventName>();
  if (p.tryTake('NONE')) return events;
  p.take('(');
  do {
    const name = p.atom();
    const known = KNOWN.find((k) => k.toLowerCase() === name.toLowerCase());
    if (!known) throw new ImapBad(`Unknown NOTIFY event ${name}`);
    if ((SUPPORTED as readonly string[]).includes(known)) events.add(known as NotifyEventName);
    else unsupported.add(known);
    if (known === 'MessageNew' && p.rest().startsWith(' (')) {
      // fetch-att after MessageNew (§5.2): parsed, not supported (BADEVENT's text says so).
      p.sp();
      parseFetchItems(p);
      unsupported.add('MessageNew (fetch-att)');
    }
  } while (p.trySp());
  p.take(')');
  return events;
}

/** §5.2–5.4: MessageNew and MessageExpunge together; FlagChange needs them. */
function checkGroup(ev: Set<NotifyEventName>): void {
  if (ev.has('MessageNew') !== ev.has('MessageExpunge')) throw new ImapBad('MessageNew and MessageExpunge must be given together');
  if (ev.has('FlagChange') && !ev.has('MessageNew')) throw new ImapBad('FlagChange needs MessageNew and MessageExpunge');
}

/** What a session with NOTIFY set does with the account's changes. */
export interface NotifyHost {
  readonly account: AccountId;
  /** The selected mailbox's id, if any. */
  selectedId(): MailboxId | undefined;
  listMailboxes(): Promise<Array<{ id: MailboxId; name: string; subscribed: boolean }>>;
  /** Writes a STATUS of the mailbox (with HIGHESTMODSEQ when asked). */
  status(name: string, enc: Encoder, modseq: boolean): Promise<void>;
  encoder(): Encoder;
}

export class Notifier {
  private dirty = new Set<MailboxId>();
  private names: Array<{ kind: 'added' | 'removed' | 'renamed'; name: string; from?: string }> = [];
  /** The last STATUS told per mailbox: a change already counted in it is not told twice. */
  private told = new Map<MailboxId, string>();

  constructor(readonly spec: NotifySpec) {}

  /** The events that apply to a mailbox (first matching group), none if no group names it. */
  eventsFor(name: string, subscribed: boolean): Set<NotifyEventName> | undefined {
    for (const g of this.spec.groups) if (matches(g.filter, name, subscribed)) return g.events;
    return undefined;
  }

  get selected(): NotifySpec['selected'] {
    return this.spec.selected;
  }

  /** Remembers a change for the next flush; true if it may produce output. */
  note(c: StoreChange, selectedId: MailboxId | undefined): boolean {
    switch (c.kind) {
      case 'added':
      case 'expunged':
      case 'flags':
        if (c.mailboxId === selectedId) return false; // the selected view handles it
        this.dirty.add(c.mailboxId);
        return true;
      case 'mailboxAdded':
        this.names.push({ kind: 'added', name: c.name });
        return true;
      case 'mailboxRemoved':
        this.names.push({ kind: 'removed', name: c.name });
        return true;
      case 'mailboxRenamed':
        this.names.push({ kind: 'renamed', name: c.to, from: c.from });
        return true;
    }
  }

  get pending(): boolean {
    return this.dirty.size > 0 || this.names.length > 0;
  }

  /** The responses for what happened since the last flush. */
  async flush(host: NotifyHost, enc: Encoder): Promise<void> {
    const dirty = this.dirty;
    const names = this.names;
    this.dirty = new Set();
    this.names = [];
    if (dirty.size === 0 && names.length === 0) return;
    const boxes = await host.listMailboxes();
    const subscribed = new Set(boxes.filter((b) => b.subscribed).map((b) => b.name));
    for (const n of names) {
      const ev = this.eventsFor(n.name, subscribed.has(n.name)) ?? (n.from !== undefined ? this.eventsFor(n.from, false) : undefined);
      if (!ev?.has('MailboxName')) continue;
      // RFC 5258 §3.4 / RFC 5465 §5.5: \NonExistent for a deleted name, OLDNAME for a renamed one.
      enc.raw(`* LIST (${n.kind === 'removed' ? '\\NonExistent' : ''}) "/" `).mailbox(n.name);
      if (n.from !== undefined) enc.raw(' ("OLDNAME" (').mailbox(n.from).raw('))');
      enc.raw('\r\n');
    }
    const selected = host.selectedId();
    for (const b of boxes) {
      if (!dirty.has(b.id) || b.id === selected) continue;
      const ev = this.eventsFor(b.name, b.subscribed);
      if (!ev || !(ev.has('MessageNew') || ev.has('FlagChange'))) continue;
      const one = host.encoder();
      await host.status(b.name, one, ev.has('FlagChange'));
      const chunks = one.done();
      // A STATUS is text (the encoder's string chunks); anything else is written as it is.
      const line = chunks.every((c) => typeof c === 'string') ? chunks.join('') : undefined;
      if (line === undefined) {
        await host.status(b.name, enc, ev.has('FlagChange'));
        continue;
      }
      if (this.told.get(b.id) === line) continue;
      this.told.set(b.id, line);
      enc.raw(line);
    }
  }

  /** SET STATUS (§3): a STATUS of every mailbox the groups name, but the selected one. */
  async initialStatus(host: NotifyHost, enc: Encoder): Promise<void> {
    const selected = host.selectedId();
    for (const b of await host.listMailboxes()) {
      if (b.id === selected) continue;
      const ev = this.eventsFor(b.name, b.subscribed);
      if (ev && ev.has('MessageNew')) await host.status(b.name, enc, ev.has('FlagChange'));
    }
  }
}

function matches(f: Filter, name: string, subscribed: boolean): boolean {
  switch (f.kind) {
    case 'personal':
      return true;
    case 'subscribed':
      return subscribed;
    case 'mailboxes':
      return f.names.some((n) => sameName(n, name));
    case 'subtree':
      return f.names.some((n) => sameName(n, name) || sameName(n, name.slice(0, n.length)) && name[n.length] === '/');
  }
}

/** INBOX in any case is INBOX (RFC 9051 §5.1); other names are compared exactly. */
function sameName(a: string, b: string): boolean {
  return a === b || (a.toUpperCase() === 'INBOX' && b.toUpperCase() === 'INBOX');
}
