/**
 * Client autoconfiguration and the MTA-STS policy, served by the HTTP listener.
 *
 * - Thunderbird autoconfig (`/mail/config-v1.1.xml`, `/.well-known/autoconfig/mail/config-v1.1.xml`,
 *   format "config-v1.1", https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat):
 *   the domain comes from `?emailaddress=` or from the Host header `autoconfig.<domain>`.
 * - Outlook autodiscover, POX flavour (`POST /autodiscover/autodiscover.xml`, [MS-OXDSCLI]):
 *   the address comes from the request's `<EMailAddress>`.
 * - Apple configuration profile (`/apple/mail.mobileconfig?emailaddress=`): an unsigned
 *   `.mobileconfig` plist with one com.apple.mail.managed payload.
 * - MTA-STS policy (`/.well-known/mta-sts.txt`, RFC 8461 §3.2). RFC 8461 requires the
 *   policy host to answer over HTTPS with a valid certificate for `mta-sts.<domain>`;
 *   put this server (or a proxy) behind that name with TLS.
 *
 * Only domains this server serves are answered (404 otherwise), and every value written
 * into XML is escaped.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AddressError, normalizeDomain, parseAddress } from '../accounts/address.js';
import type { ServerContext } from '../context.js';
import { mtaStsPolicy } from '../setup/records.js';
import { sendText, type HttpRoutes } from './index.js';

export interface ClientPorts {
  imaps: number;
  imap: number;
  pop3s: number;
  submissions: number;
  submission: number;
}

export function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** Thunderbird's config-v1.1 document for one domain. */
export function thunderbirdConfig(domain: string, hostname: string, ports: ClientPorts): string {
  const h = xmlEscape(hostname);
  const d = xmlEscape(domain);
  const server = (tag: string, type: string, port: number, socket: string) =>
    `    <${tag} type="${type}">\n      <hostname>${h}</hostname>\n      <port>${port}</port>\n      <socketType>${socket}</socketType>\n      <authentication>password-cleartext</authentication>\n      <username>%EMAILADDRESS%</username>\n    </${tag}>\n`;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<clientConfig version="1.1">\n  <emailProvider id="${d}">\n    <domain>${d}</domain>\n` +
    `    <displayName>${d}</displayName>\n    <displayShortName>${d}</displayShortName>\n` +
    server('incomingServer', 'imap', ports.imaps, 'SSL') +
    server('incomingServer', 'imap', ports.imap, 'STARTTLS') +
    server('incomingServer', 'pop3', ports.pop3s, 'SSL') +
    server('outgoingServer', 'smtp', ports.submissions, 'SSL') +
    server('outgoingServer', 'smtp', ports.submission, 'STARTTLS') +
    `  </emailProvider>\n</clientConfig>\n`
  );
}

/** Outlook's POX autodiscover response for one address. */
export function autodiscoverResponse(address: string, hostname: string, ports: ClientPorts): string {
  const a = xmlEscape(address);
  const h = xmlEscape(hostname);
  const proto = (type: string, port: number, ssl: 'on' | 'off', encryption?: string) =>
    `      <Protocol>\n        <Type>${type}</Type>\n        <Server>${h}</Server>\n        <Port>${port}</Port>\n        <LoginName>${a}</LoginName>\n` +
    `        <DomainRequired>off</DomainRequired>\n        <SPA>off</SPA>\n        <SSL>${ssl}</SSL>\n` +
    (encryption ? `        <Encryption>${encryption}</Encryption>\n` : '') +
    `        <AuthRequired>on</AuthRequired>\n      </Protocol>\n`;
  return (
    `<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">\n` +
    `  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">\n    <Account>\n` +
    `      <AccountType>email</AccountType>\n      <Action>settings</Action>\n` +
    proto('IMAP', ports.imaps, 'on', 'SSL') +
    proto('SMTP', ports.submissions, 'on', 'SSL') +
    `    </Account>\n  </Response>\n</Autodiscover>\n`
  );
}

