/**
 * The result of a script run: the actions it asked for, collected while it runs and
 * executed only after it ends (RFC 5228 §2.10), with the rules for combining them.
 * Where the RFCs leave a choice, the rules are Pigeonhole's (checked by the differential
 * corpus in test/fixtures/sieve):
 *
 * - Implicit keep (§2.10.2): kept unless a fileinto, keep, redirect (without :copy,
 *   RFC 3894), discard or reject cancels it; it stores into INBOX with the flags the
 *   internal variable holds when the script ends (RFC 5232 §3).
 * - Duplicates (§2.10.3, §4.2): storing twice into one mailbox stores once, with the
 *   flags of the last such action; redirecting twice to one address redirects once.
 * - Conflicts (RFC 5429 §2.1): reject/ereject cannot be combined with keep, fileinto,
 *   redirect or vacation, nor with another reject; a second vacation is an error
 *   (RFC 5230 §4.7). A conflict is a runtime error: the run fails, nothing of it is
 *   executed, and the message is kept (§2.10.6).
 * - At most `maxRedirects` distinct redirects (Pigeonhole's sieve_max_redirects = 4)
 *   and `maxActions` actions per run.
 */
import { SieveRuntimeError, type Position } from './errors.js';

export interface StoreAction {
  type: 'store';
  mailbox: string;
  flags?: string[];
  /** RFC 5490 §3.2 fileinto :create. */
  create: boolean;
  /** RFC 3894 :copy (keeps the implicit keep). */
  copy: boolean;
  pos?: Position;
}

export interface RedirectAction {
  type: 'redirect';
  address: string;
  copy: boolean;
  pos?: Position;
}

export interface DiscardAction {
  type: 'discard';
  pos?: Position;
}

export interface RejectAction {
  type: 'reject';
  reason: string;
  /** RFC 5429 ereject: refuse at the protocol level only. */
  ereject: boolean;
  pos?: Position;
}

/** RFC 5230 vacation, with the defaults applied. */
export interface VacationAction {
  type: 'vacation';
  reason: string;
  /** :days (or :seconds) as seconds. */
  seconds: number;
  subject?: string;
  from?: string;
  addresses: string[];
  mime: boolean;
  /** :handle, or the default: reason + subject + from + mime (Pigeonhole's). */
  handle: string;
  pos?: Position;
}

export type Action = StoreAction | RedirectAction | DiscardAction | RejectAction | VacationAction;

export interface ResultLimits {
  maxRedirects: number;
  maxActions: number;
}

export const DEFAULT_RESULT_LIMITS: ResultLimits = { maxRedirects: 4, maxActions: 32 };

export class Result {
  readonly actions: Action[] = [];
  implicitKeep = true;

  constructor(private readonly limits: ResultLimits = DEFAULT_RESULT_LIMITS) {}

