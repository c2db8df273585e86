/**
 * The vacation reply form, on the user's /account page and on an account's page of the
 * web admin: it shows the setting and changes it through `getVacation` /
 * `setVacationFrom` (src/sieve/settings.ts), the functions `mailserver vacation` calls,
 * with the same checks (days a whole number from 1 to 365, a message when on).
 */
import { DEFAULT_VACATION_MESSAGE, getVacation, setVacationFrom } from '../../sieve/settings.js';
import { facts, html, Html, postForm } from '../html.js';
import { checked, type PageContext } from '../types.js';

/** The current setting and the form that posts to `action`. */
export function vacationForm(c: PageContext, action: string, account: string): Html {
  const v = getVacation(c.ctx.db, account);
  const state = v?.enabled
    ? html`<span class="status-ok">on</span>: each sender gets one reply per ${v.days} day${v.days === 1 ? '' : 's'}`
    : html`off${v ? '' : ' (never set)'}`;
  const current = facts([
    ['Automatic reply', state],
    ['Subject', v?.subject ?? html`<span class="muted">"Auto: " and the subject of the message answered</span>`],
    ['Days', String(v?.days ?? 7)],
    ['Message', v ? html`<pre>${v.message}</pre>` : html`<span class="muted">not set</span>`],
  ]);
  const form = postForm(
    action,
    c.session.csrf,
    html`<fieldset><legend>Change</legend>
<label class="check"><input type="checkbox" name="enabled"${v?.enabled ? new Html(' checked') : ''}> Reply automatically to incoming mail</label><br>
<label>Subject<input type="text" name="subject" maxlength="200" value="${v?.subject ?? ''}" placeholder="empty: Auto: and the original subject"></label>
<label>Days<input type="number" name="days" min="1" max="365" step="1" required value="${String(v?.days ?? 7)}"></label><br>
<label class="wide">Message<textarea name="message" rows="6" cols="60">${v?.message ?? DEFAULT_VACATION_MESSAGE}</textarea></label><br>
<button>Save</button>
<p class="muted">The reply runs after the account's own Sieve filters. It answers each sender once per the number of days, never mailing lists, bulk mail, bounces or other automatic mail.</p></fieldset>`,
  );
  return html`${current}${form}`;
}

/** Applies the form to `account`; returns the confirmation. Refusals are SieveStoreError (shown to the user). */
export function submitVacation(c: PageContext, account: string): string {
  const enabled = checked(c.form, 'enabled');
  const message = c.form.get('message') ?? '';
  const v = setVacationFrom(c.ctx.db, account, {
    enabled,
    subject: c.form.get('subject') ?? undefined,
    // On: the text is required (an empty one is refused). Off with the text cleared keeps the stored one.
    message: !enabled && !message.trim() ? undefined : message,
    days: c.form.get('days') ?? undefined,
  });
  c.log.info({ account, vacation: v.enabled, days: v.days }, 'vacation reply set');
  return v.enabled ? `Vacation reply on: each sender gets one reply per ${v.days} day${v.days === 1 ? '' : 's'}.` : 'Vacation reply off.';
}
