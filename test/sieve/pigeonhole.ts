/**
 * The differential corpus against Dovecot Pigeonhole (test/fixtures/sieve): cases,
 * running Debian's `sieve-test` on one case, and the normalised form both engines'
 * answers are compared in.
 *
 * `sieve-test` (dovecot-sieve) prints the actions a script takes on a message without
 * performing them. It needs a Dovecot config: a throwaway one in a temp dir, with the
 * extensions we implement enabled (vacation-seconds is off by default; Debian's
 * Pigeonhole 0.5.19 has no ereject, so ereject is tested by the unit tests only) and
 * TZ=UTC, so date tests without :zone agree. As root it drops to nobody. The script is
 * copied into the temp dir, where sieve-test may write its compiled binary.
 *
 * Used by test/sieve/differential.test.ts (recorded and live modes) and by
 * scripts/record-pigeonhole-sieve.ts, which writes test/fixtures/sieve/pigeonhole.json.
 */
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SIEVE_FIXTURES = fileURLToPath(new URL('../fixtures/sieve/', import.meta.url));
export const SIEVE_TEST_BIN = '/usr/bin/sieve-test';
export const RECORDED_FILE = path.join(SIEVE_FIXTURES, 'pigeonhole.json');

export interface Case {
  name: string;
  script: string;
  message: string;
  from: string;
  to: string;
}

/** What sieve-test answered for a case. */
export interface Recorded {
  exit: number;
  stdout: string;
  stderr: string;
}

/** Both engines' answers in one form. */
export interface Normalized {
  status: 'ok' | 'runtime-error' | 'compile-error';
  /** Line of the first compile error, when both report one. */
  errorLine?: number;
  actions: string[];
  implicitKeep: string[];
}

export function loadCases(): Case[] {
  const out: Case[] = [];
  for (const line of readFileSync(path.join(SIEVE_FIXTURES, 'cases.txt'), 'utf8').split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const [script, message, ...opts] = t.split(/\s+/) as [string, string, ...string[]];
    const o = Object.fromEntries(opts.map((x) => x.split('=') as [string, string]));
    out.push({ name: `${script}@${message}`, script, message, from: o.from ?? 'sender@example.org', to: o.to ?? 'me@example.test' });
  }
  return out;
}

export const scriptPath = (c: Case) => path.join(SIEVE_FIXTURES, 'scripts', `${c.script}.sieve`);
export const messagePath = (c: Case) => path.join(SIEVE_FIXTURES, 'messages', `${c.message}.eml`);

export function sieveTestAvailable(): boolean {
  return existsSync(SIEVE_TEST_BIN);
}

/** A throwaway Dovecot config for sieve-test; returns its directory (remove it after). */
export function makeSieveTestConfig(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sieve-test-'));
  chmodSync(dir, 0o777);
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const lines = [
    `base_dir = ${dir}/run`,
    `log_path = ${dir}/dovecot.log`,
    `mail_location = maildir:${dir}/mail`,
    'ssl = no',
    'protocols =',
    ...(root ? ['mail_uid = nobody', 'mail_gid = nogroup', 'first_valid_uid = 0', 'first_valid_gid = 0'] : []),
    'plugin {',
    '  sieve_extensions = +vacation-seconds',
    '  sieve_max_redirects = 4',
    '}',
  ];
  writeFileSync(path.join(dir, 'dovecot.conf'), lines.join('\n') + '\n');
  return dir;
}

