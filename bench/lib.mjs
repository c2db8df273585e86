// Shared helpers for the benchmarks: start the built server as a child process on a
// temp data root, read its memory from /proc, and a minimal pipelining SMTP client.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const root = path.resolve(import.meta.dirname, '..');
export const cli = path.join(root, 'dist/cli/main.js');

/**
 * Servers started by this process and not yet stopped. A benchmark that throws half way
 * must not leave them running (they hold ports and CPU): they are killed when the
 * benchmark process exits, whatever the way out.
 */
const running = new Set();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

/**
 * Starts `mailserver serve` with only the listeners named in `ports` (others disabled),
 * on a new temp data root, or on `opts.data` (a restart: the config is written again).
 * `opts.asInstalled`: through dist/cli/main.js itself, as the Dockerfile and `npm start`
 * do (its first line's memory settings apply); otherwise `node dist/cli/main.js` with
 * BENCH_SERVER_NODE_ARGS.
 */
export async function startServer(ports, extraToml = '', opts = {}) {
  const data = opts.data ?? mkdtempSync(path.join(tmpdir(), 'mailserver-bench-'));
  mkdirSync(path.join(data, 'config'), { recursive: true });
  const all = ['smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s', 'http', 'https', 'managesieve'];
  const listen = all.map((k) => `${k} = ${ports[k] ?? -1}`).join('\n');
  writeFileSync(
    path.join(data, 'config', 'mailserver.toml'),
    `hostname = "mail.bench.test"\n[listen]\naddress = "127.0.0.1"\n${listen}\n[checks]\nenabled = false\n[limits]\nmax_connections_per_ip = 10000\nmax_recipients = 1000\n[auth]\nallow_plaintext_on_loopback = true\nfailure_delay_ms = 10\n[log]\nlevel = "warn"\n${extraToml}`,
  );
  const nodeArgs = process.env.BENCH_SERVER_NODE_ARGS ? process.env.BENCH_SERVER_NODE_ARGS.split(' ') : [];
  const [cmd, args] = opts.asInstalled && nodeArgs.length === 0 ? [cli, []] : [process.execPath, [...nodeArgs, cli]];
  const child = spawn(cmd, [...args, 'serve', '--data', data], { stdio: ['ignore', 'inherit', 'inherit'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  // wait for the first port to accept
  const first = Object.values(ports)[0];
  // BENCH_START_TIMEOUT_MS: a machine shared with busy test suites can take longer.
  const deadline = Date.now() + Number(process.env.BENCH_START_TIMEOUT_MS ?? 20000);
  for (;;) {
    try {
      await new Promise((resolve, reject) => {
        const s = net.connect(first, '127.0.0.1', () => { s.destroy(); resolve(); });
        s.on('error', reject);
      });
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error('server did not start');
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    data,
    pid: child.pid,
    cliRun: (...args) => execFileSync(process.execPath, [cli, '--data', data, ...args], { input: args.includes('--password-stdin') ? 'bench-password\n' : undefined }).toString(),
    memory: () => procMem(child.pid),
    /** Stops the server and removes its data root (kept with `{ keep: true }`, for a restart). */
    async stop({ keep = false } = {}) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      if (!keep) rmSync(data, { recursive: true, force: true });
    },
  };
}

export function procMem(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number((new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s) || [])[1] || 0);
  return { rssMB: kb('VmRSS') / 1024, peakMB: kb('VmHWM') / 1024 };
}

export function percentile(sorted, p) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** A minimal SMTP client speaking to our server: connect, EHLO, then transactions. */
export class SmtpClient {
  static connect(port) {
    return new Promise((resolve, reject) => {
      const c = new SmtpClient(net.connect(port, '127.0.0.1'));
      c.sock.once('error', reject);
      c.reply().then(() => resolve(c), reject);
    });
  }
  constructor(sock) {
    this.sock = sock;
    this.buf = '';
    this.waiting = [];
    sock.setEncoding('latin1');
    sock.on('data', (d) => { this.buf += d; this.pump(); });
  }
  pump() {
    for (;;) {
      if (!this.waiting.length) return;
      const m = /^(\d{3}) [^\r\n]*\r\n/m.exec(this.buf);
      if (!m) return;
      const end = m.index + m[0].length;
      const text = this.buf.slice(0, end);
      this.buf = this.buf.slice(end);
      this.waiting.shift()(text);
    }
  }
  reply() { return new Promise((r) => { this.waiting.push(r); this.pump(); }); }
  async cmd(line) { this.sock.write(line + '\r\n'); return this.reply(); }
  /** One transaction, pipelined (RFC 2920): MAIL, RCPT…, DATA in one write, then the body. */
  async send(from, rcpts, body) {
    this.sock.write(`MAIL FROM:<${from}>\r\n` + rcpts.map((r) => `RCPT TO:<${r}>\r\n`).join('') + 'DATA\r\n');
    const replies = [];
    for (let i = 0; i < rcpts.length + 2; i++) replies.push(await this.reply());
    if (!replies[replies.length - 1].startsWith('354')) throw new Error('DATA refused: ' + replies.join(''));
    this.sock.write(body + '.\r\n');
    const r = await this.reply();
    if (!r.startsWith('250')) throw new Error('message refused: ' + r);
  }
  close() { this.sock.write('QUIT\r\n'); this.sock.end(); }
}

export function message(sizeBytes, i) {
  const head = `From: bench@remote.example\r\nTo: user@bench.test\r\nSubject: bench ${i}\r\nMessage-ID: <${i}.${Date.now()}@remote.example>\r\n\r\n`;
  const line = 'The quick brown fox jumps over the lazy dog 0123456789 abcdefghij\r\n';
  let body = '';
  while (head.length + body.length < sizeBytes) body += line;
  return head + body;
}
