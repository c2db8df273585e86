/**
 * Where a new password comes from, in this order:
 *   1. `--password-hash <hash>`: an existing hash (imports from Dovecot), stored as is;
 *   2. `--password-stdin`: all of standard input, less one trailing newline;
 *   3. `--password <pw>`: works, with a warning (visible in `ps` and shell history);
 *   4. a terminal on stdin: a prompt without echo, asked twice;
 *   5. otherwise a random password is generated and printed once on stdout.
 */
import { randomBytes } from 'node:crypto';
import { CliError, type CliContext } from './context.js';

export type NewPassword =
  | { kind: 'plain'; password: string; generated: boolean }
  | { kind: 'hash'; hash: string };

export interface PasswordOptions {
  'password-stdin'?: boolean;
  password?: string;
  'password-hash'?: string;
}

export async function newPassword(ctx: CliContext, opts: PasswordOptions): Promise<NewPassword> {
  const given = [opts['password-stdin'], opts.password !== undefined, opts['password-hash'] !== undefined].filter(Boolean).length;
  if (given > 1) throw new CliError('use only one of --password-stdin, --password and --password-hash', true);
  if (opts['password-hash'] !== undefined) return { kind: 'hash', hash: opts['password-hash'] };
  if (opts['password-stdin']) {
    const text = await readAll(ctx.io.stdin);
    const password = text.replace(/\r?\n$/, '');
    if (!password) throw new CliError('no password on standard input');
    if (password.includes('\n')) throw new CliError('the password on standard input must be one line');
    return { kind: 'plain', password, generated: false };
  }
  if (opts.password !== undefined) {
    ctx.warn('a password given on the command line is visible to other users and kept in shell history; prefer --password-stdin or the prompt');
    if (!opts.password) throw new CliError('the password must not be empty');
    return { kind: 'plain', password: opts.password, generated: false };
  }
  if (ctx.io.stdin.isTTY && ctx.io.stdin.setRawMode) {
    const a = await prompt(ctx, 'New password: ');
    if (!a) throw new CliError('the password must not be empty');
    const b = await prompt(ctx, 'Repeat password: ');
    if (a !== b) throw new CliError('the passwords do not match');
    return { kind: 'plain', password: a, generated: false };
  }
  return { kind: 'plain', password: generatePassword(), generated: true };
}

/** 20 characters from a URL-safe alphabet: 120 bits of randomness. */
export function generatePassword(): string {
  return randomBytes(15).toString('base64url');
}

/** All of a stream as UTF-8 text (standard input for --password-stdin, scripts for `sieve put -`). */
export function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer | string) => chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c)));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

/** Reads one line from the terminal in raw mode, echoing nothing. */
function prompt(ctx: CliContext, question: string): Promise<string> {
  const { stdin, stderr } = ctx.io;
  // Raw mode (no echo) before the prompt appears, so nothing typed after it is echoed.
  stdin.setRawMode?.(true);
  stderr.write(question);
  return new Promise((resolve, reject) => {
    let buf = '';
    const done = (err?: Error) => {
      stdin.removeListener('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      stderr.write('\n');
      if (err) reject(err);
      else resolve(buf);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new CliError('interrupted'));
        if (ch === '\u0004' && buf === '') return done(new CliError('no password given'));
        if (ch === '\u007f' || ch === '\b') buf = [...buf].slice(0, -1).join('');
        else if (ch === '\u0015') buf = '';
        else if (ch >= ' ') buf += ch;
      }
    };
    stdin.resume();
    stdin.on('data', onData);
  });
}
