/**
 * Runs the imaptest-style transcripts under test/transcripts/imap/*.txt.
 *
 * Format:
 *   header lines "key: value" up to the first blank line:
 *     state: nonauth | auth | selected   (default selected; selects "mailbox")
 *     mailbox: NAME                      (default INBOX)
 *     messages: N                        (N simple messages delivered before the start)
 *     connections: N                     (default 1)
 *   then commands, each followed by its expectations:
 *     [C ]STATUS COMMAND     C = connection number (1 default); STATUS = ok|no|bad|any
 *     * untagged pattern     must be received (in this order relative to each other)
 *     !* untagged pattern    must not be received
 *     = tagged text pattern  the text after the tagged status (e.g. "= [READ-WRITE] ...")
 *   Patterns: case-insensitive, whole response; "$name" captures one token (or matches
 *   the value captured before), "$$" matches one token, "..." matches anything.
 *   "#" starts a comment line.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { ImapTestClient, Response } from '../helpers/imap-client.js';
import { message, startImapFixture, USER, type ImapFixture } from './fixture.js';

const DIR = path.join(import.meta.dirname, '../transcripts/imap');
const files = readdirSync(DIR).filter((f) => f.endsWith('.txt')).sort();

let f: ImapFixture;
let n = 0;
beforeAll(async () => {
  f = await startImapFixture({ store: 'memory' });
});
afterAll(async () => {
  await f.close();
});

interface Step {
  conn: number;
  status: string;
  command: string;
  want: string[];
  notWant: string[];
  tagged?: string;
  line: number;
}

function parse(text: string): { headers: Record<string, string>; steps: Step[] } {
  const lines = text.split('\n');
  const headers: Record<string, string> = {};
  let i = 0;
  for (; i < lines.length && lines[i]!.trim() !== ''; i++) {
    const m = /^([a-z]+):\s*(.*)$/.exec(lines[i]!.trim());
    if (m) headers[m[1]!] = m[2]!;
  }
  const steps: Step[] = [];
  for (; i < lines.length; i++) {
    const l = lines[i]!.trimEnd();
    if (l.trim() === '' || l.startsWith('#')) continue;
    if (l.startsWith('* ')) steps[steps.length - 1]!.want.push(l);
    else if (l.startsWith('!* ')) steps[steps.length - 1]!.notWant.push(l.slice(1));
    else if (l.startsWith('= ')) steps[steps.length - 1]!.tagged = l.slice(2);
    else {
      const m = /^(?:(\d+) )?(ok|no|bad|any) (.*)$/i.exec(l);
      if (!m) throw new Error(`line ${i + 1}: cannot parse "${l}"`);
      steps.push({ conn: Number(m[1] ?? 1), status: m[2]!.toLowerCase(), command: m[3]!, want: [], notWant: [], line: i + 1 });
    }
  }
  return { headers, steps };
}

function compile(pattern: string, vars: Map<string, string>): { re: RegExp; names: string[] } {
  const names: string[] = [];
  let re = '';
  const tokens = pattern.split(/(\$\$|\$[A-Za-z_][A-Za-z0-9_]*|\.\.\.)/);
  for (const t of tokens) {
    if (t === '$$') re += '(?:"[^"]*"|[^\\s()]+)';
    else if (t === '...') re += '.*';
    else if (t.startsWith('$')) {
      const name = t.slice(1);
      if (vars.has(name)) re += vars.get(name)!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      else {
        names.push(name);
        re += '([^\\s()]+)';
      }
    } else re += t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ +/g, '\\s+');
  }
  return { re: new RegExp(`^${re}$`, 'is'), names };
}

function matchOne(pattern: string, r: string, vars: Map<string, string>): boolean {
  const { re, names } = compile(pattern, vars);
  const m = re.exec(r.trim());
  if (!m) return false;
  names.forEach((nm, i) => vars.set(nm, m[i + 1]!));
  return true;
}

async function run(file: string): Promise<void> {
  const { headers, steps } = parse(readFileSync(path.join(DIR, file), 'utf8'));
  const vars = new Map<string, string>();
  const user = `t${++n}@example.test`;
  await f.addAccount(user, 'pw');
  const mailbox = headers.mailbox ?? 'INBOX';
  vars.set('mailbox', mailbox);
  const state = headers.state ?? 'selected';
  if (mailbox !== 'INBOX') await f.ctx.store.createMailbox(user, mailbox);
  for (let i = 1; i <= Number(headers.messages ?? 0); i++) await f.deliver(user, message(i, { to: user }), mailbox);
  const conns: ImapTestClient[] = [];
  for (let i = 0; i < Number(headers.connections ?? 1); i++) {
    const c = await f.connect();
    if (state !== 'nonauth') await c.login(user, 'pw');
    if (state === 'selected') await c.transact('ok', `SELECT "${mailbox}"`);
    conns.push(c);
  }
  vars.set('user', user);
  try {
    for (const s of steps) {
      const c = conns[s.conn - 1]!;
      const cmd = s.command.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, v: string) => vars.get(v) ?? m);
      const { tagged, untagged } = await c.transact(s.status === 'any' ? null : (s.status as 'ok'), cmd);
      const got: Response[] = untagged;
      let from = 0;
      for (const w of s.want) {
        let found = -1;
        for (let j = from; j < got.length; j++) {
          if (matchOne(w, got[j]!.raw, vars)) {
            found = j;
            break;
          }
        }
        if (found < 0) throw new Error(`${file}:${s.line}: "${cmd}": expected ${w}\n got:\n${got.map((g) => g.raw).join('\n')}\n${tagged.raw}`);
        from = found + 1;
      }
      for (const w of s.notWant) {
        const hit = got.find((g) => matchOne(w, g.raw, new Map(vars)));
        if (hit) throw new Error(`${file}:${s.line}: "${cmd}": did not expect ${hit.raw}`);
      }
      if (s.tagged !== undefined) {
        const text = (tagged.code !== undefined ? `[${tagged.code}] ` : '') + tagged.text;
        if (!matchOne(s.tagged, text, vars)) throw new Error(`${file}:${s.line}: "${cmd}": tagged ${tagged.raw} does not match ${s.tagged}`);
      }
    }
  } finally {
    for (const c of conns) await c.close();
  }
  void USER;
}

describe('IMAP transcripts', () => {
  it.each(files)('%s', async (file) => {
    await run(file);
  });
});
