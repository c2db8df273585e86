/**
 * Issue 16's table, for this server and for Dovecot side by side (same machine, same
 * window, same files): a large INBOX of small messages dropped into `cur/`, then
 * first / later SELECT, FETCH 1:* (FLAGS), SEARCH UNSEEN / SUBJECT / BODY / TEXT, RSS;
 * python imaplib APPEND latency; SELECT and STORE per command; POP3 with 10 clients
 * (50 RETR per session); LOGIN/s with 10 clients; SORT and THREAD on the big INBOX.
 * Prints figures, asserts nothing.
 *
 * Env: BENCH_LARGE_N (messages, default 100 000; the corpus is written once under
 * $TMPDIR/mailserver-bench-large-N and hard-linked into each server's Maildir),
 * BENCH_LARGE_SECONDS (POP3 and LOGIN runs, default 10), BENCH_LARGE_PARTS
 * (big,text,sort,append,cmd,pop3,login; `text` adds the SUBJECT/BODY/TEXT searches to
 * `big`, `sort` SORT/THREAD on the same INBOX), BENCH_LARGE_TARGETS (ours,dovecot).
 * Uses dist/ (`npm run build`, which `npm run bench` does first).
 */
import { buildCorpus, linkInto } from './corpus.js';
import { measureFts } from './fts.js';
import { measureAppend, measureBig, measureCommands, measureLogin, measurePop3, measureSort, type Figures } from './measure.js';
import { dovecotSkip, startDovecotTarget, startOurs, type Target } from './targets.js';

const N = Number(process.env.BENCH_LARGE_N ?? 100_000);
const SECONDS = Number(process.env.BENCH_LARGE_SECONDS ?? 10);
const PARTS = new Set((process.env.BENCH_LARGE_PARTS ?? 'big,text,sort,append,cmd,pop3,login').split(','));
const TARGETS = (process.env.BENCH_LARGE_TARGETS ?? 'dovecot,ours').split(',');
const CLIENTS = 10;
const POP_MESSAGES = 60;

async function runTarget(t: Target, corpus: ReturnType<typeof buildCorpus>): Promise<Figures> {
  const figures: Figures = new Map();
  const pops = Array.from({ length: CLIENTS }, (_, i) => `pop${i}`);
  const [bigDir, smallDir, , ...popDirs] = t.addAccounts(['big', 'small', 'append', ...pops]);
  for (const d of popDirs) linkInto(corpus, d!, POP_MESSAGES, t.owner);
  linkInto(corpus, smallDir!, 200, t.owner);
  if (PARTS.has('big') || PARTS.has('sort')) {
    const t0 = performance.now();
    linkInto(corpus, bigDir!, N, t.owner);
    console.log(`  [${t.name}] ${N} files linked into cur/ in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (PARTS.has('big')) await measureBig(t, figures, PARTS.has('text'));
  if (PARTS.has('big') && PARTS.has('text')) await measureFts(t, figures, bigDir!, N);
  if (PARTS.has('sort')) await measureSort(t, figures); // on the same big INBOX (issue 20)
  if (PARTS.has('append')) await measureAppend(t, figures);
  if (PARTS.has('cmd')) await measureCommands(t, figures);
  if (PARTS.has('pop3')) await measurePop3(t, pops, SECONDS, figures, `${CLIENTS} clients, own accounts`);
  // All on one maildrop: RFC 1939 §8 lets a server refuse a second session ([IN-USE], RFC 2449 §8.1.2).
  if (PARTS.has('pop3')) await measurePop3(t, pops.map(() => pops[0]!), SECONDS, figures, `${CLIENTS} clients, one account`);
  if (PARTS.has('login')) await measureLogin(t, pops, SECONDS, figures);
  return figures;
}

function printTable(results: Map<string, Figures>): void {
  const names = [...results.keys()];
  const rows = new Map<string, string>();
  for (const f of results.values()) for (const [k, v] of f) rows.set(k, v.unit);
  console.log(`\nissue 16 table, N = ${N} (ratio = ours / Dovecot)`);
  console.log(`${''.padEnd(64)}${names.map((n) => n.padStart(14)).join('')}   ratio`);
  for (const [label, unit] of rows) {
    const vals = names.map((n) => results.get(n)!.get(label)?.value);
    const cells = vals.map((v) => (v === undefined ? '-' : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)).padStart(14));
    const [d, o] = [results.get('Dovecot')?.get(label)?.value, results.get('ours')?.get(label)?.value];
    const ratio = d !== undefined && o !== undefined && d > 0 ? (o / d).toFixed(2) : '';
    console.log(`${`${label} (${unit})`.padEnd(64)}${cells.join('')}   ${ratio}`);
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const corpus = buildCorpus(Math.max(N, 200)); // the small mailboxes take up to 200
  console.log(`corpus of ${N} messages ${corpus.built ? 'written' : 'reused'} (${corpus.dir}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const results = new Map<string, Figures>();
  for (const which of TARGETS) {
    if (which === 'dovecot') {
      const missing = dovecotSkip();
      if (missing) {
        console.log(`Dovecot skipped: install Debian's ${missing}`);
        continue;
      }
    }
    const t = which === 'dovecot' ? await startDovecotTarget() : await startOurs();
    try {
      results.set(t.name, await runTarget(t, corpus));
    } finally {
      await t.stop();
    }
  }
  printTable(results);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
