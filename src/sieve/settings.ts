/**
 * The functions the CLI and the web admin call to manage an account's filtering:
 * scripts (validated before they are stored) and the vacation auto-reply setting.
 * The vacation setting is a generated Sieve script (`vacationScript`) that delivery
 * runs after the user's own script, as Pigeonhole runs a sieve_after script, so an
 * admin can switch a user's out-of-office on without touching the user's filters.
 */
import type { Db } from '../db/index.js';
import { checkSieve } from './engine.js';
import { SieveStore, SieveStoreError, type SieveLimits, type VacationSetting } from './store.js';

export const DEFAULT_VACATION_MESSAGE = 'I am away at the moment and will read your message when I am back.';

/** A Sieve quoted string (RFC 5228 §2.4.2): backslash and double quote escaped. */
export function sieveString(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The script that implements an admin vacation setting. */
export function vacationScript(v: VacationSetting): string {
  const subject = v.subject ? ` :subject ${sieveString(v.subject)}` : '';
  return `require "vacation";\nvacation :days ${v.days}${subject} ${sieveString(v.message)};\n`;
}

/** Checks and stores a script; throws SieveScriptInvalid with the compiler's message ("line L, column C: …"). */
export function putScript(db: Db, limits: SieveLimits, account: string, name: string, content: string, opts: { activate?: boolean } = {}): void {
  const err = checkSieve(content, { maxBytes: limits.maxScriptBytes });
  if (err) throw new SieveScriptInvalid(err);
  const store = new SieveStore(db, () => limits);
  store.put(account, name, content);
  if (opts.activate) store.setActive(account, name);
}

export class SieveScriptInvalid extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'SieveScriptInvalid';
  }
}

/** The account's vacation setting, or undefined when none was ever set. */
export function getVacation(db: Db, account: string): VacationSetting | undefined {
  return new SieveStore(db).getVacation(account);
}

/**
 * Switches the vacation reply on (with the given fields; unset ones keep their earlier
 * value, else the defaults: 7 days, no subject, DEFAULT_VACATION_MESSAGE) or off.
 */
export function setVacation(db: Db, account: string, change: { enabled: boolean; subject?: string; message?: string; days?: number }): VacationSetting {
  const store = new SieveStore(db);
  const prev = store.getVacation(account);
  const v: VacationSetting = {
    enabled: change.enabled,
    subject: change.subject !== undefined ? change.subject || undefined : prev?.subject,
    message: change.message ?? prev?.message ?? DEFAULT_VACATION_MESSAGE,
    days: change.days ?? prev?.days ?? 7,
  };
  if (!Number.isInteger(v.days) || v.days < 1 || v.days > 365) throw new SieveStoreError('invalid', 'days must be a whole number from 1 to 365');
  if (!v.message.trim()) throw new SieveStoreError('invalid', 'the vacation message must not be empty');
  const err = checkSieve(vacationScript(v));
  if (err) throw new SieveScriptInvalid(err);
  store.setVacation(account, v);
  return v;
}

/** A vacation change as a person typed it (the CLI's options, a web form): days as text. */
export interface VacationInput {
  enabled: boolean;
  subject?: string;
  /** Line ends are stored as LF (a browser sends CRLF). */
  message?: string;
  days?: string;
}

/**
 * `setVacation` from typed input, as `mailserver vacation` and the web pages take it:
 * days must be written as a whole number (then 1 to 365), the message must not be empty.
 */
export function setVacationFrom(db: Db, account: string, input: VacationInput): VacationSetting {
  const days = input.days?.trim();
  if (days !== undefined && !/^\d+$/.test(days)) throw new SieveStoreError('invalid', `invalid days "${input.days}": use a whole number of days`);
  return setVacation(db, account, {
    enabled: input.enabled,
    subject: input.subject?.trim(),
    message: input.message?.replace(/\r\n?/g, '\n'),
    days: days === undefined ? undefined : Number(days),
  });
}
