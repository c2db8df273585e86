/**
 * Server-rendered HTML, escaped by construction: the `html` tag escapes every value it
 * interpolates (text and attribute contexts alike: & < > " ' all become entities)
 * unless the value is itself `Html` made by the tag. There is no other way to put
 * text into a page, so nothing a user, a DNS answer or a remote SMTP server wrote can
 * become markup. Pages carry no JavaScript (the Content-Security-Policy forbids it).
 */

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

type Part = Html | string | number | boolean | null | undefined | Part[];

function render(v: Part): string {
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

/** The one way to write markup: `html\`<td>${text}</td>\``. Arrays are joined; null, undefined and false render as nothing. */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** The hidden CSRF field every form carries. */
export function csrfField(token: string): Html {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

/** A POST form with the CSRF field; `inline` puts it on one line with other buttons. */
export function postForm(action: string, csrf: string, body: Html, opts: { inline?: boolean } = {}): Html {
  return html`<form method="post" action="${action}"${opts.inline ? new Html(' class="inline"') : ''}>${csrfField(csrf)}${body}</form>`;
}

/** A one-button POST form (retry, remove, …). */
export function button(action: string, csrf: string, label: string, opts: { danger?: boolean; fields?: Record<string, string> } = {}): Html {
  const hidden = Object.entries(opts.fields ?? {}).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`);
  return postForm(action, csrf, html`${hidden}<button${opts.danger ? new Html(' class="danger"') : ''}>${label}</button>`, { inline: true });
}

/** A table from a header row and body rows (cells are escaped unless Html). */
export function table(head: string[], rows: Part[][], empty = 'nothing here'): Html {
  if (rows.length === 0) return html`<p class="empty">${empty}</p>`;
  return html`<table><thead><tr>${head.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${rows.map((r) => html`<tr>${r.map((c) => html`<td>${c}</td>`)}</tr>`)}</tbody></table>`;
}

/** Label/value rows (a record's fields). */
export function facts(rows: Array<[string, Part]>): Html {
  return html`<table class="facts"><tbody>${rows.map(([k, v]) => html`<tr><th>${k}</th><td>${v}</td></tr>`)}</tbody></table>`;
}

/** "2024-05-01 12:00:00 UTC". */
export function when(d: Date | number | undefined): string {
  if (d === undefined) return '-';
  return new Date(d).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

/** "3 min ago", "in 2 h", for times near now. */
export function ago(d: Date | number, now = Date.now()): string {
  const s = Math.round((new Date(d).getTime() - now) / 1000);
  const a = Math.abs(s);
  const rel = a < 90 ? `${a} s` : a < 5400 ? `${Math.round(a / 60)} min` : a < 172_800 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86_400)} days`;
  return s >= 0 ? `in ${rel}` : `${rel} ago`;
}

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
}

export interface NavItem {
  href: string;
  label: string;
}

export const ADMIN_NAV: NavItem[] = [
  { href: '/admin/', label: 'Overview' },
  { href: '/admin/domains', label: 'Domains' },
  { href: '/admin/accounts', label: 'Accounts' },
  { href: '/admin/aliases', label: 'Aliases' },
  { href: '/admin/dkim', label: 'DKIM' },
  { href: '/admin/queue', label: 'Queue' },
  { href: '/admin/tls', label: 'TLS' },
  { href: '/admin/events', label: 'Recent mail' },
  { href: '/admin/disk', label: 'Disk' },
];

export interface LayoutOptions {
  title: string;
  body: Html;
  /** The logged-in account; absent on the login page. */
  user?: string;
  csrf?: string;
  nav?: NavItem[];
  current?: string;
  flash?: Flash;
  /** Where the stylesheet is (/admin/style.css or /account/style.css). */
  css: string;
  hostname: string;
}

/** The page around a body: header with the navigation and the logout button, the flash message. */
export function layout(o: LayoutOptions): Html {
  const nav = (o.nav ?? []).map((n) => html`<a href="${n.href}"${n.href === o.current ? new Html(' aria-current="page"') : ''}>${n.label}</a>`);
  const who = o.user && o.csrf
    ? html`<div class="who"><a href="/account">${o.user}</a>${postForm('/account/logout', o.csrf, html`<button class="link">Log out</button>`, { inline: true })}</div>`
    : '';
  const flash = o.flash ? html`<p class="flash ${o.flash.kind}" role="${o.flash.kind === 'error' ? 'alert' : 'status'}">${o.flash.text}</p>` : '';
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · ${o.hostname}</title><link rel="stylesheet" href="${o.css}"></head>
<body><header><span class="brand">${o.hostname}</span><nav>${nav}</nav>${who}</header>
<main><h1>${o.title}</h1>${flash}${o.body}</main></body></html>
`;
}