  add(a: Action): void {
    const where = (p?: Position) => (p ? ` (line ${p.line})` : '');
    const reject = this.actions.find((x): x is RejectAction => x.type === 'reject');
    if (a.type === 'reject') {
      if (reject) throw new SieveRuntimeError(`duplicate reject/ereject action not allowed${where(reject.pos)}`, a.pos);
      const other = this.actions.find((x) => x.type === 'store' || x.type === 'redirect' || x.type === 'vacation');
      if (other) throw new SieveRuntimeError(`reject/ereject action conflicts with the ${other.type === 'store' ? 'store' : other.type} action${where(other.pos)}`, a.pos);
    } else if (reject && (a.type === 'store' || a.type === 'redirect' || a.type === 'vacation')) {
      throw new SieveRuntimeError(`${a.type === 'store' ? 'store' : a.type} action conflicts with the reject/ereject action${where(reject.pos)}`, a.pos);
    }
    // RFC 5228 §2.10.2 / RFC 3894 §3: what cancels the implicit keep.
    if (a.type === 'discard' || a.type === 'reject' || ((a.type === 'store' || a.type === 'redirect') && !a.copy)) this.implicitKeep = false;
    switch (a.type) {
      case 'store': {
        const same = this.actions.find((x): x is StoreAction => x.type === 'store' && sameMailbox(x.mailbox, a.mailbox));
        if (same) {
          // The last action's flags win; :create and a non-copy store accumulate.
          same.flags = a.flags;
          same.create ||= a.create;
          same.copy &&= a.copy;
          return;
        }
        break;
      }
      case 'redirect': {
        const same = this.actions.find((x): x is RedirectAction => x.type === 'redirect' && sameAddress(x.address, a.address));
        if (same) {
          same.copy &&= a.copy;
          return;
        }
        const n = this.actions.filter((x) => x.type === 'redirect').length + 1;
        if (n > this.limits.maxRedirects) throw new SieveRuntimeError(`number of redirect actions exceeds the limit (${n} > ${this.limits.maxRedirects})`, a.pos);
        break;
      }
      case 'vacation': {
        const prev = this.actions.find((x) => x.type === 'vacation');
        if (prev) throw new SieveRuntimeError(`duplicate vacation action not allowed${where(prev.pos)}`, a.pos);
        break;
      }
      case 'discard':
        if (this.actions.some((x) => x.type === 'discard')) return;
        break;
    }
    if (this.actions.length >= this.limits.maxActions) throw new SieveRuntimeError(`too many actions (more than ${this.limits.maxActions})`, a.pos);
    this.actions.push(a);
  }
}

/** RFC 5321 §2.4: the local part is case-sensitive, the domain is not. */
function sameAddress(a: string, b: string): boolean {
  const i = a.lastIndexOf('@');
  const j = b.lastIndexOf('@');
  return a.slice(0, i) === b.slice(0, j) && a.slice(i).toLowerCase() === b.slice(j).toLowerCase();
}

/** INBOX is case-insensitive (RFC 9051 §5.1); other names are compared as written. */
export function sameMailbox(a: string, b: string): boolean {
  return a === b || (a.toUpperCase() === 'INBOX' && b.toUpperCase() === 'INBOX');
}

/** What a finished run decided: the actions to execute and, if it stands, the implicit keep. */
export interface SieveOutcome {
  actions: Action[];
  /** The implicit keep with its flags, or undefined when an action cancelled it. */
  implicitKeep?: { mailbox: 'INBOX'; flags: string[] };
  /** Set when the script failed at run time: `actions` is empty and the message is kept. */
  error?: string;
}

/**
 * Executes an outcome after the run (the split RFC 5228 §2.10 asks for): the executor
 * is given plain functions, so the engine never touches a store or the network.
 */
export interface ActionExecutor {
  store(mailbox: string, flags: string[], opts: { create: boolean; implicit: boolean }): void | Promise<void>;
  redirect(address: string, opts: { copy: boolean }): void | Promise<void>;
  reject(reason: string, opts: { ereject: boolean }): void | Promise<void>;
  vacation(v: VacationAction): void | Promise<void>;
  discard?(): void | Promise<void>;
}

export async function executeOutcome(o: SieveOutcome, ex: ActionExecutor): Promise<void> {
  for (const a of o.actions) {
    switch (a.type) {
      case 'store':
        await ex.store(a.mailbox, a.flags ?? [], { create: a.create, implicit: false });
        break;
      case 'redirect':
        await ex.redirect(a.address, { copy: a.copy });
        break;
      case 'reject':
        await ex.reject(a.reason, { ereject: a.ereject });
        break;
      case 'vacation':
        await ex.vacation(a);
        break;
      case 'discard':
        await ex.discard?.();
        break;
    }
  }
  if (o.implicitKeep && !o.actions.some((a) => a.type === 'store' && sameMailbox(a.mailbox, 'INBOX'))) {
    await ex.store('INBOX', o.implicitKeep.flags, { create: false, implicit: true });
  }
}
