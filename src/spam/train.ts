/**
 * Training by what the user does, on every protocol: the trainer listens to the store's
 * change bus (not to IMAP commands), so a MOVE from any client, a POP3-less webmail later,
 * or a Sieve fileinto all count the same.
 *
 *   into Junk (MOVE, COPY, APPEND), or $Junk set outside Junk   → spam
 *   out of Junk to anywhere but Trash, or $NotJunk set in Junk  → ham, untraining the
 *                                                                 old verdict if any
 *   replied to (\Answered), filed from INBOX into another mailbox, $NotJunk outside Junk,
 *   read and kept in INBOX for `kept_inbox_days`                → ham, implicitly: at most
 *                                 `implicit_ham_per_day` per account, never over a verdict
 *   APPEND to Sent                                              → its recipients become
 *                                                                 known correspondents
 * Deliveries are never trained on (the filter would learn from itself); messages it filed
 * to Junk train only when the user moves them out. Each message trains once per verdict
 * (./db.ts `trained`, keyed by a hash of its bytes); changing the verdict untrains the old
 * one. Explicit verdicts are also learned by Rspamd when configured.
 *
 * Work happens off the bus: changes are queued (bounded) and handled one at a time,
 * yielding to the event loop between messages.
 */
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';
import type { AccountId, FlagChange, MailboxId, MailStore, StoreChange, Uid } from '../store/types.js';
import type { Classifiers } from './classifier.js';
import type { Verdict } from './db.js';
import { deliveredVerdict } from './decide.js';
import { readBounded, recipientsOf, scan, storedIdentities, type ScannedMessage } from './message.js';
import { trainingKeys } from './reputation.js';
import type { MailboxRoles, Role } from './roles.js';

/** Queued changes; beyond this, new ones are dropped (and logged once in a while). */
const MAX_PENDING = 10_000;
/** Deliveries remembered per account between sweeps for the "kept in INBOX" rule. */
const MAX_WATCH_MEMORY = 256;
const DAY_MS = 86_400_000;

const JUNK_FLAG = /^\$?junk$/i;
const NOTJUNK_FLAG = /^(\$notjunk|notjunk|nonjunk)$/i;

export interface TrainOptions {
  how: string;
  implicit: boolean;
  /** An implicit ham that corrects an earlier spam verdict counts as explicit ($NotJunk). */
  correctsSpam?: boolean;
  hostname: string;
  implicitPerDay: number;
  now?: number;
}

export type TrainOutcome = 'trained' | 'retrained' | 'same' | 'skipped' | 'no-account';

/**
 * Trains one scanned message for an account. Shared by the trainer and the CLI.
 * Returns what happened.
 */
export function trainMessage(classifiers: Classifiers, account: AccountId, m: ScannedMessage, verdict: Verdict, o: TrainOptions): TrainOutcome {
  const now = o.now ?? Date.now();
  const out = classifiers.update(account, (db, tokens): TrainOutcome => {
    const prev = db.trainedAs(m.key);
    let implicit = o.implicit;
    if (implicit && prev && !(o.correctsSpam && prev.verdict === 'spam')) return 'skipped';
    if (implicit && prev) implicit = false;
    const judged = () => {
      const filter = deliveredVerdict(m.fields);
      if (o.how !== 'imported') db.addJudgement({ at: now, user: verdict, filter: filter?.verdict, score: filter?.score, how: o.how });
    };
    if (prev && prev.verdict === verdict) {
      if (prev.implicit && !implicit) {
        db.setTrained(m.key, verdict, false, now);
        judged();
      }
      return 'same';
    }
    if (implicit && db.trainedSince(now - DAY_MS, true) >= o.implicitPerDay) return 'skipped';
    const keys = trainingKeys(storedIdentities(m.fields, o.hostname));
    if (prev) {
      tokens(m.tokens, prev.verdict, -1);
      db.addReputation(keys, prev.verdict, -1, now);
    }
    tokens(m.tokens, verdict, 1);
    db.addReputation(keys, verdict, 1, now);
    db.setTrained(m.key, verdict, implicit, now);
    judged();
    return prev ? 'retrained' : 'trained';
  });
  return out ?? 'no-account';
}

type Job =
  | { kind: 'added'; account: AccountId; mailboxId: MailboxId; uids: Uid[]; via: 'append' | 'copy' | 'move'; from?: MailboxId }
  | { kind: 'flags'; account: AccountId; mailboxId: MailboxId; changes: FlagChange[] }
  | { kind: 'kept'; account: AccountId; mailboxId: MailboxId; uid: Uid };

