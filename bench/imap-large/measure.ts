/** The figures of bench/imap-large, each measured the same way on every target. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { RawClient, RawPop3 } from '../lib-clients.js';
import { DOMAIN, PASSWORD, type Target } from './targets.js';

export type Figures = Map<string, { value: number; unit: string }>;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

export async function timed(c: RawClient, command: string): Promise<number> {
  const t0 = performance.now();
  await c.cmd(command);
  return performance.now() - t0;
}

export function put(t: Target, f: Figures, label: string, value: number, unit: string): void {
  f.set(label, { value, unit });
  console.log(`  [${t.name}] ${label}: ${value.toFixed(value >= 100 ? 0 : 2)} ${unit}`);
}

/**
 * Another user's session, polling with NOOP every 10 ms while a step runs: how long the
 * step makes everyone else wait (one event loop serves every session of ours; Dovecot
 * runs a process per session). Every 10 ms, as a polling client: a tight loop would make
 * 10 000s of NOOPs a second, whose garbage would be in the RSS figures.
 */
async function bystander(t: Target, f: Figures): Promise<{ watch(label: string, run: () => Promise<number>): Promise<number>; close(): void }> {
  const other = await RawClient.connect(t.imapPort);
  await other.cmd(`LOGIN small@${DOMAIN} ${PASSWORD}`);
  await other.cmd('SELECT INBOX');
  return {
    async watch(label, run) {
      let running = true;
      const ms = run().finally(() => (running = false));
      let worst = 0;
      for (; running; await new Promise((r) => setTimeout(r, 10))) worst = Math.max(worst, await timed(other, 'NOOP'));
      put(t, f, `${label}, longest NOOP of another user meanwhile`, worst, 'ms');
      return ms;
    },
    close: () => other.close(),
  };
}

/** The big INBOX: SELECT twice, FETCH FLAGS, searches (text searches with `text`), memory. */
export async function measureBig(t: Target, f: Figures, text = true): Promise<void> {
  const c = await RawClient.connect(t.imapPort);
  put(t, f, 'LOGIN (big account)', await timed(c, `LOGIN big@${DOMAIN} ${PASSWORD}`), 'ms');
  const idle = t.rssMB();
  const by = await bystander(t, f);
  const watched = (label: string, command: string): Promise<number> => by.watch(label, () => timed(c, command));
  // Server CPU beside each time: on a machine shared with other work it is the steadier figure.
  const step = async (label: string, command: string): Promise<void> => {
    const cpu0 = t.cpuMs();
    put(t, f, label, await watched(label, command), 'ms');
    put(t, f, `${label}, server CPU`, t.cpuMs() - cpu0, 'ms');
  };
  await step('first SELECT after the files appear', 'SELECT INBOX');
  const exists = /\* (\d+) EXISTS/.exec(c.lastText)?.[1];
  console.log(`  [${t.name}] SELECT says ${exists} EXISTS`);
  await step('later SELECT', 'SELECT INBOX');
  await step('FETCH 1:* (FLAGS)', 'FETCH 1:* (FLAGS)');
  await step('SEARCH UNSEEN', 'SEARCH UNSEEN');
  // Issue 16 item 2 (memory of a selected large mailbox) apart from what text searches
  // leave behind (parsers, FTS), which the figures below include.
  put(t, f, 'RSS selected, before text searches - idle', t.rssMB() - idle, 'MB');
  if (!text) {
    by.close();
    return finish(t, f, c, idle);
  }
  // The first text search fills our full-text index (in its worker thread).
  put(t, f, 'SEARCH SUBJECT (first time)', await watched('SEARCH SUBJECT (first time)', 'SEARCH SUBJECT "quasar"'), 'ms');
  put(t, f, 'SEARCH SUBJECT (second time)', await watched('SEARCH SUBJECT (second time)', 'SEARCH SUBJECT "quasar"'), 'ms');
  put(t, f, 'SEARCH BODY', await watched('SEARCH BODY', 'SEARCH BODY "needleword"'), 'ms');
  const hits = /\* SEARCH([\d ]*)/.exec(c.lastText)?.[1]?.trim();
  console.log(`  [${t.name}] SEARCH BODY found: ${hits}`);
  put(t, f, 'SEARCH TEXT', await watched('SEARCH TEXT', 'SEARCH TEXT "needleword"'), 'ms');
  by.close();
  await finish(t, f, c, idle, true);
}

