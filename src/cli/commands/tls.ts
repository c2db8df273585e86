/**
 * `mailserver tls status` and `mailserver tls renew`.
 *
 * status: the certificate the server serves in the configured mode (names, issuer,
 * serial, validity) and, in acme mode, the next renewal time and the last failure, read
 * from `<data>/certs/` (the files the server loads and writes).
 *
 * renew: the CLI is another process than the server, and only the server talks to the
 * CA (its HTTP listener answers the http-01 challenge, and a single writer of the
 * certificate files avoids racing orders). So the CLI drops
 * `<data>/certs/acme-renew-request` (`{"id": …}`); the running server's ACME manager
 * picks it up within ~2 s, orders a new certificate at once (whatever the schedule),
 * installs it in every listener, and records the outcome under that id in
 * `acme-state.json`, which the CLI waits for and prints. When no server picks it up in
 * time, the request stays and is honoured at the next start.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readAcmeState } from '../../acme/index.js';
import { loadConfig, type Config } from '../../config/index.js';
import { certPaths, describeCertificate, writeFileAtomic, type CertificateInfo } from '../../tls/index.js';
import { CliError } from '../context.js';
import type { Command } from '../types.js';

export interface TlsCommandOptions {
  dataRoot: string;
  /** The loaded configuration (loaded from the data root when absent). */
  config?: Config;
  out?: (line: string) => void;
  /** renew: how long to wait for the server, ms (default 180 s). */
  waitMs?: number;
  /** renew: how often to look at the state file, ms (default 500). */
  pollMs?: number;
}

function servedCertificate(config: Config): { file: string; info?: CertificateInfo; note?: string } {
  const p = certPaths(config.dataRoot);
  const read = (file: string) => {
    try {
      return describeCertificate(readFileSync(file, 'utf8'));
    } catch {
      return undefined;
    }
  };
  if (config.tls.mode === 'manual') return { file: config.tls.certFile, info: read(config.tls.certFile) };
  if (config.tls.mode === 'acme') {
    const info = existsSync(p.acmeCert) ? read(p.acmeCert) : undefined;
    if (info) return { file: p.acmeCert, info };
    return { file: p.cert, info: read(p.cert), note: 'not issued yet: the self-signed certificate is served until the CA issues one' };
  }
  return { file: p.cert, info: read(p.cert) };
}

const day = 86_400_000;
function when(d: Date): string {
  const days = Math.round((d.getTime() - Date.now()) / day);
  return `${d.toISOString()} (${days >= 0 ? `in ${days} days` : `${-days} days ago`})`;
}

/** Prints the certificate in force and the renewal schedule; CliError when there is no certificate. */
export async function tlsStatus(opts: TlsCommandOptions): Promise<void> {
  const out = opts.out ?? ((s: string) => process.stdout.write(s + '\n'));
  const config = opts.config ?? loadConfig({ dataRoot: opts.dataRoot });
  for (const [k, v] of tlsStatusRows(config)) out(`${(k + ':').padEnd(14)}${v}`);
}

/**
 * The rows `tls status` prints (also the web admin's TLS page): mode, file, names,
 * issuer, serial, validity, renewal. CliError when there is no readable certificate.
 */
export function tlsStatusRows(config: Config): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  const row = (k: string, v: string) => rows.push([k, v]);
  const { file, info, note } = servedCertificate(config);
  row('mode', config.tls.mode);
  if (!info) throw new CliError(`no readable certificate at ${file} (it is made or loaded when the server starts)`);
  row('file', file);
  if (note) row('note', note);
  row('names', info.names.join(', ') || '(none)');
  row('issuer', info.issuer);
  row('serial', info.serial);
  row('valid from', info.notBefore.toISOString());
  row('expires', when(info.notAfter));
  if (config.tls.mode === 'acme') {
    const st = readAcmeState(config.dataRoot);
    row('directory', config.tls.acme.directoryUrl);
    if (st.nextRenewal && st.serial === info.serial && st.directoryUrl === config.tls.acme.directoryUrl) row('next renewal', when(new Date(st.nextRenewal)));
    else if (st.failures > 0 && st.nextRenewal) row('next renewal', `retry ${when(new Date(st.nextRenewal))}`);
    else row('next renewal', 'at once when the server runs (the certificate is not from this CA for these names)');
    if (st.failures > 0) row('last error', `${st.lastError ?? '?'} (${st.failures} failed attempt(s), last ${st.lastAttempt ?? '?'})`);
  } else if (config.tls.mode === 'manual') {
    row('next renewal', 'none here: replace the files (e.g. certbot); the server reloads them without restart');
  } else {
    row('next renewal', 'none: self-signed, made once at first start (set tls.mode = "acme" for a CA certificate)');
  }
  return rows;
}

