/**
 * Runs the POP3 conformance transcripts in test/transcripts/pop3/*.txt (the imaptest
 * idea, STYLE.md tests §4, with POP3's `+ok` / `-err`). Format:
 *
 *   # comment
 *   state: transaction        header lines up to the first blank line:
 *   messages: 3                 `state` authorization (default) | transaction: connection 1
 *                               starts logged in; `messages` N delivers message(1..N) first
 *
 *   [N ]COMMAND args          send a line on connection N (default 1; opened on first use)
 *   [N ]> raw text            send raw text verbatim (lines that start with + or -)
 *   [N ]+ok pattern           expect a +OK status line; `-err pattern` likewise
 *   [N ]+ pattern             expect a SASL continuation ("+ ...")
 *   [N ]| pattern             expect this body line of the multi-line response above
 *   [N ].                     end of that multi-line response (no more body lines)
 *   [N ]!drop                 drop connection N without QUIT
 *   [N ]!closed               expect the server to have closed connection N
 *
 * Patterns: a status word alone matches any text; otherwise the whole text must match,
 * where `*` matches anything and `$name` matches one token and binds it (later uses
 * must be equal). Predefined: $user $pass $hostname $plain (base64 SASL PLAIN
 * response for $user/$pass) $badplain (same with a wrong password).
 * Each transcript runs as its own account on one shared server.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pop3Client, parseStatus, unstuff } from '../helpers/pop3-client.js';
import { message, startPop3Env, type Pop3Env } from './env.js';

const DIR = path.join(import.meta.dirname, '..', 'transcripts', 'pop3');
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.txt')).sort();

type Step =
  | { conn: number; kind: 'send'; text: string; lineNo: number }
  | { conn: number; kind: 'status'; ok: boolean; pattern: string; lineNo: number; body?: string[] }
  | { conn: number; kind: 'cont'; pattern: string; lineNo: number }
  | { conn: number; kind: 'drop' | 'closed'; lineNo: number };

interface Transcript {
  state: 'authorization' | 'transaction';
  messages: number;
  steps: Step[];
}

function parseTranscript(src: string): Transcript {
  const lines = src.split('\n');
  const t: Transcript = { state: 'authorization', messages: 0, steps: [] };
  let i = 0;
  for (; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l === '') break;
    if (l.startsWith('#')) continue;
    const m = /^(\w+):\s*(.*)$/.exec(l);
    if (!m) throw new Error(`header line ${i + 1}: ${l}`);
    if (m[1] === 'state') t.state = m[2] as Transcript['state'];
    else if (m[1] === 'messages') t.messages = Number(m[2]);
    else throw new Error(`unknown header ${m[1]}`);
  }
  let lastStatus: Extract<Step, { kind: 'status' }> | undefined;
  for (; i < lines.length; i++) {
    const rawLine = lines[i]!.replace(/\r$/, '');
    if (rawLine.trim() === '' || rawLine.startsWith('#')) continue;
    const lineNo = i + 1;
    const pm = /^(\d+) (.*)$/.exec(rawLine);
    const conn = pm ? Number(pm[1]) : 1;
    const l = pm ? pm[2]! : rawLine;
    if (l.startsWith('| ') || l === '|' || l === '.') {
      if (!lastStatus || lastStatus.conn !== conn) throw new Error(`line ${lineNo}: body line without a +ok above`);
      lastStatus.body ??= [];
      if (l !== '.') lastStatus.body.push(l.slice(2));
      continue;
    }
    lastStatus = undefined;
    const sm = /^([+]ok|-err)(?: (.*))?$/i.exec(l);
    if (sm) {
      lastStatus = { conn, kind: 'status', ok: sm[1]!.toLowerCase() === '+ok', pattern: sm[2] ?? '', lineNo };
      t.steps.push(lastStatus);
    } else if (l === '+' || l.startsWith('+ ')) {
      t.steps.push({ conn, kind: 'cont', pattern: l.slice(2), lineNo });
    } else if (l === '!drop' || l === '!closed') {
      t.steps.push({ conn, kind: l.slice(1) as 'drop' | 'closed', lineNo });
    } else if (l.startsWith('> ')) {
      t.steps.push({ conn, kind: 'send', text: l.slice(2), lineNo });
    } else {
      t.steps.push({ conn, kind: 'send', text: l, lineNo });
    }
  }
  return t;
}

/** Matches `actual` against a pattern with `*` and `$var`; binds new vars into `vars`. */
function matchPattern(pattern: string, actual: string, vars: Map<string, string>): boolean {
  const names: string[] = [];
  let re = '';
  const tokens = pattern.split(/(\*|\$[A-Za-z_][A-Za-z0-9_]*)/);
  for (const tok of tokens) {
    if (tok === '*') re += '.*';
    else if (tok.startsWith('$')) {
      const name = tok.slice(1);
      const bound = vars.get(name);
      if (bound !== undefined) re += escapeRe(bound);
      else {
        names.push(name);
        re += '(\\S+)';
      }
    } else re += escapeRe(tok);
  }
  const m = new RegExp(`^${re}$`, 's').exec(actual);
  if (!m) return false;
  names.forEach((n, k) => vars.set(n, m[k + 1]!));
  return true;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('POP3 transcripts', () => {
  let env: Pop3Env;
  let n = 0;
  beforeAll(async () => {
    env = await startPop3Env({ store: 'memory', noAccount: true });
  });
  afterAll(async () => {
    await env?.close();
  });

  it('found transcripts', () => {
    expect(FILES.length).toBeGreaterThan(3);
  });

  it.each(FILES)('%s', async (file) => {
    const t = parseTranscript(readFileSync(path.join(DIR, file), 'utf8'));
    const user = `t${++n}@example.test`;
    const pass = `pw-${n}-secret`;
    await env.t.addAccount(user, pass);
    for (let i = 1; i <= t.messages; i++) await env.deliver(message(i), user);
    const vars = new Map<string, string>([
      ['user', user],
      ['pass', pass],
      ['hostname', env.t.config.hostname],
      ['plain', Buffer.from(`\0${user}\0${pass}`).toString('base64')],
      ['badplain', Buffer.from(`\0${user}\0wrong`).toString('base64')],
    ]);
    const conns = new Map<number, Pop3Client>();
    const conn = async (k: number): Promise<Pop3Client> => {
      let c = conns.get(k);
      if (!c) {
        c = await env.connect();
        expect(parseStatus(c.greeting).ok).toBe(true);
        if (k === 1 && t.state === 'transaction') expect((await c.login(user, pass)).ok).toBe(true);
        conns.set(k, c);
      }
      return c;
    };
    try {
      await conn(1);
      for (const step of t.steps) {
        const where = `${file}:${step.lineNo}`;
        const c = await conn(step.conn);
        switch (step.kind) {
          case 'send': {
            let text = step.text;
            for (const [k, v] of vars) text = text.split(`$${k}`).join(v);
            c.send(`${text}\r\n`);
            break;
          }
          case 'drop':
            c.destroy();
            conns.delete(step.conn);
            break;
          case 'closed':
            await c.waitClosed();
            conns.delete(step.conn);
            break;
          case 'cont': {
            const line = await c.readLine();
            expect(line, where).toBeDefined();
            expect(line!.startsWith('+ ') || line === '+', `${where}: ${line}`).toBe(true);
            if (step.pattern) expect(matchPattern(step.pattern, line!.slice(2), vars), `${where}: ${line}`).toBe(true);
            break;
          }
          case 'status': {
            const line = await c.readLine();
            expect(line, `${where}: connection closed`).toBeDefined();
            const st = parseStatus(line!);
            expect(st.ok, `${where}: ${line}`).toBe(step.ok);
            if (step.pattern) {
              const rest = line!.replace(/^(\+OK|-ERR) ?/i, '');
              expect(matchPattern(step.pattern, rest, vars), `${where}: ${JSON.stringify(line)} !~ ${step.pattern}`).toBe(true);
            }
            if (step.body) {
              const got = unstuff(await c.readMultiRaw());
              expect(got.length, `${where}: body ${JSON.stringify(got)}`).toBe(step.body.length);
              step.body.forEach((p, k) => {
                expect(matchPattern(p, got[k]!, vars), `${where}: body line ${k + 1} ${JSON.stringify(got[k])} !~ ${p}`).toBe(true);
              });
            }
            break;
          }
        }
      }
    } finally {
      for (const c of conns.values()) c.destroy();
    }
  });
});
