/**
 * Outbound SMTP sessions with nodemailer's low-level `smtp-connection` client: EHLO,
 * STARTTLS when offered (RFC 3207; opportunistic unless certificate verification is
 * asked for, then required), optional AUTH (relay host), then one or more transactions
 * on the same connection (MAIL FROM, one RCPT TO per recipient with its own reply, DATA;
 * RSET after a transaction that did not complete, RFC 5321 §4.1.1.5), then QUIT.
 *
 * Outcomes separate what the caller must tell apart:
 * - `unreachable`: no usable SMTP session (connect, greeting, TLS, AUTH, or the
 *   connection broke mid-transaction) → try the next address or host;
 * - `replies`: a per-recipient reply for every recipient (2xx delivered, 4xx retry,
 *   5xx bounce), including a MAIL FROM or DATA refusal applied to all of them.
 */
import { createReadStream } from 'node:fs';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import type { DsnEnvelope, DsnRecipientParams } from './dsn.js';

export interface SessionOptions {
  ip: string;
  port: number;
  /** Host name for SNI and certificate checks. */
  servername: string;
  /** Our EHLO name. */
  ehloName: string;
  localAddress?: string;
  /** Implicit TLS (relay on 465). */
  secure?: boolean;
  /** Verify the certificate and refuse to continue without TLS. */
  verifyTls: boolean;
  auth?: { user: string; pass: string };
  connectTimeoutMs: number;
  socketTimeoutMs?: number;
}

export interface Transaction {
  mailFrom: string;
  rcpts: string[];
  file: string;
  size: number;
  /**
   * RFC 3461 parameters, sent when the server offers DSN: RET/ENVID of the message,
   * NOTIFY/ORCPT shared by every recipient of this transaction (callers group them).
   */
  dsn?: DsnEnvelope & DsnRecipientParams;
}

export type AttemptOptions = SessionOptions & Transaction;

export interface RcptReply {
  rcpt: string;
  /** 2, 4 or 5. */
  klass: 2 | 4 | 5;
  /** The remote's reply text as received (code, enhanced code, text). */
  reply: string;
}

/** `dsn`: the server offers DSN (RFC 3461), so the parameters went on with the message. */
export type AttemptResult = { kind: 'unreachable'; reply: string } | { kind: 'replies'; replies: RcptReply[]; tls: boolean; dsn: boolean };

type SmtpErr = SMTPConnection.SMTPError & { recipient?: string; rejectedErrors?: Array<SMTPConnection.SMTPError & { recipient?: string }> };

function klassOf(code: number | undefined, fallback: 4 | 5 = 4): 2 | 4 | 5 {
  if (!code) return fallback;
  const k = Math.floor(code / 100);
  return k === 2 ? 2 : k === 5 ? 5 : 4;
}

function clean(s: string | undefined): string {
  return (s ?? '').replace(/[\r\n]+/g, ' ').trim();
}

/** One connection to one address, usable for several transactions in a row. */
export class OutboundSession {
  private broken = false;

  private constructor(
    private readonly conn: SMTPConnection,
    private readonly o: SessionOptions,
    private readonly step: <T>(p: Promise<T>) => Promise<T>,
  ) {}

  /** Connects, greets, upgrades to TLS and authenticates; `unreachable` when any of it fails. */
  static async open(o: SessionOptions): Promise<OutboundSession | { kind: 'unreachable'; reply: string }> {
    const conn = new SMTPConnection({
      host: o.ip,
      port: o.port,
      secure: Boolean(o.secure),
      name: o.ehloName,
      localAddress: o.localAddress || undefined,
      requireTLS: o.verifyTls && !o.secure,
      opportunisticTLS: !o.verifyTls,
      connectionTimeout: o.connectTimeoutMs,
      greetingTimeout: o.connectTimeoutMs,
      socketTimeout: o.socketTimeoutMs ?? 5 * 60_000,
      logger: false,
      tls: { servername: o.servername, rejectUnauthorized: o.verifyTls, minVersion: 'TLSv1.2' },
    });
    // nodemailer reports socket errors, timeouts and an early close as events, not
    // always through the pending callback: every step races this promise.
    let fail: (e: SmtpErr) => void = () => undefined;
    const failure = new Promise<never>((_, reject) => (fail = reject));
    failure.catch(() => undefined);
    conn.on('error', (err: SmtpErr) => fail(err));
    conn.on('end', () => fail(Object.assign(new Error('connection closed by the server'), { code: 'ECONNECTION' }) as SmtpErr));
    const step = <T>(p: Promise<T>): Promise<T> => Promise.race([p, failure]);
    const where = `(${o.servername} [${o.ip}]:${o.port})`;
    try {
      await step(new Promise<void>((resolve) => conn.connect(() => resolve())));
    } catch (err) {
      conn.close();
      const e = err as SmtpErr;
      // A 5xx greeting (RFC 5321 §3.1: 554 "no SMTP service here") is still "this host will not take it".
      return { kind: 'unreachable', reply: clean(e.response) || `${e.code ?? 'error'}: ${clean(e.message)} ${where}` };
    }
    if (o.auth) {
      try {
        await step(new Promise<void>((resolve, reject) => conn.login({ user: o.auth!.user, pass: o.auth!.pass }, (err) => (err ? reject(err) : resolve()))));
      } catch (err) {
        conn.close();
        const e = err as SmtpErr;
        return { kind: 'unreachable', reply: clean(e.response) || `authentication with the relay failed: ${clean(e.message)} ${where}` };
      }
    }
    return new OutboundSession(conn, o, step);
  }