/** Beyond the full-text fill's worker idle time (src/store/maildir/fts-thread.ts WORKER_IDLE_MS): the worker has exited. */
const SETTLE_MS = 5000;

async function finish(t: Target, f: Figures, c: RawClient, idle: number, text = false): Promise<void> {
  const after = t.rssMB();
  put(t, f, 'RSS logged in, nothing selected', idle, 'MB');
  put(t, f, 'RSS after the above (selected)', after, 'MB');
  put(t, f, 'RSS selected - idle', after - idle, 'MB');
  if (text) {
    // The fill's worker thread gives its memory back when it exits after a few idle seconds.
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    put(t, f, `RSS selected - idle, ${SETTLE_MS / 1000} s later`, t.rssMB() - idle, 'MB');
  }
  await c.cmd('LOGOUT').catch(() => undefined);
  c.close();
}

/**
 * SORT and THREAD (issue 20) on the big INBOX: the first SORT finds the files dropped
 * into cur/ without sort keys and computes them (both servers keep them), later ones
 * answer from the keys.
 */
export async function measureSort(t: Target, f: Figures): Promise<void> {
  const c = await RawClient.connect(t.imapPort);
  await c.cmd(`LOGIN big@${DOMAIN} ${PASSWORD}`);
  await c.cmd('SELECT INBOX');
  c.keep = true;
  const by = await bystander(t, f);
  const run = async (label: string, command: string): Promise<void> => {
    put(t, f, label, await by.watch(label, () => timed(c, command)), 'ms');
    answerOf(t, command, c.answer);
  };
  await run('SORT (DATE), first (keys of the dropped-in files)', 'SORT (DATE) UTF-8 ALL');
  for (const k of ['DATE', 'SUBJECT', 'FROM', 'SIZE']) await run(`SORT (${k})`, `SORT (${k}) UTF-8 ALL`);
  await run('SORT (REVERSE DATE) UTF-8 UNSEEN', 'SORT (REVERSE DATE) UTF-8 UNSEEN');
  await run('THREAD REFERENCES, first', 'THREAD REFERENCES UTF-8 ALL');
  await run('THREAD REFERENCES', 'THREAD REFERENCES UTF-8 ALL');
  await run('THREAD ORDEREDSUBJECT', 'THREAD ORDEREDSUBJECT UTF-8 ALL');
  compareAnswers(t);
  by.close();
  await c.cmd('LOGOUT').catch(() => undefined);
  c.close();
}

/** Each target's SORT/THREAD answers (a digest of the untagged SORT/THREAD lines), by command. */
const answers = new Map<string, Map<string, string>>();

function answerOf(t: Target, command: string, text: string): void {
  const lines = text.split('\r\n').filter((l) => /^\* (SORT|THREAD)\b/.test(l));
  const digest = `${lines.length} line(s), ${createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16)}`;
  let byTarget = answers.get(command);
  if (!byTarget) answers.set(command, (byTarget = new Map()));
  byTarget.set(t.name, digest);
}

/** Issue 20: the same answers as the targets measured before this one (Dovecot), command by command. */
function compareAnswers(t: Target): void {
  for (const [command, byTarget] of answers) {
    const mine = byTarget.get(t.name);
    for (const [other, theirs] of byTarget) {
      if (other === t.name) continue;
      console.log(`  [${t.name}] ${command}: ${mine === theirs ? 'same answer as' : 'DIFFERENT answer from'} ${other} (${mine} / ${theirs})`);
    }
  }
}

const APPENDS = 100;
const PY_APPEND = `
import imaplib, statistics, sys, time
host, port, user, pw, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
m = imaplib.IMAP4(host, port)
m.login(user, pw)
msg = b"From: a@example.org\\r\\nTo: b@example.org\\r\\nSubject: append bench\\r\\n\\r\\n" + b"hello world\\r\\n" * 20
lat = []
for i in range(n):
    t = time.perf_counter()
    typ, _ = m.append('INBOX', None, None, msg)
    lat.append((time.perf_counter() - t) * 1000)
    assert typ == 'OK', typ
m.logout()
print(statistics.median(lat))
`;

