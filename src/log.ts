/**
 * Logging: one pino root, one child per connection (`proto`, `cid`, later `user`).
 * Passwords, private keys and message bodies are never logged; the redact list is a
 * second guard behind the code that never passes them in the first place.
 *
 * Where lines go (createServerLogger): standard error gets one readable line per event
 * when it is a terminal (pino-pretty, in-process: no worker thread) and JSON lines
 * otherwise (journald, docker logs, a log shipper), or what `log.format` says; with
 * `log.file` set, JSON lines are appended to that file as well, which `mailserver logs`
 * reads back. Redaction happens before either stream sees a line.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { PrettyOptions } from 'pino-pretty';
import { randomBase64url } from './util/random.js';

export type { Logger };

const REDACT = {
  paths: ['password', '*.password', 'pass', '*.pass', 'authorization', 'privateKey', '*.privateKey', 'relayPassword', '*.relayPassword'],
  censor: '***',
};

export function createLogger(level: string = process.env.MAILSERVER_LOG_LEVEL ?? 'info', dest?: NodeJS.WritableStream): Logger {
  return pino({ level, base: undefined, redact: REDACT }, (dest ?? pino.destination({ dest: 2, sync: false })) as pino.DestinationStream);
}

/**
 * How a line reads: `[12:03:04.567] INFO: [smtp Xk3f9a] message accepted {"from":...}`.
 * The connection's protocol (or component) and id lead, the rest follows on the same
 * line; errors too (their stack stays escaped inside the JSON).
 */
/** pino-pretty, loaded only when a line is to be prettified (loading it costs a CLI verb a quarter second). */
function prettyFactory(opts: PrettyOptions): (line: string) => string {
  const lib = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  return lib.prettyFactory(opts);
}

export function prettyOptions(opts: { colorize: boolean; date?: boolean }): PrettyOptions {
  return {
    colorize: opts.colorize,
    singleLine: true,
    errorLikeObjectKeys: [],
    translateTime: opts.date ? 'SYS:yyyy-mm-dd HH:MM:ss.l' : 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,proto,cid,component',
    messageFormat: (log, key) => {
      const who = [log.proto ?? log.component, log.cid].filter((x) => typeof x === 'string').join(' ');
      return `${who ? `[${who}] ` : ''}${String(log[key] ?? '')}`;
    },
  };
}

/** A function turning one JSON log line into its readable form (`mailserver logs`). */
export function lineFormatter(colorize: boolean): (line: string) => string {
  const f = prettyFactory(prettyOptions({ colorize, date: true }));
  return (line) => f(line).replace(/\n+$/, '');
}

/**
 * Pretty lines to `dest`, in-process. (pino-pretty's own stream re-adds `err` to the
 * error keys it prints over several lines; one event must stay one line.)
 */
function prettyStream(dest: { write(s: string): unknown }, colorize: boolean): Writable {
  const format = prettyFactory(prettyOptions({ colorize }));
  return new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      dest.write(format(chunk.toString()));
      cb();
    },
  });
}

export interface ServerLogOptions {
  level: string;
  format?: 'auto' | 'json' | 'pretty';
  /** Append JSON lines here too (absolute, or relative to dataRoot). */
  file?: string;
  dataRoot?: string;
  /** Standard error by default. */
  stderr?: NodeJS.WritableStream & { isTTY?: boolean; fd?: number };
}

export interface ServerLog {
  log: Logger;
  /** The log file's absolute path, when there is one. */
  file?: string;
  /** Reopens the log file (after logrotate moved it: SIGHUP). */
  reopen(): void;
  /** Writes out what is buffered (before the process exits). */
  flush(): void;
}

export function createServerLogger(opts: ServerLogOptions): ServerLog {
  const stderr = opts.stderr ?? process.stderr;
  const pretty = opts.format === 'pretty' || ((opts.format ?? 'auto') === 'auto' && Boolean(stderr.isTTY));
  const toStderr = stderr === process.stderr ? pino.destination({ dest: 2, sync: false }) : stderr;
  const streams: pino.StreamEntry[] = [
    { level: 'trace', stream: (pretty ? prettyStream(toStderr, Boolean(stderr.isTTY)) : toStderr) as pino.DestinationStream },
  ];
  let fileDest: ReturnType<typeof pino.destination> | undefined;
  const file = opts.file ? path.resolve(opts.dataRoot ?? '.', opts.file) : undefined;
  if (file) {
    fileDest = pino.destination({ dest: file, mkdir: true, append: true, sync: false, mode: 0o640 });
    streams.push({ level: 'trace', stream: fileDest });
  }
  const log = pino({ level: opts.level, base: undefined, redact: REDACT }, pino.multistream(streams));
  return {
    log,
    file,
    reopen: () => fileDest?.reopen(),
    flush: () => {
      for (const s of [toStderr, fileDest]) {
        const d = s as { flushSync?: () => void } | undefined;
        try {
          d?.flushSync?.();
        } catch {
          // not ready yet (nothing written), or closed
        }
      }
    },
  };
}

/** A short random connection id, as in every log line of that connection. */
export function newCid(): string {
  return randomBase64url(6);
}

export function childFor(log: Logger, proto: string, cid: string = newCid()): Logger {
  return log.child({ proto, cid });
}

/** A logger that drops everything, for tests and CLI verbs. */
export const silentLogger: Logger = pino({ level: 'silent' });
