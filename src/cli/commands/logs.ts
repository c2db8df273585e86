/**
 * `logs [--follow] [--grep ADDRESS]`: reads the server's log file (`log.file`, JSON
 * lines) and prints each line readably, as the server prints to a terminal.
 *
 * --grep keeps the lines that mention the text (an address, an IP, a queue id), and
 * with them every line of the same connection (`cid`) or queue message (`qid`): the
 * EHLO and the 250 of a message whose recipient was grepped for, although only one
 * line names the address.
 *
 * --follow reads on as lines are appended; a file moved away by logrotate (another
 * inode, or a shorter file) is opened again from its start.
 */
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { lineFormatter } from '../../log.js';
import { CliError } from '../context.js';
import type { Command } from '../types.js';

const CHUNK = 64 * 1024;
const POLL_MS = 250;

/** Lines of `file` from byte `start` to `end` (an unfinished last line is left for the next read). */
async function* linesOf(file: string, start: number, end: number, state: { pos: number }): AsyncGenerator<string> {
  const fh = await open(file, 'r');
  try {
    let pos = start;
    let rest = '';
    const buf = Buffer.alloc(CHUNK);
    while (pos < end) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, end - pos), pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      const text = rest + buf.subarray(0, bytesRead).toString('utf8');
      const parts = text.split('\n');
      rest = parts.pop()!;
      state.pos = pos - Buffer.byteLength(rest);
      for (const p of parts) if (p) yield p;
    }
  } finally {
    await fh.close();
  }
}

/** Connection and queue ids of a JSON log line. */
function idsOf(line: string): string[] {
  try {
    const o = JSON.parse(line) as { cid?: unknown; qid?: unknown };
    return [o.cid, o.qid].filter((x) => typeof x === 'string' || typeof x === 'number').map((x) => `${typeof x}:${String(x)}`);
  } catch {
    return [];
  }
}

class Filter {
  private readonly ids = new Set<string>();
  constructor(private readonly needle?: string) {}

  /** Remembers the ids of a matching line (first pass, and as lines come in). */
  learn(line: string): boolean {
    if (!this.needle) return true;
    if (!line.toLowerCase().includes(this.needle)) return false;
    for (const id of idsOf(line)) this.ids.add(id);
    return true;
  }

  keeps(line: string): boolean {
    return !this.needle || line.toLowerCase().includes(this.needle) || idsOf(line).some((id) => this.ids.has(id));
  }
}

export const logsCommands: Command[] = [
  {
    name: 'logs',
    params: '',
    args: { min: 0, max: 0 },
    options: [
      { name: 'follow', help: 'keep reading as the server writes (Ctrl-C to stop)' },
      { name: 'grep', value: '<text>', help: 'only lines mentioning the text (an address, an IP), with the other lines of their connections' },
      { name: 'lines', value: '<n>', help: 'only the last n lines (default: all)' },
      { name: 'json', help: 'print the JSON lines as they are' },
    ],
    help: `Print the server's log file readably.

Reads the file set as log.file in config/mailserver.toml (or MAILSERVER_LOG_FILE),
where the server writes JSON lines besides its standard error, and prints one line per
event: time, level, protocol and connection id, message, details. Passwords and message
bodies are never in the log.`,
    async run(ctx, _args, opts) {
      const configured = ctx.config().log.file;
      if (!configured) throw new CliError('no log file: set log.file in config/mailserver.toml (the server logs to standard error only; see docs/backup.md)');
      const file = path.resolve(ctx.dataRoot, configured);
      const stdout = ctx.io.stdout as NodeJS.WritableStream & { isTTY?: boolean };
      const pretty = opts.json ? (l: string) => l : lineFormatter(Boolean(stdout.isTTY));
      const format = (l: string) => (l.startsWith('{') ? pretty(l) : l);
      const limit = typeof opts.lines === 'string' ? Number(opts.lines) : undefined;
      if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) throw new CliError('--lines needs a whole number', true);
      const filter = new Filter(typeof opts.grep === 'string' ? opts.grep.toLowerCase() : undefined);

      let st = await stat(file).catch(() => undefined);
      if (!st && !opts.follow) throw new CliError(`${file} does not exist yet (the server creates it at start)`);
      const state = { pos: 0 };
      if (st) {
        const end = st.size;
        if (typeof opts.grep === 'string') for await (const l of linesOf(file, 0, end, { pos: 0 })) filter.learn(l);
        const tail: string[] = [];
        for await (const l of linesOf(file, 0, end, state)) {
          if (!filter.keeps(l)) continue;
          if (limit === undefined) ctx.out(format(l));
          else if (limit > 0 && tail.push(l) > limit) tail.shift();
        }
        for (const l of tail) ctx.out(format(l));
      }
      if (!opts.follow) return;
      await new Promise<void>((resolve) => {
        let stopped = false;
        const stop = () => {
          stopped = true;
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        const tick = async () => {
          if (stopped) return;
          const now = await stat(file).catch(() => undefined);
          if (now && (!st || now.ino !== st.ino || now.size < state.pos)) state.pos = 0; // new or rotated
          if (now) {
            st = now;
            for await (const l of linesOf(file, state.pos, now.size, state)) if (filter.learn(l) || filter.keeps(l)) ctx.out(format(l));
          }
          setTimeout(() => void tick().catch(() => setTimeout(() => void tick(), POLL_MS)), POLL_MS);
        };
        void tick();
      });
    },
  },
];