function plistValue(v: unknown, indent: string): string {
  if (typeof v === 'string') return `${indent}<string>${xmlEscape(v)}</string>\n`;
  if (typeof v === 'number') return `${indent}<integer>${v}</integer>\n`;
  if (typeof v === 'boolean') return `${indent}<${v}/>\n`;
  if (Array.isArray(v)) return `${indent}<array>\n${v.map((x) => plistValue(x, indent + '  ')).join('')}${indent}</array>\n`;
  const entries = Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${indent}  <key>${xmlEscape(k)}</key>\n${plistValue(x, indent + '  ')}`)
    .join('');
  return `${indent}<dict>\n${entries}${indent}</dict>\n`;
}

/** An Apple configuration profile (.mobileconfig) with the account's IMAP and SMTP settings. */
export function appleMobileconfig(address: string, hostname: string, ports: ClientPorts): string {
  const domain = address.slice(address.lastIndexOf('@') + 1);
  const reverse = domain.split('.').reverse().join('.');
  // Stable UUIDs per address, so installing the profile again replaces the old one.
  const uuid = (salt: string) => {
    const h = createHash('sha256').update(`${salt}:${address}`).digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`.toUpperCase();
  };
  const mail = {
    EmailAccountDescription: address,
    EmailAccountName: address,
    EmailAccountType: 'EmailTypeIMAP',
    EmailAddress: address,
    IncomingMailServerAuthentication: 'EmailAuthPassword',
    IncomingMailServerHostName: hostname,
    IncomingMailServerPortNumber: ports.imaps,
    IncomingMailServerUseSSL: true,
    IncomingMailServerUsername: address,
    OutgoingMailServerAuthentication: 'EmailAuthPassword',
    OutgoingMailServerHostName: hostname,
    OutgoingMailServerPortNumber: ports.submissions,
    OutgoingMailServerUseSSL: true,
    OutgoingMailServerUsername: address,
    OutgoingPasswordSameAsIncomingPassword: true,
    PayloadDescription: `Mail account ${address}`,
    PayloadDisplayName: address,
    PayloadIdentifier: `${reverse}.mail.${uuid('payload')}`,
    PayloadType: 'com.apple.mail.managed',
    PayloadUUID: uuid('payload'),
    PayloadVersion: 1,
    SMIMEEnabled: false,
  };
  const profile = {
    PayloadContent: [mail],
    PayloadDescription: `Mail settings for ${address}`,
    PayloadDisplayName: `Mail: ${address}`,
    PayloadIdentifier: `${reverse}.mailprofile.${uuid('profile')}`,
    PayloadRemovalDisallowed: false,
    PayloadType: 'Configuration',
    PayloadUUID: uuid('profile'),
    PayloadVersion: 1,
  };
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n` +
    `<plist version="1.0">\n${plistValue(profile, '')}</plist>\n`
  );
}

/** Which port a listener is on: the bound one when running, else the configured one. */
export type PortOf = (name: keyof ClientPorts) => number;

function hostDomain(req: IncomingMessage, prefix: string): string | undefined {
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
  return host.startsWith(prefix) ? host.slice(prefix.length) : undefined;
}

async function readBody(req: IncomingMessage, max = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) throw new Error('request body too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Registers the autoconfig, autodiscover, mobileconfig and MTA-STS routes. */
export function registerAutoconfig(routes: HttpRoutes, ctx: Pick<ServerContext, 'config' | 'accounts'>, portOf?: PortOf): void {
  const { config, accounts } = ctx;
  const clientPorts = (): ClientPorts => {
    const get: PortOf = portOf ?? ((name) => config.ports[name]);
    return { imaps: get('imaps'), imap: get('imap'), pop3s: get('pop3s'), submissions: get('submissions'), submission: get('submission') };
  };
  const localDomain = (raw: string | undefined): string | undefined => {
    if (!raw) return undefined;
    try {
      const d = normalizeDomain(raw);
      return accounts.isLocalDomain(d) ? d : undefined;
    } catch {
      return undefined;
    }
  };
  const notFound = (res: ServerResponse) => sendText(res, 404, 'unknown domain\n');

  const thunderbird = (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const email = url.searchParams.get('emailaddress') ?? undefined;
    const domain = localDomain(email ? email.slice(email.lastIndexOf('@') + 1) : hostDomain(req, 'autoconfig.'));
    if (!domain) return notFound(res);
    sendText(res, 200, thunderbirdConfig(domain, config.hostname, clientPorts()), 'application/xml; charset=utf-8');
  };
  routes.add('GET', '/mail/config-v1.1.xml', (req, res, m) => thunderbird(req, res, m.url));
  routes.add('GET', '/.well-known/autoconfig/mail/config-v1.1.xml', (req, res, m) => thunderbird(req, res, m.url));

  const autodiscover = async (req: IncomingMessage, res: ServerResponse) => {
    let body: string;
    try {
      body = await readBody(req);
    } catch {
      return sendText(res, 413, 'request too large\n');
    }
    const raw = /<EMailAddress>([^<]{1,320})<\/EMailAddress>/i.exec(body)?.[1]?.trim();
    let address: string | undefined;
    try {
      address = raw ? parseAddress(raw).address : undefined;
    } catch (err) {
      if (!(err instanceof AddressError)) throw err;
    }
    if (!address || !localDomain(address.slice(address.lastIndexOf('@') + 1))) return notFound(res);
    sendText(res, 200, autodiscoverResponse(address, config.hostname, clientPorts()), 'application/xml; charset=utf-8');
  };
  for (const path of ['/autodiscover/autodiscover.xml', '/Autodiscover/Autodiscover.xml']) routes.add('POST', path, autodiscover);

  routes.add('GET', '/apple/mail.mobileconfig', (_req, res, m) => {
    const raw = m.url.searchParams.get('emailaddress');
    let address: string | undefined;
    try {
      address = raw ? parseAddress(raw).address : undefined;
    } catch {
      address = undefined;
    }
    if (!address || !localDomain(address.slice(address.lastIndexOf('@') + 1))) return notFound(res);
    res.setHeader('Content-Disposition', `attachment; filename="${address.replace(/[^A-Za-z0-9@._-]/g, '_')}.mobileconfig"`);
    sendText(res, 200, appleMobileconfig(address, config.hostname, clientPorts()), 'application/x-apple-aspen-config; charset=utf-8');
  });

  routes.add('GET', '/.well-known/mta-sts.txt', (req, res) => {
    const domain = localDomain(hostDomain(req, 'mta-sts.'));
    if (!domain) return notFound(res);
    sendText(res, 200, mtaStsPolicy(config.hostname), 'text/plain; charset=utf-8');
  });
}
