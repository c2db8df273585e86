/**
 * The spam scoring thread, seen from the server (issue 18): port 25's messages are
 * scored in ./score-worker.ts, one after the other, and answered by promise. Scoring
 * (decoding, tokenising, the count tables) was a third of the server's event-loop time
 * per message with the classifier on; in a thread of its own it runs beside the event
 * loop, which only copies the bytes over and reads back each account's verdict.
 *
 * The thread's life (start, deadline, idle exit, stop) is ../util/worker-client.ts.
 * - Started at the first message; it stays
 *   while mail comes (unref'd while it has nothing to do: it never keeps a process alive),
 *   because its count tables in memory are what makes scoring cheap, and exits after
 *   `idleMs` without a message: its heap and connections (about 25 MB of RSS) go back to
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
import type { Logger } from '../log.js';
import { WorkerClient } from '../util/worker-client.js';
import type { ScoreRequest, ScoreResult } from './score.js';
import type { ScorerData, ToScorer } from './score-worker.js';

/** A verdict the thread did not give within the time allowed. */
export class ScoreTimeout extends Error {}

/**
 * The thread's young generation (MB). A message's tokens are garbage once it is scored,
 * so a small one is enough; V8's default let the thread's semi-spaces grow to 16 MB each
 * (bench/spam: the server's RSS 35 MB over the classifier off, against 10 MB in the
 * event loop before). A scavenge costs about the same however little survives it, so 8
 * rather than 4 halves their number: 4400 messages through the thread, 138 scavenges and
 * 90 ms against 272 and 139 ms (--trace-gc); bench/spam's server RSS while mail flows
 * ~5 MB higher (156 against 151 MB, 3 runs each), and back to the OS with the thread
 * after SCORE_IDLE_MS.
 */
const YOUNG_MB = 8;

/** A thread with no message for this long exits (ms). */
export const SCORE_IDLE_MS = 10 * 60_000;

export class ScoreThread {
  private readonly client: WorkerClient<ScoreResult>;
  /** Threads ended for not answering in time (tests, logs). */
  timeouts = 0;

  constructor(dataRoot: string, timeoutMs: () => number, private readonly log?: Logger) {
    this.client = new WorkerClient({
      name: 'spam scoring thread',
      callerUrl: import.meta.url,
      module: 'score-worker',
      workerData: { dataRoot } satisfies ScorerData,
      youngMb: YOUNG_MB,
      idleMs: SCORE_IDLE_MS,
      deadlineMs: timeoutMs,
      onError: (err) => log?.warn({ err }, 'spam scoring thread failed'),
    });
  }

  /** Threads not yet exited (tests). */
  get threads(): number {
    return this.client.threads;
  }

  /** A thread with no message for this long exits (ms; tests shorten it). */
  get idleMs(): number {
    return this.client.idleMs;
  }
  set idleMs(ms: number) {
    this.client.idleMs = ms;
  }

  /** Scores one message in the thread; rejects if it fails, exits, or does not answer in time. */
  score(req: ScoreRequest): Promise<ScoreResult> {
    // A copy of the bytes read, transferred: the message's own buffer may be a view of a
    // larger one, which posting would copy whole. Not zero-filled first: every byte is set.
    const bytes = Buffer.allocUnsafeSlow(req.bytes.byteLength);
    bytes.set(req.bytes);
    const msg = { t: 'score', req: { ...req, bytes } } satisfies Omit<ToScorer & { t: 'score' }, 'id'>;
    return this.client.request(
      msg,
      (ms, held) => {
        this.timeouts++;
        this.log?.warn({ ms, pending: held }, 'spam scoring thread did not answer; ended, its messages delivered unscored');
        return new ScoreTimeout(`spam scoring thread did not answer within ${ms} ms`);
      },
      [bytes.buffer],
    );
  }

  /** The server trained `account`: the thread reads its counts again before the next message. */
  changed(account: string): void {
    this.client.post({ t: 'changed', account } satisfies ToScorer);
  }

  /** Tests: the thread sleeps `ms` (as a stuck one would); started if need be. */
  block(ms: number): void {
    this.client.postStarting({ t: 'block', ms } satisfies ToScorer);
  }

  stop(): Promise<void> {
    return this.client.stop();
  }
}
