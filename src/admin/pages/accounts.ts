/**
 * Accounts: list, add (as `account add`: a password given or generated and shown once,
 * quotas), and per account: password reset (`account passwd`), quota (`account quota`),
 * disable/enable, the admin flag (`account admin`), the vacation reply (`vacation`),
 * remove (`account remove`). An admin cannot take their own admin flag away, disable or
 * remove themselves here (the CLI can), so the web admin never locks its last user out
 * by a slip.
 */
import { parseAddress } from '../../accounts/address.js';
import { countOption, quotaOption } from '../../cli/commands/account.js';
import { formatSize } from '../../cli/format.js';
import { generatePassword } from '../../cli/password.js';
import { adminAddresses, setAdmin } from '../flag.js';
import { button, html, postForm, table, when } from '../html.js';
import { checked, field, itemPath, WebError, type PageContext, type PageRoute } from '../types.js';
import { submitVacation, vacationForm } from './vacation.js';

const BASE = '/admin/accounts';

function accountOf(c: PageContext): string {
  const a = c.repo.getAccount(c.params[0]!);
  if (!a) throw new WebError(`no such account: ${c.params[0]}`, 404);
  return a.address;
}

function notSelf(c: PageContext, address: string, what: string): void {
  if (address === c.session.account) throw new WebError(`you cannot ${what} the account you are logged in with (use the CLI)`);
}

/** "none" and "" mean no limit for a new account; a size otherwise. */
const optional = (v: string | null) => (v && v.trim() ? v.trim() : undefined);

function list(c: PageContext) {
  const domain = c.query.get('domain') ?? undefined;
  const admins = adminAddresses(c.ctx.db);
  const rows = c.repo.listAccounts(domain && c.repo.getDomain(domain) ? domain : undefined).map((a) => [
    html`<a href="${itemPath(BASE, a.address)}">${a.address}</a>`,
    formatSize(a.quotaBytes),
    a.quotaMessages === null ? '-' : String(a.quotaMessages),
    a.disabled ? html`<span class="status-bad">disabled</span>` : 'active',
    admins.has(a.address) ? 'admin' : '',
    when(a.createdAt),
  ]);
  const domains = c.repo.listDomains().map((d) => d.name);
  const add = postForm(
    BASE,
    c.session.csrf,
    html`<fieldset><legend>Add an account</legend>
<label>Address<input type="email" name="address" required placeholder="name@${domains[0] ?? 'example.org'}"></label>
<label>Password<input type="password" name="password" autocomplete="new-password" placeholder="empty: generate one"></label>
<label>Quota<input type="text" name="quota" placeholder="e.g. 2G; empty: none"></label>
<button>Add account</button>
<p class="muted">Domains: ${domains.length ? domains.join(', ') : 'none yet, add one first'}.</p></fieldset>`,
  );
  return { title: 'Accounts', body: html`${table(['Address', 'Quota', 'Messages', 'Status', 'Admin', 'Added'], rows, 'No accounts yet.')}${add}` };
}

async function add(c: PageContext) {
  const a = parseAddress(field(c.form, 'address', 'the address'));
  if (!c.repo.getDomain(a.domain)) throw new WebError(`unknown domain ${a.domain}; add it first on the Domains page`);
  const quotaBytes = quotaOption(optional(c.form.get('quota')), 'quota');
  const given = c.form.get('password') ?? '';
  const password = given || generatePassword();
  await c.repo.addAccount(a.address, password, { quotaBytes });
  c.log.info({ account: a.address }, 'account added');
  const text = given ? `Added ${a.address}.` : `Added ${a.address} with the generated password ${password} (shown once).`;
  return { redirect: itemPath(BASE, a.address), flash: { kind: 'ok' as const, text } };
}

function show(c: PageContext) {
  const address = accountOf(c);
  const a = c.repo.getAccount(address)!;
  const isAdmin = adminAddresses(c.ctx.db).has(address);
  const path = itemPath(BASE, address);
  const csrf = c.session.csrf;
  const body = html`<p>${a.disabled ? html`<span class="status-bad">Disabled</span>: logins refused, mail still delivered.` : 'Active.'}
${isAdmin ? ' Administrator.' : ''} Quota ${formatSize(a.quotaBytes)}, messages ${a.quotaMessages ?? '-'}. Added ${when(a.createdAt)}.
<a href="/admin/disk">Disk use</a></p>
<h2>Password</h2>
${postForm(`${path}/password`, csrf, html`<label>New password<input type="password" name="password" autocomplete="new-password" placeholder="empty: generate one"></label><button>Set password</button>`)}
<h2>Quota</h2>
${postForm(
  `${path}/quota`,
  csrf,
  html`<label>Storage<input type="text" name="quota" value="${a.quotaBytes === null ? 'none' : formatSize(a.quotaBytes)}"></label>
<label>Messages<input type="text" name="messages" value="${a.quotaMessages === null ? 'none' : String(a.quotaMessages)}"></label><button>Set quota</button>`,
)}
<h2>Vacation reply</h2>
${vacationForm(c, `${path}/vacation`, address)}
<h2>Access</h2>
<p>${button(`${path}/${a.disabled ? 'enable' : 'disable'}`, csrf, a.disabled ? 'Enable logins' : 'Disable logins')}
${button(`${path}/admin`, csrf, isAdmin ? 'Take admin rights away' : 'Make administrator', { fields: { admin: isAdmin ? 'off' : 'on' } })}</p>
<h2>Remove</h2>
${postForm(`${path}/remove`, csrf, html`<label class="check"><input type="checkbox" name="delete_mail"> also delete its mail (cannot be undone)</label><button class="danger">Remove ${address}</button>`)}`;
  return { title: address, body, current: BASE };
}

