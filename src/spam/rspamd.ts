/**
 * Rspamd's HTTP protocol (https://rspamd.com/doc/developers/protocol.html), the few calls
 * we use, over node:http with a timeout:
 *
 *   POST <rspamd_url>/checkv2              the message; envelope in headers (IP, Helo, From,
 *                                          Rcpt per recipient, Hostname, Queue-Id); answers
 *                                          JSON { action, score, required_score, symbols }
 *   POST <controller>/learnspam|learnham   the message, with the Password header; answers
 *                                          { success: true } (208 or an error when it
 *                                          already knew the message or cannot learn)
 *
 * Failures (refused, timeout, bad JSON) reject with RspamdError; the caller falls back to
 * the built-in classifier and logs it.
 */
import http from 'node:http';
import https from 'node:https';

export type RspamdAction = 'no action' | 'greylist' | 'add header' | 'rewrite subject' | 'soft reject' | 'reject';

export interface RspamdResult {
  action: RspamdAction;
  score: number;
  required: number;
  /** Symbols with a non-zero score, highest first. */
  symbols: Array<{ name: string; score: number }>;
}

export class RspamdError extends Error {}

export interface CheckEnvelope {
  ip: string;
  helo: string;
  from: string;
  rcpts: string[];
  hostname?: string;
  queueId?: string;
}

interface Request {
  url: string;
  body: Buffer;
  headers: Record<string, string | string[]>;
  timeoutMs: number;
}

function post(req: Request): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(req.url);
    } catch {
      reject(new RspamdError(`bad Rspamd URL ${req.url}`));
      return;
    }
    const mod = u.protocol === 'https:' ? https : http;
    const r = mod.request(u, { method: 'POST', headers: { ...req.headers, 'Content-Length': String(req.body.length) }, timeout: req.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 4 * 1024 * 1024) res.destroy(new RspamdError('answer too large'));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => reject(new RspamdError(e.message)));
    });
    r.on('timeout', () => r.destroy(new RspamdError(`no answer within ${req.timeoutMs} ms`)));
    r.on('error', (e) => reject(e instanceof RspamdError ? e : new RspamdError((e as NodeJS.ErrnoException).code ?? e.message)));
    r.end(req.body);
  });
}

function join(base: string, p: string): string {
  return base.replace(/\/+$/, '') + p;
}

/** Asks Rspamd for its verdict on a message. */
export async function rspamdCheck(url: string, message: Buffer, env: CheckEnvelope, timeoutMs: number): Promise<RspamdResult> {
  const headers: Record<string, string | string[]> = { IP: env.ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1'), From: env.from || '<>', Rcpt: env.rcpts };
  if (env.helo) headers.Helo = env.helo;
  if (env.hostname) headers.Hostname = env.hostname;
  if (env.queueId) headers['Queue-Id'] = env.queueId;
  const res = await post({ url: join(url, '/checkv2'), body: message, headers, timeoutMs });
  if (res.status !== 200) throw new RspamdError(`HTTP ${res.status}: ${res.body.slice(0, 200)}`);
  let j: { action?: string; score?: number; required_score?: number; symbols?: Record<string, { score?: number }> };
  try {
    j = JSON.parse(res.body) as typeof j;
  } catch {
    throw new RspamdError('answer is not JSON');
  }
  if (typeof j.action !== 'string') throw new RspamdError('answer has no action');
  const symbols = Object.entries(j.symbols ?? {})
    .map(([name, s]) => ({ name, score: typeof s?.score === 'number' ? s.score : 0 }))
    .filter((s) => s.score !== 0)
    .sort((a, b) => b.score - a.score || (a.name < b.name ? -1 : 1));
  return { action: j.action as RspamdAction, score: Number(j.score ?? 0), required: Number(j.required_score ?? 0), symbols };
}

/** Teaches Rspamd's statistics a message's class; resolves with what Rspamd said. */
export async function rspamdLearn(controllerUrl: string, password: string, message: Buffer, verdict: 'spam' | 'ham', timeoutMs: number): Promise<{ learned: boolean; text: string }> {
  const headers: Record<string, string> = {};
  if (password) headers.Password = password;
  const res = await post({ url: join(controllerUrl, verdict === 'spam' ? '/learnspam' : '/learnham'), body: message, headers, timeoutMs });
  let text = res.body.slice(0, 300);
  try {
    const j = JSON.parse(res.body) as { success?: boolean; error?: string };
    if (j.success) return { learned: true, text: 'ok' };
    if (j.error) text = j.error;
  } catch {
    // plain text answer
  }
  return { learned: false, text: `HTTP ${res.status}: ${text}` };
}
