/**
 * Logging: one pino root, one child per connection (`proto`, `cid`, later `user`).
 * Passwords, private keys and message bodies are never logged; the redact list is a
 * second guard behind the code that never passes them in the first place.
 */
import { randomBytes } from 'node:crypto';
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env.MAILSERVER_LOG_LEVEL ?? 'info', dest?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: ['password', '*.password', 'pass', '*.pass', 'authorization', 'privateKey', '*.privateKey'], censor: '***' },
    },
    (dest ?? pino.destination({ dest: 2, sync: false })) as pino.DestinationStream,
  );
}

/** A short random connection id, as in every log line of that connection. */
export function newCid(): string {
  return randomBytes(6).toString('base64url');
}

export function childFor(log: Logger, proto: string, cid: string = newCid()): Logger {
  return log.child({ proto, cid });
}

/** A logger that drops everything, for tests and CLI verbs. */
export const silentLogger: Logger = pino({ level: 'silent' });