async function password(c: PageContext) {
  const address = accountOf(c);
  const given = c.form.get('password') ?? '';
  const pw = given || generatePassword();
  await c.repo.setPassword(address, pw);
  c.sessions.endAllOf(address, c.session.id);
  c.log.info({ account: address }, 'password reset');
  return { redirect: itemPath(BASE, address), flash: { kind: 'ok' as const, text: given ? `Password of ${address} changed.` : `New password of ${address}: ${pw} (shown once).` } };
}

function quota(c: PageContext) {
  const address = accountOf(c);
  const bytes = quotaOption(optional(c.form.get('quota')), 'quota');
  const messages = countOption(optional(c.form.get('messages')), 'message quota');
  const a = c.repo.setAccountQuota(address, { bytes, messages });
  c.log.info({ account: address, quotaBytes: a.quotaBytes, quotaMessages: a.quotaMessages }, 'account quota set');
  return { redirect: itemPath(BASE, address), flash: { kind: 'ok' as const, text: `Quota of ${address}: ${formatSize(a.quotaBytes)}, messages: ${a.quotaMessages ?? '-'}` } };
}

function vacation(c: PageContext) {
  const address = accountOf(c);
  return { redirect: itemPath(BASE, address), flash: { kind: 'ok' as const, text: `${address}: ${submitVacation(c, address)}` } };
}

function setDisabled(disabled: boolean) {
  return (c: PageContext) => {
    const address = accountOf(c);
    if (disabled) notSelf(c, address, 'disable');
    c.repo.setDisabled(address, disabled);
    if (disabled) c.sessions.endAllOf(address);
    c.log.info({ account: address }, disabled ? 'account disabled' : 'account enabled');
    return { redirect: itemPath(BASE, address), flash: { kind: 'ok' as const, text: `${address} ${disabled ? 'disabled' : 'enabled'}.` } };
  };
}

function admin(c: PageContext) {
  const address = accountOf(c);
  const on = c.form.get('admin') === 'on';
  if (!on) notSelf(c, address, 'take admin rights from');
  setAdmin(c.ctx.db, address, on);
  c.log.info({ account: address, admin: on }, 'admin flag set');
  return { redirect: itemPath(BASE, address), flash: { kind: 'ok' as const, text: `${address}: admin ${on ? 'on' : 'off'}.` } };
}

async function remove(c: PageContext) {
  const address = accountOf(c);
  notSelf(c, address, 'remove');
  const deleteMail = checked(c.form, 'delete_mail');
  await c.repo.removeAccount(address, { deleteMail });
  c.sessions.endAllOf(address);
  c.log.info({ account: address, deleteMail }, 'account removed');
  return { redirect: BASE, flash: { kind: 'ok' as const, text: `Removed ${address}${deleteMail ? ' and its mail' : ' (mail kept on disk)'}.` } };
}

const back = (c: PageContext) => itemPath(BASE, c.params[0]!);
const item = (verb: string) => new RegExp(`^/admin/accounts/([^/]+)/${verb}$`);

export const accountRoutes: PageRoute[] = [
  { method: 'GET', path: /^\/admin\/accounts$/, handle: list },
  { method: 'POST', path: /^\/admin\/accounts$/, handle: add, back: () => BASE },
  { method: 'GET', path: /^\/admin\/accounts\/([^/]+)$/, handle: show },
  { method: 'POST', path: item('password'), handle: password, back },
  { method: 'POST', path: item('quota'), handle: quota, back },
  { method: 'POST', path: item('vacation'), handle: vacation, back },
  { method: 'POST', path: item('disable'), handle: setDisabled(true), back },
  { method: 'POST', path: item('enable'), handle: setDisabled(false), back },
  { method: 'POST', path: item('admin'), handle: admin, back },
  { method: 'POST', path: item('remove'), handle: remove, back },
];
