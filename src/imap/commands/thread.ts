// THREAD / UID THREAD — RFC 5256 §3 (ORDEREDSUBJECT, REFERENCES), THREAD=REFS (draft-ietf-morg-inthread)
// thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
// Result: "* THREAD (2)(3 6 (4 23)(44 7 96))" (RFC 5256 §4), empty when nothing matched.
import { supportsSort } from '../../store/types.js';
import { ImapBad, ImapNo } from '../errors.js';
import type { Parser } from '../wire/parser.js';
import { runProgram } from '../sort/program.js';
import { formatThreads, thread as threadOf, THREAD_ALGORITHMS, type ThreadAlgorithm } from '../sort/thread.js';
import { accountOf, viewOf } from './helpers.js';
import { SELECTED, type CommandContext, type CommandSpec } from './types.js';

async function runThread(c: CommandContext, p: Parser, byUid: boolean): Promise<void> {
  p.sp();
  const alg = p.atom().toUpperCase() as ThreadAlgorithm;
  if (!THREAD_ALGORITHMS.includes(alg)) throw new ImapBad(`Unknown threading algorithm ${alg}`);
  p.sp();
  const prog = await runProgram(c, p);
  const store = c.conn.ctx.store;
  if (!supportsSort(store)) throw new ImapNo('THREAD is not available on this store', 'CANNOT');
  const view = viewOf(c);
  let out = '';
  if (prog.any) {
    const keys = await store.threadKeys(accountOf(c), view.mailboxId, prog.all ? undefined : prog.uids);
    const seen = keys.filter((k) => view.seqOf(k.uid as never) > 0);
    out = formatThreads(await threadOf(alg, seen), byUid ? (u) => u : (u) => view.seqOf(u as never));
  }
  const enc = c.conn.encoder();
  enc.raw(out ? `* THREAD ${out}` : '* THREAD').crlf();
  await c.conn.send(enc);
}

export const thread: CommandSpec = { name: 'THREAD', states: SELECTED, usesSeqs: true, handle: (c, p) => runThread(c, p, false) };
export const uidThread: CommandSpec = { name: 'UID THREAD', states: SELECTED, handle: (c, p) => runThread(c, p, true) };
