/**
 * The spam scoring thread (./score-thread.ts starts it): port 25's messages are decoded,
 * tokenised and scored here (./score.ts), on the thread's own connections to the
 * classifier databases and its own count tables in memory, so the server's event loop
 * only hands the bytes over and reads back the verdicts.
 *
 * Messages in: `score` (answered by id), `changed` (the server trained an account: its
 * counts in memory are checked against the database before the next message, and an
 * account first trained is looked for again), `block` (tests: the thread sleeps, as a
 * stuck one would), `exit`.
 */
import { writeFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { Classifiers } from './classifier.js';
import { scoreMessage, type ScoreRequest, type ScoreResult } from './score.js';
import type { WorkerReply } from '../util/worker-client.js';

export type ToScorer = { t: 'score'; id: number; req: ScoreRequest } | { t: 'changed'; account: string } | { t: 'block'; ms: number } | { t: 'exit' };
export type FromScorer = WorkerReply<ScoreResult>;

/** The thread's name in /proc/<pid>/task/<tid>/comm. */
export const SCORER_THREAD_NAME = 'spam-score';

export interface ScorerData {
  dataRoot: string;
}

function main(): void {
  const port = parentPort;
  if (!port) throw new Error('score-worker.ts runs as a worker thread');
  // Named for top -H, ps -L and bench/spam's CPU per thread (Linux; elsewhere it stays unnamed).
  try {
    writeFileSync('/proc/thread-self/comm', SCORER_THREAD_NAME);
  } catch {
    // not Linux
  }
  const classifiers = new Classifiers((workerData as ScorerData).dataRoot);
  port.on('message', (m: ToScorer) => {
    if (m.t === 'changed') return classifiers.changed(m.account);
    if (m.t === 'block') return void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, m.ms);
    if (m.t === 'exit') {
      classifiers.close();
      port.close();
      return;
    }
    let reply: FromScorer;
    try {
      reply = { id: m.id, res: scoreMessage(classifiers, m.req) };
    } catch (err) {
      reply = { id: m.id, error: (err as Error).stack ?? String(err) };
    }
    port.postMessage(reply);
  });
}

main();