/** python imaplib APPEND (literal and closing CRLF in two writes): median latency. */
export async function measureAppend(t: Target, f: Figures): Promise<void> {
  const r = spawnSync('python3', ['-c', PY_APPEND, '127.0.0.1', String(t.imapPort), `append@${DOMAIN}`, PASSWORD, String(APPENDS)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python APPEND failed: ${r.stderr}`);
  put(t, f, 'APPEND, python imaplib, median', Number(r.stdout.trim()), 'ms');
}

/** SELECT and STORE one at a time on a 200-message INBOX: median per command. */
export async function measureCommands(t: Target, f: Figures): Promise<void> {
  const c = await RawClient.connect(t.imapPort);
  await c.cmd(`LOGIN small@${DOMAIN} ${PASSWORD}`);
  await c.cmd('SELECT INBOX');
  const sel: number[] = [];
  const sto: number[] = [];
  for (let i = 0; i < 300; i++) sel.push(await timed(c, 'SELECT INBOX'));
  for (let i = 0; i < 300; i++) sto.push(await timed(c, `STORE ${1 + (i % 200)} ${i % 400 < 200 ? '+' : '-'}FLAGS (\\Flagged)`));
  put(t, f, 'SELECT, one client, median', median(sel), 'ms');
  put(t, f, 'STORE, one client, median', median(sto), 'ms');
  c.close();
}

/** POP3: `clients` sessions at once (one account each), USER/PASS, 50 RETR, QUIT, for `seconds`. */
export async function measurePop3(t: Target, users: string[], seconds: number, f: Figures, label = `${users.length} clients`): Promise<void> {
  let sessions = 0;
  let retrs = 0;
  let inUse = 0;
  const errors: string[] = [];
  const end = Date.now() + seconds * 1000;
  const cpu0 = t.cpuMs();
  const worker = async (user: string): Promise<void> => {
    while (Date.now() < end) {
      let c: RawPop3 | undefined;
      try {
        c = await RawPop3.connect(t.pop3Port);
        await c.cmd(`USER ${user}@${DOMAIN}`);
        await c.cmd(`PASS ${PASSWORD}`);
        for (let i = 1; i <= 50; i++) {
          await c.cmd(`RETR ${i}`, true);
          retrs++;
        }
        await c.cmd('QUIT');
        sessions++;
      } catch (err) {
        const msg = (err as Error).message;
        if (msg.includes('[IN-USE]')) inUse++;
        else errors.push(msg);
      } finally {
        c?.close();
      }
    }
  };
  await Promise.all(users.map((u) => worker(u)));
  const cpu = t.cpuMs() - cpu0;
  put(t, f, `POP3 ${label}, sessions/s`, sessions / seconds, '/s');
  // CPU per session: what the server spends, less disturbed than rates on a busy machine.
  if (sessions > 0) put(t, f, `POP3 ${label}, server CPU per session`, cpu / sessions, 'ms');
  put(t, f, `POP3 ${label}, RETR/s`, retrs / seconds, '/s');
  put(t, f, `POP3 ${label}, errors (not [IN-USE])`, errors.length, '');
  put(t, f, `POP3 ${label}, [IN-USE] answers`, inUse, '');
  const kinds = new Map<string, number>();
  for (const e of errors) kinds.set(e.slice(0, 80), (kinds.get(e.slice(0, 80)) ?? 0) + 1);
  for (const [k, n] of kinds) console.log(`  [${t.name}]   ${n} × ${k}`);
}

/** IMAP connect + LOGIN + LOGOUT in a loop, one account per client. */
export async function measureLogin(t: Target, users: string[], seconds: number, f: Figures): Promise<void> {
  let logins = 0;
  let errors = 0;
  const end = Date.now() + seconds * 1000;
  const worker = async (user: string): Promise<void> => {
    while (Date.now() < end) {
      try {
        const c = await RawClient.connect(t.imapPort);
        await c.cmd(`LOGIN ${user}@${DOMAIN} ${PASSWORD}`);
        logins++;
        await c.cmd('LOGOUT');
        c.close();
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(users.map((u) => worker(u)));
  put(t, f, `LOGIN/s, ${users.length} clients`, logins / seconds, '/s');
  put(t, f, 'LOGIN errors', errors, '');
}
