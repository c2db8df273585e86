/**
 * TLS: the certificate in force and its renewal schedule (the rows of `tls status`),
 * and in acme mode a "Renew now" button that leaves the same request `tls renew` does
 * for the ACME manager of this very server, which orders within seconds; the page
 * shows the outcome of the last request.
 */
import { readAcmeState } from '../../acme/index.js';
import { requestRenewal, tlsStatusRows } from '../../cli/commands/tls.js';
import { button, facts, html, when } from '../html.js';
import type { PageContext, PageRoute } from '../types.js';

const BASE = '/admin/tls';

function show(c: PageContext) {
  const config = c.ctx.config;
  const rows = tlsStatusRows(config);
  let acme = html``;
  if (config.tls.mode === 'acme') {
    const st = readAcmeState(config.dataRoot);
    const last = st.handledRequest
      ? html`<p>Last renewal request: ${st.handledResult === 'ok' ? html`<span class="status-ok">installed</span>` : html`<span class="status-bad">failed</span> (${st.handledError ?? st.lastError ?? 'unknown error'})`}${st.lastAttempt ? `, ${when(new Date(st.lastAttempt))}` : ''}.</p>`
      : '';
    acme = html`<h2>Renewal</h2>${last}<p>${button(`${BASE}/renew`, c.session.csrf, 'Renew now')}</p>
<p class="muted">The server orders a new certificate from ${config.tls.acme.directoryUrl} at once; reload this page for the outcome.</p>`;
  }
  return { title: 'TLS certificate', body: html`${facts(rows)}${acme}` };
}

function renew(c: PageContext) {
  const id = requestRenewal(c.ctx.config);
  c.log.info({ request: id }, 'certificate renewal requested');
  return { redirect: BASE, flash: { kind: 'ok' as const, text: `Renewal requested (${id}). The server is ordering a new certificate; reload in a few seconds.` } };
}

export const tlsRoutes: PageRoute[] = [
  { method: 'GET', path: /^\/admin\/tls$/, handle: show },
  { method: 'POST', path: /^\/admin\/tls\/renew$/, handle: renew, back: () => BASE },
];
