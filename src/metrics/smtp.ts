/**
 * What SMTP did, seen through smtp-server's own logger hook: the listeners pass
 * `logger: ctx.metrics?.smtpLogger(protocol)`, and smtp-server calls it with a record for
 * every command it reads (`tnx: 'command'`, the command line with AUTH secrets already
 * replaced) and every reply it writes (`tnx: 'send'`, the full reply line). No protocol
 * code is touched, and every reply counts, including the ones smtp-server makes itself
 * (552 message too big, 452 too many recipients, 503 bad sequence).
 *
 * From that stream this module counts commands, refusals by reason and accepted
 * messages, and keeps per connection just enough of the transaction (client, MAIL FROM,
 * the accepted RCPT TOs) to put readable events into the recent-events ring.
 */
import type { MailEvent } from './recent.js';

/** Where a refusal happened: the command it answered. */
export type SmtpStage = 'connect' | 'helo' | 'starttls' | 'auth' | 'mail' | 'rcpt' | 'data' | 'other';

/** What an SMTP observer reports to (the Metrics class). */
export interface SmtpSink {
  command(protocol: string, verb: string): void;
  refused(protocol: string, stage: SmtpStage, code: number, enhanced: string | undefined, event: Omit<MailEvent, 'kind' | 'protocol' | 'at'>): void;
  received(protocol: string, event: Omit<MailEvent, 'kind' | 'protocol' | 'at'>): void;
}

/** A bunyan-style logger, the shape smtp-server's `logger` option takes. */
export type SmtpLogger = Record<'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal', (entry: unknown, ...args: unknown[]) => void>;

/** The verbs counted by name (RFC 5321 §4.1 and the extensions smtp-server speaks); others count as UNKNOWN. */
const VERBS = new Set(['HELO', 'EHLO', 'LHLO', 'MAIL', 'RCPT', 'DATA', 'BDAT', 'RSET', 'NOOP', 'QUIT', 'VRFY', 'EXPN', 'HELP', 'STARTTLS', 'AUTH', 'XCLIENT', 'XFORWARD']);

const STAGES: Record<string, SmtpStage> = { HELO: 'helo', EHLO: 'helo', LHLO: 'helo', STARTTLS: 'starttls', AUTH: 'auth', MAIL: 'mail', RCPT: 'rcpt', DATA: 'data', BDAT: 'data' };

/** Connections tracked at most (a safety bound: entries normally go at close). */
const MAX_CONNECTIONS = 50_000;
/** Accepted recipients remembered per transaction (for the event; the count is exact). */
const MAX_RCPTS = 100;

interface Conn {
  stage: SmtpStage;
  client?: string;
  from?: string;
  rcpts: string[];
  pending?: string;
}

interface Entry {
  tnx?: string;
  cid?: string;
  command?: string;
  host?: string;
  user?: unknown;
}

/**
 * A reason label for a refusal, from its enhanced status code (RFC 3463) and where it
 * came; bounded, so it can be a metric label.
 */
export function rejectionReason(stage: SmtpStage, code: number, enhanced: string | undefined): string {
  switch (enhanced) {
    case '5.1.1':
      return 'unknown_user';
    case '5.1.3':
    case '5.1.7':
    case '5.1.8':
      return 'bad_address';
    case '4.2.2':
    case '5.2.2':
      return 'over_quota';
    case '5.3.4':
      return 'too_big';
    case '4.5.3':
    case '5.5.3':
      return 'too_many_recipients';
    case '5.4.5':
      return 'rate_limited';
    case '5.7.0':
      return 'auth_required';
    case '5.7.8':
      return 'auth_failed';
    case '4.3.0':
      return 'local_error';
    case '5.7.1':
      // RFC 5321 §3.6.2 relay denial at RCPT; elsewhere a policy refusal (DMARC, DNSBL, sender not owned).
      return stage === 'rcpt' ? 'relay_denied' : stage === 'connect' ? 'blocked' : 'policy';
    case '4.7.0':
      return stage === 'connect' ? 'too_many_connections' : 'policy_tempfail';
  }
  if (code === 421) return 'service_closing';
  if (code >= 500 && code <= 504) return 'protocol_error';
  if (enhanced?.startsWith('5.5.')) return 'protocol_error';
  return code >= 500 ? 'permanent' : 'temporary';
}

/** `<addr>` from a MAIL/RCPT command line (bounded), or undefined. */
function pathOf(line: unknown): string | undefined {
  if (typeof line !== 'string') return undefined;
  const m = /<([^>]{0,320})>/.exec(line);
  return m ? m[1] : undefined;
}

const userOf = (u: unknown): string | undefined => (typeof u === 'string' ? u : undefined);

/** A logger for smtp-server that feeds `sink`; one per listener protocol. */
export function smtpObserver(sink: SmtpSink, protocol: string): SmtpLogger {
  const conns = new Map<string, Conn>();
  const connOf = (cid: string): Conn => {
    let c = conns.get(cid);
    if (!c) {
      if (conns.size >= MAX_CONNECTIONS) conns.delete(conns.keys().next().value as string);
      conns.set(cid, (c = { stage: 'connect', rcpts: [] }));
    }
    return c;
  };

  const onCommand = (e: Entry, line: unknown) => {
    const c = connOf(e.cid!);
    // A continuation line of an AUTH exchange is not a command of its own.
    if (line === '/* secured */') return;
    const verb = VERBS.has(e.command ?? '') ? e.command! : 'UNKNOWN';
    sink.command(protocol, verb);
    c.stage = STAGES[verb] ?? 'other';
    if (verb === 'MAIL') {
      c.from = pathOf(line);
      c.rcpts = [];
    } else if (verb === 'RCPT') {
      c.pending = pathOf(line);
    } else if (verb === 'RSET' || c.stage === 'helo') {
      c.from = undefined;
      c.rcpts = [];
    }
  };

  const onSend = (e: Entry, payload: unknown) => {
    if (typeof payload !== 'string') return;
    const code = Number(payload.slice(0, 3));
    if (!Number.isInteger(code) || code < 200) return;
    const c = connOf(e.cid!);
    const base = { peer: c.client, user: userOf(e.user), from: c.from, reply: payload.slice(0, 500) };
    if (c.stage === 'rcpt' && code < 400) {
      if (c.pending !== undefined && c.rcpts.length < MAX_RCPTS) c.rcpts.push(c.pending);
      c.pending = undefined;
      return;
    }
    if (c.stage === 'data' && code === 354) return;
    if (code >= 400) {
      const enhanced = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(payload)?.[1];
      const to = c.stage === 'rcpt' ? (c.pending !== undefined ? [c.pending] : []) : c.stage === 'data' ? c.rcpts : [];
      sink.refused(protocol, c.stage, code, enhanced, { ...base, to });
    } else if (c.stage === 'data') {
      sink.received(protocol, { ...base, to: c.rcpts });
    }
    // The end of DATA ends the transaction (RFC 5321 §4.1.1.4), accepted or not.
    if (c.stage === 'data') {
      c.from = undefined;
      c.rcpts = [];
      c.stage = 'other';
    }
  };

  const log = (entry: unknown, ...args: unknown[]) => {
    const e = entry as Entry;
    if (!e || typeof e.cid !== 'string') return;
    switch (e.tnx) {
      case 'connection':
        if (typeof e.host === 'string') connOf(e.cid).client = e.host;
        return;
      case 'command':
        return onCommand(e, args[1]);
      case 'send':
        return onSend(e, args[1]);
      case 'close':
        conns.delete(e.cid);
        return;
    }
  };
  return { trace: log, debug: log, info: log, warn: log, error: log, fatal: log };
}