export interface TrainerDeps {
  store: MailStore;
  classifiers: Classifiers;
  roles: MailboxRoles;
  config: Config;
  log: Logger;
  /** Explicit verdicts go to Rspamd too, when configured. */
  learn?: (bytes: Buffer, verdict: Verdict) => void;
}

export class Trainer {
  private readonly jobs: Job[] = [];
  private running?: Promise<void>;
  private dropped = 0;
  private readonly watch = new Map<AccountId, Array<{ mailboxId: number; uid: number; at: number }>>();
  private readonly answered = new Set<string>();
  /** Accounts with watched deliveries in their database (swept even without new mail). */
  private readonly watching = new Set<AccountId>();
  /** Outcomes so far (tests, logs). */
  readonly counts: Record<string, number> = {};

  constructor(private readonly d: TrainerDeps) {}

  /** The bus listener: cheap, synchronous; the work is queued. */
  onChange(c: StoreChange): void {
    this.d.roles.onChange(c);
    if (c.kind === 'added') {
      const via = c.origin?.via;
      if (via === 'deliver') this.remember(c.account, c.mailboxId, c.uids);
      else if (via === 'append' || via === 'copy' || via === 'move') this.push({ kind: 'added', account: c.account, mailboxId: c.mailboxId, uids: c.uids, via, from: c.origin?.from });
    } else if (c.kind === 'flags') {
      const changes = c.changes.filter((f) => f.flags.some((x) => JUNK_FLAG.test(x) || NOTJUNK_FLAG.test(x) || x === '\\Answered'));
      if (changes.length) this.push({ kind: 'flags', account: c.account, mailboxId: c.mailboxId, changes });
    }
  }

  private push(j: Job): void {
    if (this.jobs.length >= MAX_PENDING) {
      if (this.dropped++ % 1000 === 0) this.d.log.warn({ pending: this.jobs.length, dropped: this.dropped }, 'spam training queue full; changes dropped');
      return;
    }
    this.jobs.push(j);
    this.running ??= this.work().finally(() => {
      this.running = undefined;
    });
  }

  /** Shutdown: drops what is queued (training is best-effort) and waits for the change in hand. */
  async stop(): Promise<void> {
    if (this.jobs.length) this.d.log.info({ dropped: this.jobs.length }, 'spam training queue dropped at shutdown');
    this.jobs.length = 0;
    await this.idle();
  }

  /** Resolves when every queued change has been handled (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async work(): Promise<void> {
    for (let j = this.jobs.shift(); j; j = this.jobs.shift()) {
      try {
        await this.handle(j);
      } catch (err) {
        this.d.log.warn({ err, account: j.account }, 'spam training failed');
      }
      await new Promise((r) => setImmediate(r));
    }
  }

  private async handle(j: Job): Promise<void> {
    const role = (id: MailboxId) => this.d.roles.roleOf(j.account, id);
    if (j.kind === 'kept') return this.one(j.account, j.mailboxId, j.uid, 'ham', 'kept in INBOX', true);
    if (j.kind === 'added') {
      const dst = await role(j.mailboxId);
      const src: Role | undefined = j.from !== undefined ? await role(j.from) : undefined;
      const verb = j.via === 'append' ? 'appended' : j.via === 'move' ? 'moved' : 'copied';
      for (const uid of j.uids.slice(0, MAX_PENDING)) {
        if (dst === 'junk' && src !== 'junk') await this.one(j.account, j.mailboxId, uid, 'spam', `${verb} to Junk`, false);
        else if (src === 'junk' && dst !== 'junk' && dst !== 'trash') await this.one(j.account, j.mailboxId, uid, 'ham', `${verb} out of Junk`, false);
        else if (j.via === 'append' && dst === 'sent') await this.sent(j.account, j.mailboxId, uid);
        else if (src === 'inbox' && (dst === 'other' || dst === 'inbox')) await this.one(j.account, j.mailboxId, uid, 'ham', 'filed', true);
      }
      return;
    }
    const where = await role(j.mailboxId);
    for (const f of j.changes) {
      if (f.flags.some((x) => JUNK_FLAG.test(x))) {
        // In Junk already: the user's move (trained then) or the filter's own filing.
        if (where !== 'junk') await this.one(j.account, j.mailboxId, f.uid, 'spam', 'flagged $Junk', false);
      } else if (f.flags.some((x) => NOTJUNK_FLAG.test(x))) {
        await this.one(j.account, j.mailboxId, f.uid, 'ham', 'flagged $NotJunk', where !== 'junk', true);
      } else if (f.flags.includes('\\Answered') && where !== 'junk' && where !== 'trash') {
        const k = `${j.account}\0${j.mailboxId}\0${f.uid}`;
        if (this.answered.has(k)) continue;
        if (this.answered.size > 10_000) this.answered.clear();
        this.answered.add(k);
        await this.one(j.account, j.mailboxId, f.uid, 'ham', 'replied to', true);
      }
    }
  }

  private async read(account: AccountId, mailboxId: MailboxId, uid: Uid): Promise<ScannedMessage | undefined> {
    let opened;
    try {
      opened = await this.d.store.readMessage(account, mailboxId, uid);
    } catch {
      return undefined; // moved or expunged meanwhile
    }
    const { bytes, truncated } = await readBounded(opened.stream, this.d.config.spam.maxScanSize);
    return scan(bytes, truncated, this.d.config.hostname);
  }

  private async one(account: AccountId, mailboxId: MailboxId, uid: Uid, verdict: Verdict, how: string, implicit: boolean, correctsSpam = false): Promise<void> {
    const m = await this.read(account, mailboxId, uid);
    if (!m) return;
    const outcome = trainMessage(this.d.classifiers, account, m, verdict, {
      how,
      implicit,
      correctsSpam,
      hostname: this.d.config.hostname,
      implicitPerDay: this.d.config.spam.implicitHamPerDay,
    });
    this.counts[outcome] = (this.counts[outcome] ?? 0) + 1;
    if (outcome === 'trained' || outcome === 'retrained') {
      this.d.log.debug({ account, verdict, how, outcome }, 'spam filter trained');
      if (!implicit || correctsSpam) this.d.learn?.(m.bytes, verdict);
    }
  }

  /** Mail the user sent: its recipients are known correspondents from now on. */
  private async sent(account: AccountId, mailboxId: MailboxId, uid: Uid): Promise<void> {
    const m = await this.read(account, mailboxId, uid);
    if (!m) return;
    const to = recipientsOf(m.fields);
    if (to.length === 0) return;
    this.d.classifiers.update(account, (db) =>
      db.addReputation(
        to.map((a) => ['sent', a]),
        'ham',
        1,
        Date.now(),
      ),
    );
  }

