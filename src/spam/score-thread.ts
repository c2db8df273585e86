/**
 * The spam scoring thread, seen from the server (issue 18): port 25's messages are
 * scored in ./score-worker.ts, one after the other, and answered by promise. Scoring
 * (decoding, tokenising, the count tables) was a third of the server's event-loop time
 * per message with the classifier on; in a thread of its own it runs beside the event
 * loop, which only copies the bytes over and reads back each account's verdict.
 *
 * - Started at the first message, from the same tree this file was loaded from; it stays
 *   while mail comes (unref'd while it has nothing to do: it never keeps a process alive),
 *   because its count tables in memory are what makes scoring cheap, and exits after
 *   `idleMs` without a message: its heap and connections (about 20 MB of RSS) go back to
 *   the OS on a server that is quiet, and the next message starts a new thread (about
 *   100 ms, then the counts are read again as they are needed).
 * - A verdict not answered within `timeoutMs` (`[spam] score_timeout_ms`) ends the
 *   thread: every message it held is rejected, and the caller delivers them unscored (a
 *   stuck thread never holds a delivery); the next message starts a new thread. A thread
 *   that fails or exits rejects what it held the same way.
 * - Training happens in the server (./train.ts); the thread is told which account
 *   changed (`changed`) before the next message reaches it (messages to a thread keep
 *   their order), so a message after a training is scored with it.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import { workerEntry } from '../util/worker-entry.js';
import type { ScoreRequest, ScoreResult } from './score.js';
import type { FromScorer, ScorerData, ToScorer } from './score-worker.js';

/** A verdict the thread did not give within the time allowed. */
export class ScoreTimeout extends Error {}

/**
 * The thread's young generation (MB). A message's tokens are garbage once it is scored,
 * so a small one is enough; V8's default let the thread's semi-spaces grow to 16 MB each
 * (bench/spam: the server's RSS 35 MB over the classifier off, against 10 MB in the
 * event loop before).
 */
const YOUNG_MB = 4;

/** How long `stop` waits for the thread to exit by itself before terminating it (ms). */
const STOP_MS = 2000;

/** A thread with no message for this long exits (ms). */
export const SCORE_IDLE_MS = 10 * 60_000;

interface Running {
  worker: Worker;
  pending: Map<number, { resolve: (r: ScoreResult) => void; reject: (e: Error) => void }>;
  exited: Promise<void>;
}

export class ScoreThread {
  private current?: Running;
  private readonly live = new Set<Running>();
  private nextId = 1;
  private stopped = false;
  private idleTimer?: NodeJS.Timeout;
  /** A thread with no message for this long exits (ms; tests shorten it). */
  idleMs = SCORE_IDLE_MS;
  /** Threads ended for not answering in time (tests, logs). */
  timeouts = 0;

  constructor(
    private readonly dataRoot: string,
    private readonly timeoutMs: () => number,
    private readonly log?: Logger,
  ) {}

  /** Threads not yet exited (tests). */
  get threads(): number {
    return this.live.size;
  }

  /** Scores one message in the thread; rejects if it fails, exits, or does not answer in time. */
  score(req: ScoreRequest): Promise<ScoreResult> {
    if (this.stopped) return Promise.reject(new Error('spam scoring thread stopped'));
    clearTimeout(this.idleTimer);
    const w = this.current ?? this.start();
    w.worker.ref();
    const id = this.nextId++;
    // A copy of the bytes read, transferred: the message's own buffer may be a view of a
    // larger one, which posting would copy whole.
    const bytes = new Uint8Array(req.bytes.byteLength);
    bytes.set(req.bytes);
    const ms = this.timeoutMs();
    return new Promise((resolve, reject) => {
      const late = setTimeout(() => {
        this.timeouts++;
        this.log?.warn({ ms, pending: w.pending.size }, 'spam scoring thread did not answer; ended, its messages delivered unscored');
        this.ended(w, new ScoreTimeout(`spam scoring thread did not answer within ${ms} ms`));
        void w.worker.terminate();
      }, ms);
      const settled = () => clearTimeout(late);
      w.pending.set(id, { resolve: (r) => (settled(), resolve(r)), reject: (e) => (settled(), reject(e)) });
      w.worker.postMessage({ t: 'score', id, req: { ...req, bytes } } satisfies ToScorer, [bytes.buffer]);
    });
  }

  /** The server trained `account`: the thread reads its counts again before the next message. */
  changed(account: string): void {
    this.current?.worker.postMessage({ t: 'changed', account } satisfies ToScorer);
  }

  /** Tests: the thread sleeps `ms` (as a stuck one would); started if need be. */
  block(ms: number): void {
    (this.current ?? this.start()).worker.postMessage({ t: 'block', ms } satisfies ToScorer);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.idleTimer);
    this.current = undefined;
    await Promise.all(
      [...this.live].map(async (w) => {
        w.worker.postMessage({ t: 'exit' } satisfies ToScorer);
        const late = setTimeout(() => void w.worker.terminate(), STOP_MS);
        await w.exited;
        clearTimeout(late);
      }),
    );
  }

  private start(): Running {
    const entry = workerEntry(import.meta.url, 'score-worker');
    const worker = new Worker(entry.code, { eval: entry.eval, workerData: { dataRoot: this.dataRoot } satisfies ScorerData, resourceLimits: { maxYoungGenerationSizeMb: YOUNG_MB } });
    let exited: () => void = () => undefined;
    const w: Running = { worker, pending: new Map(), exited: new Promise((resolve) => (exited = resolve)) };
    worker.on('message', (m: FromScorer) => {
      const p = w.pending.get(m.id);
      w.pending.delete(m.id);
      if ('error' in m) p?.reject(new Error(m.error));
      else p?.resolve(m.res);
      if (w.pending.size === 0) this.idle(w);
    });
    worker.on('error', (err) => {
      this.log?.warn({ err }, 'spam scoring thread failed');
      this.ended(w, err);
    });
    worker.on('exit', (code) => {
      this.ended(w, new Error(`spam scoring thread exited (${code})`));
      this.live.delete(w);
      exited();
    });
    worker.unref();
    this.live.add(w);
    this.current = w;
    return w;
  }

  /** No message left: unref'd, and told to exit if none comes for idleMs. */
  private idle(w: Running): void {
    w.worker.unref();
    if (this.current !== w) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.current !== w || w.pending.size > 0) return;
      this.current = undefined;
      w.worker.postMessage({ t: 'exit' } satisfies ToScorer);
    }, this.idleMs).unref();
  }

  /** The thread failed, exited or was ended: its messages are rejected, the next one starts another. */
  private ended(w: Running, err: Error): void {
    if (this.current === w) this.current = undefined;
    for (const p of w.pending.values()) p.reject(err);
    w.pending.clear();
  }
}