export function removeSieveTestConfig(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Runs sieve-test on one case. */
export function runSieveTest(configDir: string, c: Case): Promise<Recorded> {
  // One file per case: cases sharing a script may run at the same time.
  const script = path.join(configDir, `${c.name.replace(/[^A-Za-z0-9-]/g, "_")}.sieve`);
  copyFileSync(scriptPath(c), script);
  chmodSync(script, 0o644);
  const args = ['-c', path.join(configDir, 'dovecot.conf'), '-f', c.from, '-r', c.to, '-a', c.to, script, messagePath(c)];
  const env = { USER: 'nobody', HOME: configDir, PATH: '/usr/bin:/bin', TZ: 'UTC' };
  return new Promise((resolve, reject) => {
    execFile(SIEVE_TEST_BIN, args, { env, timeout: 20_000 }, (err, stdout, stderr) => {
      let exit = 0;
      if (err) {
        // A non-zero exit is an answer (compile or runtime failure); anything else is not.
        const code = (err as { code?: unknown }).code;
        if (typeof code !== 'number') return reject(err);
        exit = code;
      }
      rmSync(script, { force: true });
      rmSync(script.replace(/\.sieve$/, '.svbin'), { force: true });
      resolve({ exit, stdout, stderr: stderr.split(configDir).join('') });
    });
  });
}

export function loadRecorded(): Record<string, Recorded> {
  return JSON.parse(readFileSync(RECORDED_FILE, 'utf8')) as Record<string, Recorded>;
}

const flagsOf = (s: string) =>
  s
    .split(' ')
    .filter(Boolean)
    .map((f) => f.toLowerCase())
    .sort()
    .join(' ');

/** Parses sieve-test's "Performed actions" / "Implicit keep" listing. */
export function normalizePigeonhole(r: Recorded): Normalized {
  if (/failed to compile sieve script/.test(r.stderr)) {
    const m = /: line (\d+): error:/.exec(r.stderr);
    return { status: 'compile-error', errorLine: m ? Number(m[1]) : undefined, actions: [], implicitKeep: [] };
  }
  if (r.exit !== 0) return { status: 'runtime-error', actions: [], implicitKeep: ['store INBOX'] };
  const out = r.stdout.replace(/\r/g, '');
  const [performed = '', implicit = ''] = out.split(/\nImplicit keep:\n/);
  return { status: 'ok', actions: parseActionList(performed.replace(/^[^]*?Performed actions:\n/, '')), implicitKeep: parseActionList(implicit) };
}

/** Reasons and handles as sieve-test prints them: line ends as "\n", control characters as "?". */
export function printable(s: string): string {
  return s.replace(/\r\n/g, '\n').replace(/[\x00-\x09\x0b-\x1f]/g, '?').trim();
}

function parseActionList(text: string): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  let store: { mailbox: string; flags: string; create: boolean; copy: boolean } | undefined;
  let redirect: { address: string; copy: boolean } | undefined;
  const flush = () => {
    if (store) out.push(storeLine(store));
    if (redirect) out.push(`redirect ${redirect.address}${redirect.copy ? ' copy' : ''}`);
    store = undefined;
    redirect = undefined;
  };
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    let m: RegExpExecArray | null;
    if ((m = /^ \* store message in folder: (.*)$/.exec(l))) {
      flush();
      store = { mailbox: m[1]!, flags: '', create: false, copy: false };
    } else if ((m = /^ \* redirect message to: <(.*)>$/.exec(l))) {
      flush();
      redirect = { address: m[1]!.toLowerCase(), copy: false };
    } else if (l === ' * discard') {
      flush();
      out.push('discard');
    } else if ((m = /^ \* reject message with reason: (.*)$/.exec(l))) {
      flush();
      // Line ends inside the reason are printed as "??" (CR LF).
      out.push(`reject ${JSON.stringify(m[1]!.replace(/\?\?/g, '\n').trim())}`);
    } else if (l === ' * send vacation message:') {
      flush();
      const head: string[] = [];
      while (i + 1 < lines.length && lines[i + 1] !== 'START MESSAGE') head.push(lines[++i]!);
      const body: string[] = [];
      i++;
      while (i + 1 < lines.length && lines[i + 1] !== 'END MESSAGE') body.push(lines[++i]!);
      i++;
      const f: Record<string, string> = {};
      for (const part of head.join('\n').split(/^ {4}=> /m).slice(1)) {
        const k = /^(\w+)\s*: /.exec(part);
        if (k) f[k[1]!] = part.slice(k[0].length).trim();
      }
      out.push(vacationLine({ seconds: f.seconds ?? '', subject: f.subject, from: f.from, handle: f.handle ?? '', reason: body.join('\n') }));
    } else if (store && (m = /^\s+\+ add IMAP flags: (.*)$/.exec(l))) {
      store.flags = m[1]!;
    } else if (store && /^\s+\+ create mailbox if it does not exist$/.test(l)) {
      store.create = true;
    } else if (/^\s+\+ preserve implicit keep$/.test(l)) {
      if (store) store.copy = true;
      if (redirect) redirect.copy = true;
    }
  }
  flush();
  return out;
}

/** One store action in the compared form (flags lower-cased and sorted). */
export function storeLine(s: { mailbox: string; flags: string | string[]; create: boolean; copy: boolean }): string {
  const flags = flagsOf(Array.isArray(s.flags) ? s.flags.join(' ') : s.flags);
  return `store ${s.mailbox}${flags ? ` flags=[${flags}]` : ''}${s.create ? ' create' : ''}${s.copy ? ' copy' : ''}`;
}

export function vacationLine(v: { seconds: string | number; subject?: string; from?: string; handle: string; reason: string }): string {
  return `vacation seconds=${v.seconds} subject=${JSON.stringify(v.subject ?? '')} from=${JSON.stringify(v.from ?? '')} handle=${JSON.stringify(printable(v.handle))} reason=${JSON.stringify(printable(v.reason))}`;
}
