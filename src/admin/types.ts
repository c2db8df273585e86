/** The shapes shared by the web admin's pages (src/admin/pages/) and its dispatcher (app.ts). */
import type { AccountsRepo } from '../accounts/repo.js';
import type { ServerContext } from '../context.js';
import type { Logger } from '../log.js';
import type { Flash, Html } from './html.js';
import type { Session, Sessions } from './session.js';

/** What the web pages are built on: the running server's context and its account repository. */
export interface WebDeps {
  ctx: ServerContext;
  /** The same AccountsRepo the server uses (management methods included). */
  accounts: AccountsRepo;
}

export interface PageContext {
  ctx: ServerContext;
  repo: AccountsRepo;
  session: Session;
  sessions: Sessions;
  /** Path parameters captured by the route's pattern (already URL-decoded). */
  params: string[];
  query: URLSearchParams;
  /** The submitted form (POST); empty for GET. */
  form: URLSearchParams;
  /** The client's address (the proxy's client when it is a trusted proxy). */
  client: string;
  /** Logs with `proto: 'web'` and the user: every change is logged (an audit trail). */
  log: Logger;
}

export type PageResult = { title: string; body: Html; status?: number; current?: string } | { redirect: string; flash?: Flash };

export interface PageRoute {
  method: 'GET' | 'POST';
  /** Matched against the whole path; capture groups become `params`. */
  path: RegExp;
  handle(c: PageContext): PageResult | Promise<PageResult>;
  /** POST: where to go back to (with the error) when the action fails. */
  back?: (c: PageContext) => string;
}

/** A problem with what the user asked for; its message is shown to them. */
export class WebError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'WebError';
  }
}

/** A required, trimmed form field (WebError when empty). */
export function field(form: URLSearchParams, name: string, label = name): string {
  const v = (form.get(name) ?? '').trim();
  if (!v) throw new WebError(`${label} is required`);
  return v;
}

/** A checkbox: present and "on". */
export function checked(form: URLSearchParams, name: string): boolean {
  return form.get(name) === 'on';
}

/** The path of an item page: `/admin/accounts/` + the address, encoded. */
export function itemPath(base: string, id: string | number): string {
  return `${base}/${encodeURIComponent(String(id))}`;
}
