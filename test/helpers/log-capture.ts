// A pino logger whose JSON lines tests can read back (what was logged, at what level).
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';

export function captureLog(level = 'info'): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger(level, dest), lines };
}