  get usable(): boolean {
    return !this.broken;
  }

  /** Whether the server's EHLO offered DSN (nodemailer keeps the list; it has no accessor). */
  get offersDsn(): boolean {
    return ((this.conn as unknown as { _supportedExtensions?: string[] })._supportedExtensions ?? []).includes('DSN');
  }

  private envelope(t: Transaction): SMTPConnection.Envelope {
    const d = t.dsn;
    const dsn =
      d && (d.ret || d.envid || d.notify || d.orcpt)
        ? { ret: d.ret as SMTPConnection.DSNOptions['ret'], envid: d.envid, notify: d.notify as SMTPConnection.DSNOptions['notify'], orcpt: d.orcpt }
        : undefined;
    return { from: t.mailFrom, to: t.rcpts, size: t.size, use8BitMime: true, dsn };
  }

  /** One transaction. After a refused one the session is reset (RSET) for the next. */
  async send(t: Transaction): Promise<AttemptResult> {
    const { conn, o } = this;
    const tls = conn.secure;
    const info = await this.step(
      new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) => {
        conn.send(this.envelope(t), createReadStream(t.file), (err, res) => (err ? reject(err) : resolve(res)));
      }),
    ).catch((err: SmtpErr) => err);
    if (info instanceof Error) {
      const e = info as SmtpErr;
      if (!e.responseCode) {
        // The connection broke mid-transaction: nothing is known to be delivered.
        this.broken = true;
        return { kind: 'unreachable', reply: `${e.code ?? 'error'}: ${clean(e.message)} (${o.servername} [${o.ip}]:${o.port})` };
      }
      const perRcpt = new Map<string, RcptReply>();
      for (const r of e.rejectedErrors ?? []) {
        if (r.recipient) perRcpt.set(r.recipient, { rcpt: r.recipient, klass: klassOf(r.responseCode), reply: clean(r.response) });
      }
      // Recipients without their own refusal share the transaction's (MAIL FROM or DATA).
      const replies = t.rcpts.map((rcpt) => perRcpt.get(rcpt) ?? { rcpt, klass: klassOf(e.responseCode), reply: clean(e.response) });
      // RFC 5321 §4.1.1.5: RSET aborts the half-done transaction before the next one.
      if (e.responseCode === 421) this.broken = true;
      else await this.step(new Promise<void>((resolve, reject) => conn.reset((err) => (err ? reject(err) : resolve())))).catch(() => (this.broken = true));
      return { kind: 'replies', replies, tls, dsn: this.offersDsn };
    }
    const rejected = new Map<string, RcptReply>();
    for (const r of (info.rejectedErrors ?? []) as SmtpErr[]) {
      if (r.recipient) rejected.set(r.recipient, { rcpt: r.recipient, klass: klassOf(r.responseCode), reply: clean(r.response) });
    }
    const replies = t.rcpts.map((rcpt) => rejected.get(rcpt) ?? { rcpt, klass: 2 as const, reply: clean(info.response) });
    return { kind: 'replies', replies, tls, dsn: this.offersDsn };
  }

  /** QUIT (or just close when the session is broken). */
  close(): void {
    try {
      if (this.broken) this.conn.close();
      else this.conn.quit();
    } catch {
      this.conn.close();
    }
  }
}

/** One transaction on a fresh connection. */
export async function attemptDelivery(o: AttemptOptions): Promise<AttemptResult> {
  const s = await OutboundSession.open(o);
  if (!(s instanceof OutboundSession)) return s;
  try {
    return await s.send(o);
  } finally {
    s.close();
  }
}