  // ---- kept in INBOX ----------------------------------------------------------------

  private remember(account: AccountId, mailboxId: MailboxId, uids: Uid[]): void {
    if (this.d.config.spam.implicitHamPerDay === 0) return;
    let list = this.watch.get(account);
    if (!list) {
      if (this.watch.size >= 10_000) return;
      list = [];
      this.watch.set(account, list);
    }
    for (const uid of uids) {
      const e = { mailboxId, uid, at: Date.now() };
      // Reservoir-like: once full, a new delivery replaces a random remembered one.
      if (list.length < MAX_WATCH_MEMORY) list.push(e);
      else list[Math.floor(Math.random() * MAX_WATCH_MEMORY)] = e;
    }
  }

  /**
   * Hourly: stores the deliveries remembered since the last sweep, and queues as ham the
   * watched INBOX messages older than `kept_inbox_days` that are still there, read and
   * not flagged junk (within the day's implicit budget).
   */
  async sweep(now = Date.now()): Promise<void> {
    const cfg = this.d.config.spam;
    const watched = new Map(this.watch);
    this.watch.clear();
    for (const a of this.watching) if (!watched.has(a)) watched.set(a, []);
    for (const [account, list] of watched) {
      const inbox: Array<{ mailboxId: number; uid: number; at: number }> = [];
      for (const e of list) if ((await this.d.roles.roleOf(account, e.mailboxId as MailboxId).catch(() => 'other')) === 'inbox') inbox.push(e);
      const due = this.d.classifiers.update(account, (db) => {
        db.watch(inbox, cfg.implicitHamPerDay * (cfg.keptInboxDays + 1));
        const taken = db.takeWatched(now - cfg.keptInboxDays * DAY_MS, cfg.implicitHamPerDay);
        if (db.watchCount() > 0) this.watching.add(account);
        else this.watching.delete(account);
        return taken;
      });
      for (const w of due ?? []) {
        const meta = await this.d.store.fetchMeta(account, w.mailboxId as MailboxId, { uids: [w.uid as Uid], fields: 'flags' }).catch(() => []);
        const m = meta[0];
        if (!m || !m.flags.includes('\\Seen') || m.flags.includes('\\Deleted') || m.flags.some((f) => JUNK_FLAG.test(f))) continue;
        this.push({ kind: 'kept', account, mailboxId: w.mailboxId as MailboxId, uid: w.uid as Uid });
      }
    }
  }
}
