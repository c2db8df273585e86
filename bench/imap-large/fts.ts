/**
 * The full-text index on the big INBOX (issue 16 item 3), ours only (Dovecot has none
 * without a Solr/Xapian plugin): how long the background fill takes after the files
 * appear, its size on disk per 10 000 messages, SEARCH SUBJECT/BODY/TEXT once it is
 * filled, a 2-letter needle (no trigram: every stored text is checked), and how long a
 * second client's NOOP waits while a costly SEARCH TEXT runs.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { RawClient } from '../lib-clients.js';
import { put, timed, type Figures } from './measure.js';
import { DOMAIN, PASSWORD, type Target } from './targets.js';

/** Indexed documents and all messages of the account, read beside the server (WAL readers do not block it). */
function progress(db: Database.Database): { done: number; all: number } {
  const done = db.prepare('SELECT count(*) FROM fts_docs').pluck().get() as number;
  const all = db.prepare('SELECT count(*) FROM messages').pluck().get() as number;
  return { done, all };
}

export async function measureFts(t: Target, f: Figures, bigDir: string, n: number): Promise<void> {
  if (t.name !== 'ours') return;
  const db = new Database(path.join(bigDir, 'index.sqlite'), { readonly: true, fileMustExist: true });
  const t0 = performance.now();
  for (let p = progress(db); p.done < p.all || p.all < n; p = progress(db)) {
    if (performance.now() - t0 > 20 * 60_000) throw new Error(`full-text fill stuck at ${p.done}/${p.all}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  put(t, f, 'full-text index filled (after the searches above)', (performance.now() - t0) / 1000, 's');
  const bytes = db.prepare("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'fts%'").pluck().get() as number;
  put(t, f, 'full-text index size per 10 000 messages', bytes / 1048576 / (n / 10_000), 'MB');
  db.close();
  const c = await RawClient.connect(t.imapPort);
  await c.cmd(`LOGIN big@${DOMAIN} ${PASSWORD}`);
  await c.cmd('SELECT INBOX');
  put(t, f, 'SEARCH SUBJECT (index filled)', await timed(c, 'SEARCH SUBJECT "quasar"'), 'ms');
  put(t, f, 'SEARCH BODY (index filled)', await timed(c, 'SEARCH BODY "needleword"'), 'ms');
  console.log(`  [${t.name}] SEARCH BODY found: ${/\* SEARCH([\d ]*)/.exec(c.lastText)?.[1]?.trim()}`);
  put(t, f, 'SEARCH TEXT (index filled)', await timed(c, 'SEARCH TEXT "needleword"'), 'ms');
  put(t, f, 'SEARCH BODY 2-letter needle (index filled)', await timed(c, 'SEARCH BODY "qz"'), 'ms');
  // A costly search and a second client's NOOPs meanwhile: the longest wait.
  const other = await RawClient.connect(t.imapPort);
  await other.cmd(`LOGIN big@${DOMAIN} ${PASSWORD}`);
  let running = true;
  const costly = timed(c, 'SEARCH TEXT "e"').finally(() => (running = false));
  let worst = 0;
  while (running) worst = Math.max(worst, await timed(other, 'NOOP'));
  put(t, f, 'SEARCH TEXT "e" (every message matches)', await costly, 'ms');
  put(t, f, 'longest NOOP of a second client meanwhile', worst, 'ms');
  other.close();
  c.close();
}
