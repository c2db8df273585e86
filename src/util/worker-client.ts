/**
 * The server's side of a worker thread that answers requests by id: the full-text fill's
 * (src/store/maildir/fts-thread.ts) and spam scoring's (src/spam/score-thread.ts).
 *
 * - Started at the first request, beside the caller's module (workerEntry), with its
 *   young generation capped; unref'd while it has nothing to do, so an idle worker never
 *   keeps a process alive.
 * - A request not answered within `deadlineMs` ends the worker: every request it held is
 *   rejected (the caller's `late` error for the one that timed out), so nothing waits on a
 *   stuck worker for ever. A worker that fails or exits rejects what it held the same way;
 *   the next request starts a new one.
 * - With no request for `idleMs` the worker is told to exit (`release` tells it at once),
 *   so its heap and its SQLite connections go back to the OS.
 * - `stop` tells every worker started to exit and waits for it (terminated after STOP_MS).
 *
 * The worker answers `{ id, res }` or `{ id, error }`, and ends on `{ t: 'exit' }`.
 */
import { Worker, type TransferListItem } from 'node:worker_threads';
import { workerEntry } from './worker-entry.js';

/** How long a worker told to exit may take before it is terminated (ms). */
const STOP_MS = 2000;

export type WorkerReply<R> = { id: number; res: R } | { id: number; error: string };

export interface WorkerClientOptions {
  /** What log lines and errors call it ("full-text worker"). */
  name: string;
  /** The caller's import.meta.url and the worker's module name beside it. */
  callerUrl: string;
  module: string;
  workerData: unknown;
  /** The worker's young generation (MB). */
  youngMb: number;
  /** A worker with no request for this long exits (ms). */
  idleMs: number;
  /** A request not answered in this time ends the worker (ms). */
  deadlineMs: () => number;
  /** A worker's 'error' event (its requests are rejected with it). */
  onError?: (err: Error) => void;
}

interface Running<R> {
  worker: Worker;
  pending: Map<number, { resolve: (r: R) => void; reject: (e: Error) => void }>;
  exited: Promise<void>;
}

export class WorkerClient<R> {
  private current?: Running<R>;
  /** Every worker not yet exited (one current, others told to exit). */
  private readonly live = new Set<Running<R>>();
  private nextId = 1;
  private idleTimer?: NodeJS.Timeout;
  private stopped = false;
  /** A worker with no request for this long exits (ms; tests shorten it). */
  idleMs: number;

  constructor(private readonly o: WorkerClientOptions) {
    this.idleMs = o.idleMs;
  }

  /** Workers not yet exited. */
  get threads(): number {
    return this.live.size;
  }

  /**
   * Sends `msg` with a new id and resolves with the answer. Past the deadline the worker
   * is ended and every request it held rejected with `late(ms, held)` (which may log).
   */
  request(msg: object, late: (ms: number, held: number) => Error, transfer?: readonly TransferListItem[]): Promise<R> {
    if (this.stopped) return Promise.reject(new Error(`${this.o.name} stopped`));
    clearTimeout(this.idleTimer);
    const w = this.current ?? this.start();
    w.worker.ref();
    const id = this.nextId++;
    const ms = this.o.deadlineMs();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.ended(w, late(ms, w.pending.size));
        void w.worker.terminate();
      }, ms);
      const settled = () => clearTimeout(timer);
      w.pending.set(id, { resolve: (r) => (settled(), resolve(r)), reject: (e) => (settled(), reject(e)) });
      w.worker.postMessage({ ...msg, id }, transfer);
    });
  }

  /** Posts `msg` to the running worker, if there is one. */
  post(msg: object): void {
    this.current?.worker.postMessage(msg);
  }

  /** Posts `msg` to the worker, started if need be (tests). */
  postStarting(msg: object): void {
    (this.current ?? this.start()).worker.postMessage(msg);
  }

  /** No more requests for now: the worker exits at once rather than after idleMs; resolves once it has. */
  release(): Promise<void> {
    const w = this.current;
    if (!w || w.pending.size > 0) return Promise.resolve();
    clearTimeout(this.idleTimer);
    this.current = undefined;
    w.worker.postMessage({ t: 'exit' });
    return exitOf(w);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.idleTimer);
    this.current = undefined;
    await Promise.all(
      [...this.live].map((w) => {
        w.worker.postMessage({ t: 'exit' });
        return exitOf(w);
      }),
    );
  }

  private start(): Running<R> {
    const entry = workerEntry(this.o.callerUrl, this.o.module);
    const worker = new Worker(entry.code, { eval: entry.eval, workerData: this.o.workerData, resourceLimits: { maxYoungGenerationSizeMb: this.o.youngMb } });
    let exited: () => void = () => undefined;
    const w: Running<R> = { worker, pending: new Map(), exited: new Promise((resolve) => (exited = resolve)) };
    worker.on('message', (m: WorkerReply<R>) => {
      const p = w.pending.get(m.id);
      w.pending.delete(m.id);
      if ('error' in m) p?.reject(new Error(m.error));
      else p?.resolve(m.res);
      if (w.pending.size === 0) this.idle(w);
    });
    worker.on('error', (err) => {
      this.o.onError?.(err);
      this.ended(w, err);
    });
    worker.on('exit', (code) => {
      this.ended(w, new Error(`${this.o.name} exited (${code})`));
      this.live.delete(w);
      exited();
    });
    worker.unref();
    this.live.add(w);
    this.current = w;
    return w;
  }

  /** No request left: unref'd, and told to exit if none comes for idleMs. */
  private idle(w: Running<R>): void {
    w.worker.unref();
    if (this.current !== w) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.current !== w || w.pending.size > 0) return;
      this.current = undefined;
      w.worker.postMessage({ t: 'exit' });
    }, this.idleMs).unref();
  }

  /** The worker failed, exited or was ended: its requests are rejected, the next one starts another. */
  private ended(w: Running<R>, err: Error): void {
    if (this.current === w) this.current = undefined;
    for (const p of w.pending.values()) p.reject(err);
    w.pending.clear();
  }
}

/** Resolves when a worker told to exit has, terminating it after STOP_MS. */
async function exitOf(w: { worker: Worker; exited: Promise<void> }): Promise<void> {
  const late = setTimeout(() => void w.worker.terminate(), STOP_MS);
  await w.exited;
  clearTimeout(late);
}