/**
 * Leaves a renewal request for the running server's ACME manager (see the module
 * comment) and returns its id; the outcome appears in `readAcmeState()` under
 * `handledRequest === id`. CliError unless tls.mode is "acme".
 */
export function requestRenewal(config: Config): string {
  if (config.tls.mode !== 'acme') {
    throw new CliError(`tls renew needs tls.mode = "acme" (this server uses "${config.tls.mode}"; in manual mode replace the files, the server reloads them)`);
  }
  const id = randomBytes(8).toString('hex');
  writeFileAtomic(certPaths(config.dataRoot).acmeRenewRequest, JSON.stringify({ id, at: new Date().toISOString() }) + '\n', 0o644);
  return id;
}

/** Asks the running server for a new ACME certificate now and waits for the outcome (CliError unless installed). */
export async function tlsRenew(opts: TlsCommandOptions): Promise<void> {
  const out = opts.out ?? ((s: string) => process.stdout.write(s + '\n'));
  const config = opts.config ?? loadConfig({ dataRoot: opts.dataRoot });
  const id = requestRenewal(config);
  out(`renewal requested (${id}); waiting for the server…`);
  const deadline = Date.now() + (opts.waitMs ?? 180_000);
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
    const st = readAcmeState(config.dataRoot);
    if (st.handledRequest !== id) continue;
    if (st.handledResult === 'ok') {
      out(`new certificate installed: serial ${st.serial}, expires ${st.notAfter}, next renewal ${st.nextRenewal}`);
      return;
    }
    throw new CliError(`renewal failed: ${st.handledError ?? st.lastError ?? 'unknown error'}; the current certificate stays in service, next retry ${st.nextRenewal ?? 'later'}`);
  }
  throw new CliError('no running server took the request in time (is `mailserver serve` running with tls.mode = "acme"?); it stays queued and is handled when the server starts');
}

export const tlsCommands: Command[] = [
  {
    name: 'tls status',
    params: '',
    args: { min: 0, max: 0 },
    help: `Show the TLS certificate in force: names, issuer, serial, expiry, next renewal.

Reads the files the server serves in the configured tls.mode: the self-signed pair,
your own files (manual), or the certificate issued by the ACME CA (acme), where it also
shows the next renewal time and the last failed attempt, if any.`,
    async run(ctx) {
      await tlsStatus({ dataRoot: ctx.dataRoot, out: (l) => ctx.out(l) });
    },
  },
  {
    name: 'tls renew',
    params: '',
    options: [{ name: 'wait', value: '<seconds>', help: 'how long to wait for the running server (default 180)' }],
    args: { min: 0, max: 0 },
    help: `Get a new ACME certificate now, whatever the renewal schedule (tls.mode = "acme").

The running server does the order (its HTTP listener answers the CA's http-01
challenge): this command leaves a request in <data>/certs/acme-renew-request, waits for
the server to report the outcome, and prints the new serial and expiry. On failure the
current certificate stays in service and the reason is printed. When no server runs,
the request stays queued and is handled at the next start.`,
    async run(ctx, _args, opts) {
      const wait = typeof opts.wait === 'string' ? Number(opts.wait) : 180;
      if (!Number.isFinite(wait) || wait <= 0) throw new CliError('--wait needs a number of seconds', true);
      await tlsRenew({ dataRoot: ctx.dataRoot, out: (l) => ctx.out(l), waitMs: wait * 1000 });
    },
  },
];
