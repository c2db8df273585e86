/**
 * `/account`: what every user does for themselves after logging in with their mail
 * address and password (admins too; no admin flag needed).
 *
 * The page is a list of sections (ACCOUNT_SECTIONS below); each renders its part and
 * takes its form at `POST /account/<id>`: the password, the vacation reply (src/sieve/;
 * the form is shared with the admin's account page, vacation.ts), the spam filter's
 * status and settings (account-spam.ts). A new setting is an entry in the table,
 * nothing else changes.
 */
import { authenticate } from '../../accounts/login.js';
import { html, postForm, type Html } from '../html.js';
import { spamSection } from './account-spam.js';
import { WebError, type PageContext, type PageRoute } from '../types.js';
import { submitVacation, vacationForm } from './vacation.js';

export interface AccountSection {
  /** The path segment of its form: POST /account/<id>. */
  id: string;
  title: string;
  render(c: PageContext): Html | Promise<Html>;
  /** Applies the section's form; returns the confirmation shown to the user (WebError for a refusal). */
  submit(c: PageContext): string | Promise<string>;
}

/** A new password typed by a person: not shorter than this. */
const MIN_PASSWORD = 8;

const passwordSection: AccountSection = {
  id: 'password',
  title: 'Password',
  render: (c) =>
    postForm(
      '/account/password',
      c.session.csrf,
      html`<label>Current password<input type="password" name="current" autocomplete="current-password" required></label>
<label>New password<input type="password" name="password" autocomplete="new-password" required minlength="${MIN_PASSWORD}"></label>
<label>Repeat<input type="password" name="repeat" autocomplete="new-password" required></label>
<button>Change password</button>
<p class="muted">Your mail programs will ask for the new password. Other web sessions of this account are logged out.</p>`,
    ),
  async submit(c) {
    const next = c.form.get('password') ?? '';
    if (next.length < MIN_PASSWORD) throw new WebError(`the new password needs at least ${MIN_PASSWORD} characters`);
    if (next !== c.form.get('repeat')) throw new WebError('the new passwords differ');
    // Checking the current password is a login: the same flow, throttling and delay.
    const r = await authenticate(c.ctx, { protocol: 'web', remoteAddress: c.client, secure: true, username: c.session.account, password: c.form.get('current') ?? '', log: c.log });
    if (r.kind !== 'ok') throw new WebError(r.kind === 'failed' ? 'the current password is wrong' : 'the password cannot be checked right now; try again later');
    await c.repo.setPassword(c.session.account, next);
    c.sessions.endAllOf(c.session.account, c.session.id);
    c.log.info('password changed by its owner');
    return 'Password changed.';
  },
};

/** The out-of-office reply (src/sieve/), as `mailserver vacation` sets it. */
const vacationSection: AccountSection = {
  id: 'vacation',
  title: 'Vacation reply',
  render: (c) => vacationForm(c, '/account/vacation', c.session.account),
  submit: (c) => submitVacation(c, c.session.account),
};

/** The sections of /account, in page order. */
export const ACCOUNT_SECTIONS: AccountSection[] = [passwordSection, vacationSection, spamSection];

async function show(c: PageContext) {
  const parts = await Promise.all(ACCOUNT_SECTIONS.map(async (s) => html`<section id="${s.id}"><h2>${s.title}</h2>${await s.render(c)}</section>`));
  return { title: 'Your account', body: html`<p>Logged in as <strong>${c.session.account}</strong>.</p>${parts}`, current: '/account' };
}

async function submit(c: PageContext) {
  const section = ACCOUNT_SECTIONS.find((s) => s.id === c.params[0]);
  if (!section) throw new WebError('no such setting', 404);
  const text = await section.submit(c);
  return { redirect: `/account#${section.id}`, flash: { kind: 'ok' as const, text } };
}

export const accountSelfRoutes: PageRoute[] = [
  { method: 'GET', path: /^\/account\/?$/, handle: show },
  { method: 'POST', path: /^\/account\/([a-z-]+)$/, handle: submit, back: () => '/account' },
];
