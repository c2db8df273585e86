/**
 * The strict side of the IMAP test client: a model of what the server has told this
 * session (message count, sequence number → UID, flags, the announced keywords, \Recent)
 * fed with every command the client sends and every response it receives, and a list of
 * violations: responses that contradict that model or that the command in progress does
 * not allow. Pure (no sockets), so it can be unit-tested on response lines and run
 * against Dovecot as well as our server.
 *
 * Rules checked (RFC 3501 = IMAP4rev1, RFC 9051 = IMAP4rev2):
 * - `* n EXISTS` never decreases the count (RFC 3501 §7.3.1, RFC 9051 §7.4.1).
 * - `* n EXPUNGE` names a message the session knows (1..exists), never while no command
 *   is in progress, nor during FETCH, STORE or SEARCH without UID (RFC 3501 §7.4.1,
 *   RFC 9051 §7.5.1).
 * - `* n FETCH` names a known message (RFC 9051 §7.5.2, §5.2); a UID never changes for
 *   a sequence number and UIDs ascend with sequence numbers (RFC 9051 §2.3.1.1); a
 *   FETCH answering UID FETCH/UID STORE carries UID (RFC 9051 §6.4.9).
 * - A keyword appears in FLAGS only after an untagged FLAGS listed it (RFC 3501
 *   §7.2.6, RFC 9051 §7.3.5).
 * - \Recent and `* n RECENT` only in IMAP4rev1 sessions (RFC 9051 appendix E); \Recent
 *   is never set again on a message this session saw without it (RFC 3501 §2.3.2).
 * - SEARCH/ESEARCH numbers without UID are known sequence numbers; ESEARCH carries the
 *   command's tag (RFC 4731 §3.1).
 * - SELECT/EXAMINE: FLAGS, EXISTS and OK [UIDVALIDITY] come before the tagged OK, and
 *   RECENT in IMAP4rev1 sessions (RFC 3501 §6.3.1, RFC 9051 §6.3.2).
 * - Any untagged response the command in progress does not call for (a LIST during
 *   FETCH, a BYE before LOGOUT, a status response with an unexpected code) is a
 *   violation; so is any response while no command is in progress (kept in `pending`
 *   of the client until a test takes it, see ImapTestClient.leftover).
 */
import type { Response, Value } from './imap-client.js';
import { ContextTracker } from './imap-checker-context.js';

export interface CommandInfo {
  tag: string;
  /** Upper case, 'UID ' prefix kept: 'UID FETCH'. */
  name: string;
  /** The text after the command name (literals not included). */
  args: string;
}

export class MailboxModel {
  exists = 0;
  /** Index = sequence number - 1. */
  uids: Array<number | undefined> = [];
  flags: Array<string[] | undefined> = [];
  /** Announced by untagged FLAGS; undefined until the first one. */
  keywords: Set<string> | undefined;
  permanentFlags: string[] | undefined;
  uidValidity: number | undefined;
  uidNext: number | undefined;
  recentCount: number | undefined;
  highestModseq: number | undefined;
  readOnly = false;
  constructor(readonly name: string) {}

  uidOf(seq: number): number | undefined {
    return this.uids[seq - 1];
  }

  seqOfUid(uid: number): number {
    return this.uids.indexOf(uid) + 1;
  }
}

/** Untagged response types each command may call for (besides mailbox updates). */
const SOLICITED: Record<string, readonly string[]> = {
  CAPABILITY: ['CAPABILITY'],
  LOGIN: ['CAPABILITY'],
  AUTHENTICATE: ['CAPABILITY'],
  LOGOUT: ['BYE'],
  ENABLE: ['ENABLED'],
  ID: ['ID'],
  NAMESPACE: ['NAMESPACE'],
  SELECT: ['LIST'],
  EXAMINE: ['LIST'],
  LIST: ['LIST', 'STATUS'],
  LSUB: ['LSUB'],
  STATUS: ['STATUS'],
  NOTIFY: ['STATUS'], // NOTIFY SET STATUS (RFC 5465 §3)
  SEARCH: ['SEARCH', 'ESEARCH'],
  'UID SEARCH': ['SEARCH', 'ESEARCH'],
  SORT: ['SORT', 'ESEARCH'], // RFC 5256 §4, ESORT RFC 5267 §3
  'UID SORT': ['SORT', 'ESEARCH'],
  THREAD: ['THREAD'],
  'UID THREAD': ['THREAD'],
  FETCH: ['FETCH'],
  'UID FETCH': ['FETCH'],
  STORE: ['FETCH'],
  'UID STORE': ['FETCH'],
  GETQUOTA: ['QUOTA'],
  GETQUOTAROOT: ['QUOTAROOT', 'QUOTA'],
  GETMETADATA: ['METADATA'], // RFC 5464 §4.2
  SETQUOTA: ['QUOTA'],
};

/** Commands after which no EXPUNGE may be sent (RFC 9051 §7.5.1). */
const NO_EXPUNGE = new Set(['FETCH', 'STORE', 'SEARCH', 'SORT', 'THREAD']);
/** Response codes of untagged OK allowed during a command (besides PERMANENTFLAGS, HIGHESTMODSEQ). */
const SELECT_CODES = new Set(['UIDVALIDITY', 'UIDNEXT', 'UNSEEN', 'NOMODSEQ', 'CLOSED', 'URLMECH', 'READ-ONLY', 'READ-WRITE', 'MAILBOXID']);

/** What the session learnt, for tests that keep a model of the mailbox (soak.test.ts). */
export type CheckerEvent =
  | { kind: 'fetch'; mailbox: string; uid: number; flags?: string[]; modseq?: number }
  | { kind: 'expunge'; mailbox: string; uid: number | undefined };

export class ImapChecker {
  readonly violations: string[] = [];
  /** Called for each FETCH of a known UID and each EXPUNGE/VANISHED (with the UID when known). */
  listener: ((e: CheckerEvent) => void) | undefined;
  rev2 = false;
  condstore = false;
  qresync = false;
  selected: MailboxModel | undefined;
  /** Commands sent and not yet answered, oldest first (pipelining). */
  readonly outstanding: CommandInfo[] = [];
  idling = false;
  /** NOTIFY SET in force (RFC 5465): mailbox updates, STATUS and LIST may come between commands. */
  notifying = false;
  /** Whether the last command awaits continuation lines (AUTHENTICATE, IDLE). */
  private selecting: MailboxModel | undefined;
  private seenInSelect = new Set<string>();
  /** Client-side write framing: partial line, literal bytes still to skip, the command being written. */
  private partial = '';
  private literalLeft = 0;
  private continuing = false;
  private greeted = false;
  /** Update contexts (CONTEXT=SEARCH/SORT, RFC 5267 §4): ./imap-checker-context.ts. */
  readonly updates = new ContextTracker((text, r) => this.violate(text, r));

  private violate(text: string, r?: Response): void {
    this.violations.push(r ? `${text}: ${r.raw.slice(0, 200)}` : text);
  }

  /** Bytes the client writes: commands are parsed from them (literals skipped). */
  wrote(data: string | Buffer): void {
    let s = typeof data === 'string' ? data : data.toString('latin1');
    if (this.literalLeft === 0 && this.partial) {
      s = this.partial + s;
      this.partial = '';
    }
    while (s.length > 0) {
      if (this.literalLeft > 0) {
        const n = Math.min(this.literalLeft, Buffer.byteLength(s, 'latin1'));
        s = s.slice(n);
        this.literalLeft -= n;
        continue;
      }
      const i = s.indexOf('\r\n');
      if (i < 0) {
        this.partial += s;
        return;
      }
      const line = s.slice(0, i);
      s = s.slice(i + 2);
      const lit = /~?\{(\d+)\+?\}$/.exec(line);
      // The first line of a command names it; lines after a literal continue it.
      if (!this.continuing) this.commandLine(line);
      this.continuing = lit !== null;
      if (lit) this.literalLeft = Number(lit[1]);
    }
  }

  private commandLine(line: string): void {
    const last = this.outstanding[this.outstanding.length - 1];
    if (this.idling) {
      if (/^DONE$/i.test(line.trim())) this.idling = false;
      return;
    }
    if (last && last.name === 'AUTHENTICATE') return; // a SASL response line
    const m = /^(\S+) (UID )?([A-Za-z]+)(?: (.*?))?(?: ?~?\{\d+\+?\})?$/is.exec(line);
    if (!m) return;
    const cmd: CommandInfo = { tag: m[1]!, name: (m[2] ? 'UID ' : '') + m[3]!.toUpperCase(), args: m[4] ?? '' };
    this.outstanding.push(cmd);
    if (cmd.name === 'SELECT' || cmd.name === 'EXAMINE') this.updates.reset();
    this.updates.command(cmd.tag, cmd.name, cmd.args);
    if (cmd.name === 'IDLE') this.idling = true;
    if (cmd.name === 'SELECT' || cmd.name === 'EXAMINE') {
      if (/\(CONDSTORE\)/i.test(cmd.args)) this.condstore = true;
    }
    if (/\bMODSEQ\b|CHANGEDSINCE|UNCHANGEDSINCE/i.test(cmd.args) && /FETCH|STORE|SEARCH/.test(cmd.name)) this.condstore = true;
  }

  /** The command whose responses arrive now (the server runs them in order). */
  get current(): CommandInfo | undefined {
    return this.outstanding[0];
  }

  /** Feeds one response; returns the violations it caused. */
  received(r: Response): string[] {
    const before = this.violations.length;
    if (!this.greeted) {
      this.greeted = true; // the greeting: OK, PREAUTH or BYE (RFC 9051 §7.1)
      if (r.tag === '*' && ['OK', 'PREAUTH', 'BYE'].includes(r.type)) return [];
      this.violate('greeting is not OK, PREAUTH or BYE', r);
    }
    if (r.tag === '+') return [];
    if (r.tag !== '*') this.tagged(r);
    else this.untagged(r);
    return this.violations.slice(before);
  }

  private tagged(r: Response): void {
    const i = this.outstanding.findIndex((c) => c.tag === r.tag);
    if (i < 0) {
      this.violate('tagged response for no command sent', r);
      return;
    }
    if (i > 0) this.violate(`tagged response out of order (${this.outstanding[0]!.tag} is still running)`, r);
    const cmd = this.outstanding.splice(i, 1)[0]!;
    // A literal refused before "+" (NO [TOOBIG]) is never sent: the next line is a command.
    if (this.outstanding.length === 0 && this.continuing) {
      this.continuing = false;
      this.literalLeft = 0;
    }
    if (cmd.name === 'IDLE') this.idling = false;
    this.updates.done(cmd.tag, cmd.name, cmd.args, r.type === 'OK');
    if (/^(CLOSE|UNSELECT|LOGOUT)$/.test(cmd.name) && r.type === 'OK') this.updates.reset();
    if (cmd.name === 'NOTIFY' && r.type === 'OK') this.notifying = !/^NONE\b/i.test(cmd.args.trim());
    if (cmd.name === 'SELECT' || cmd.name === 'EXAMINE') this.selectDone(r);
    else if ((cmd.name === 'CLOSE' || cmd.name === 'UNSELECT') && r.type === 'OK') this.selected = undefined;
    else if (cmd.name === 'LOGOUT') this.selected = undefined;
    if (r.type === 'OK' && r.code) this.taggedCode(cmd, r);
  }

  private selectDone(r: Response): void {
    const mb = this.selecting;
    this.selecting = undefined;
    if (r.type === 'NO') {
      this.selected = undefined; // RFC 9051 §6.3.2: a failed SELECT leaves no mailbox selected
      return;
    }
    if (r.type !== 'OK' || !mb) return;
    // RFC 3501 §6.3.1 / RFC 9051 §6.3.2: the required untagged responses.
    const need = ['FLAGS', 'EXISTS', 'UIDVALIDITY', ...(this.rev2 ? [] : ['RECENT'])];
    for (const n of need) if (!this.seenInSelect.has(n)) this.violate(`${n} missing before SELECT completed`, r);
    mb.readOnly = /READ-ONLY/i.test(r.code ?? '');
    this.selected = mb;
  }

  private taggedCode(cmd: CommandInfo, r: Response): void {
    const code = r.code!;
    const cu = /^COPYUID (\d+) (\S+) (\S+)$/i.exec(code);
    if (cu && setSize(cu[2]!) !== setSize(cu[3]!)) this.violate('COPYUID source and destination sets differ in size', r);
    if (/^COPYUID/i.test(code) && !/COPY|MOVE/.test(cmd.name)) this.violate('COPYUID on a command that is not COPY/MOVE', r);
    if (/^APPENDUID/i.test(code) && cmd.name !== 'APPEND') this.violate('APPENDUID on a command that is not APPEND', r);
  }

  private untagged(r: Response): void {
    const cmd = this.current;
    // A SELECT in progress starts a new model at its first untagged response.
    if (cmd && (cmd.name === 'SELECT' || cmd.name === 'EXAMINE') && !this.selecting) {
      this.selecting = new MailboxModel(cmd.args);
      this.seenInSelect = new Set();
      this.selected = undefined;
    }
    const mb = this.selecting ?? this.selected;
    // RFC 5267 §4.3.2: ESEARCH ADDTO/REMOVEFROM "MAY be sent at any time".
    const update = r.type === 'ESEARCH' && ContextTracker.isUpdate(r);
    if (!cmd && !this.idling && !this.notifying && !update) {
      if (r.type === 'BYE') return; // the server may end the session (timeouts, shutdown)
      this.violate('untagged response while no command is in progress', r);
    }
    switch (r.type) {
      case 'EXISTS':
        return this.exists(r, mb);
      case 'EXPUNGE':
        return this.expunge(r, mb, cmd);
      case 'VANISHED':
        return this.vanished(r, mb);
      case 'FETCH':
        return this.fetch(r, mb, cmd);
      case 'FLAGS':
        return this.flagsResponse(r, mb);
      case 'RECENT':
        if (this.rev2) this.violate('RECENT in an IMAP4rev2 session (RFC 9051 appendix E)', r);
        if (mb) {
          if (r.num! > mb.exists) this.violate('RECENT larger than EXISTS', r);
          mb.recentCount = r.num;
          if (this.selecting) this.seenInSelect.add('RECENT');
        }
        return;
      case 'OK':
      case 'NO':
      case 'BAD':
        return this.status(r, mb, cmd);
      case 'BYE':
        if (cmd?.name !== 'LOGOUT') this.violate('BYE during a command other than LOGOUT', r);
        return;
      case 'ENABLED':
        for (const v of r.values) {
          const u = String(v).toUpperCase();
          if (u === 'IMAP4REV2') this.rev2 = true;
          if (u === 'CONDSTORE') this.condstore = true;
          if (u === 'QRESYNC') this.qresync = this.condstore = true;
        }
        return this.solicited(r, cmd);
      case 'SEARCH':
        this.searchNumbers(r, mb, cmd, r.values.filter((v): v is number => typeof v === 'number'));
        return this.solicited(r, cmd);
      case 'SORT':
        this.searchNumbers(r, mb, cmd, r.values.filter((v): v is number => typeof v === 'number'));
        return this.solicited(r, cmd);
      case 'THREAD':
        this.searchNumbers(r, mb, cmd, (r.raw.slice(9).match(/\d+/g) ?? []).map(Number));
        return this.solicited(r, cmd);
      case 'ESEARCH':
        if (update) return this.updates.update(r, mb?.exists);
        this.esearch(r, mb, cmd);
        if (cmd) this.updates.initial(r, cmd.tag);
        return this.solicited(r, cmd);
      default:
        return this.solicited(r, cmd);
    }
  }

  private solicited(r: Response, cmd: CommandInfo | undefined): void {
    if (!cmd) return;
    if (this.notifying && (r.type === 'STATUS' || r.type === 'LIST')) return; // RFC 5465 §5.2–5.5
    const ok = SOLICITED[cmd.name] ?? [];
    if (!ok.includes(r.type)) this.violate(`untagged ${r.type} not called for by ${cmd.name}`, r);
  }

  private exists(r: Response, mb: MailboxModel | undefined): void {
    if (!mb) return this.violate('EXISTS with no mailbox selected', r);
    const n = r.num!;
    if (n < mb.exists) this.violate(`EXISTS went down from ${mb.exists} without EXPUNGE`, r);
    while (mb.uids.length < n) {
      mb.uids.push(undefined);
      mb.flags.push(undefined);
    }
    mb.exists = Math.max(mb.exists, n);
    if (this.selecting) this.seenInSelect.add('EXISTS');
  }

  private expunge(r: Response, mb: MailboxModel | undefined, cmd: CommandInfo | undefined): void {
    if (!mb) return this.violate('EXPUNGE with no mailbox selected', r);
    const n = r.num!;
    if (cmd && NO_EXPUNGE.has(cmd.name)) this.violate(`EXPUNGE during ${cmd.name} (RFC 9051 §7.5.1)`, r);
    if (n < 1 || n > mb.exists) return this.violate(`EXPUNGE of message ${n}, session knows ${mb.exists}`, r);
    this.listener?.({ kind: 'expunge', mailbox: mb.name, uid: mb.uids[n - 1] });
    this.updates.expunged(r, n, mb.uids[n - 1]);
    mb.uids.splice(n - 1, 1);
    mb.flags.splice(n - 1, 1);
    mb.exists--;
  }

  private vanished(r: Response, mb: MailboxModel | undefined): void {
    if (!this.qresync) this.violate('VANISHED without QRESYNC enabled (RFC 7162 §3.2.10)', r);
    if (!mb) return;
    const earlier = Array.isArray(r.values[0]);
    if (earlier) return;
    for (const uid of expandSet(String(r.values[0]))) {
      const seq = mb.seqOfUid(uid);
      if (seq === 0) continue;
      this.listener?.({ kind: 'expunge', mailbox: mb.name, uid });
      this.updates.expunged(r, seq, uid);
      mb.uids.splice(seq - 1, 1);
      mb.flags.splice(seq - 1, 1);
      mb.exists--;
    }
  }

  private fetch(r: Response, mb: MailboxModel | undefined, cmd: CommandInfo | undefined): void {
    if (!mb) return this.violate('FETCH with no mailbox selected', r);
    const n = r.num!;
    if (n < 1 || n > mb.exists) return this.violate(`FETCH for message ${n}, session knows ${mb.exists} (RFC 9051 §7.5.2)`, r);
    const attrs = attrMap(r);
    const uid = typeof attrs.UID === 'number' ? attrs.UID : undefined;
    const byUid = cmd && (cmd.name === 'UID FETCH' || cmd.name === 'UID STORE');
    if (byUid && uid === undefined) this.violate(`FETCH without UID during ${cmd.name} (RFC 9051 §6.4.9)`, r);
    const fetching = cmd && /^(UID )?(FETCH|STORE)$/.test(cmd.name);
    if (!fetching) {
      // Unsolicited FETCH: flag updates only (RFC 9051 §7.5.2 "unilateral").
      const extra = Object.keys(attrs).filter((k) => !['FLAGS', 'UID', 'MODSEQ'].includes(k));
      if (extra.length > 0) this.violate(`unsolicited FETCH with ${extra.join(' ')}`, r);
    }
    if (uid !== undefined) {
      const known = mb.uids[n - 1];
      if (known !== undefined && known !== uid) this.violate(`message ${n} was UID ${known}, now UID ${uid}`, r);
      for (let i = n - 2; i >= 0; i--) {
        const u = mb.uids[i];
        if (u === undefined) continue;
        if (u >= uid) this.violate(`UID ${uid} at ${n} not above UID ${u} at ${i + 1}`, r);
        break;
      }
      for (let i = n; i < mb.uids.length; i++) {
        const u = mb.uids[i];
        if (u === undefined) continue;
        if (u <= uid) this.violate(`UID ${uid} at ${n} not below UID ${u} at ${i + 1}`, r);
        break;
      }
      mb.uids[n - 1] = uid;
    }
    const flags = attrs.FLAGS;
    if (flags !== undefined) {
      if (!Array.isArray(flags)) return this.violate('FLAGS is not a list', r);
      const list = flags.map((f) => (f === null ? 'NIL' : String(f)));
      this.checkFlags(r, mb, n, list);
      mb.flags[n - 1] = list;
    }
    const modseq = attrs.MODSEQ;
    const ms = Array.isArray(modseq) && typeof modseq[0] === 'number' ? modseq[0] : undefined;
    if (ms !== undefined && (mb.highestModseq ?? 0) < ms) mb.highestModseq = ms;
    const known = mb.uids[n - 1];
    if (known !== undefined && this.listener) {
      this.listener({ kind: 'fetch', mailbox: mb.name, uid: known, ...(flags !== undefined && Array.isArray(flags) ? { flags: mb.flags[n - 1]! } : {}), ...(ms !== undefined ? { modseq: ms } : {}) });
    }
  }

  private checkFlags(r: Response, mb: MailboxModel, seq: number, list: string[]): void {
    const recent = list.some((f) => f.toLowerCase() === '\\recent');
    if (recent && this.rev2) this.violate('\\Recent in an IMAP4rev2 session', r);
    const before = mb.flags[seq - 1];
    if (recent && before && !before.some((f) => f.toLowerCase() === '\\recent')) this.violate('\\Recent set again on a message seen without it (RFC 3501 §2.3.2)', r);
    for (const f of list) {
      if (f.startsWith('\\')) continue;
      if (!mb.keywords?.has(f)) this.violate(`keyword ${f} used before an untagged FLAGS announced it (RFC 3501 §7.2.6)`, r);
    }
  }

  private flagsResponse(r: Response, mb: MailboxModel | undefined): void {
    if (!mb) return this.violate('FLAGS with no mailbox selected', r);
    const list = r.values[0];
    if (!Array.isArray(list)) return this.violate('FLAGS without a list', r);
    const names = list.map((f) => (f === null ? 'NIL' : String(f)));
    if (mb.keywords) for (const k of mb.keywords) if (!names.includes(k)) this.violate(`FLAGS dropped keyword ${k} announced before`, r);
    mb.keywords = new Set(names.filter((f) => !f.startsWith('\\')));
    if (this.selecting) this.seenInSelect.add('FLAGS');
  }

  private status(r: Response, mb: MailboxModel | undefined, cmd: CommandInfo | undefined): void {
    const code = (r.code ?? '').toUpperCase();
    const word = code.split(' ')[0] ?? '';
    if (this.updates.noUpdate(r, cmd?.tag)) return; // RFC 5267 §4.3.1
    if (r.type !== 'OK') return this.violate(`untagged ${r.type}`, r);
    if (word === 'PERMANENTFLAGS') {
      if (mb) mb.permanentFlags = (/\((.*)\)/.exec(r.code!)?.[1] ?? '').split(' ').filter(Boolean);
      return;
    }
    if (word === 'HIGHESTMODSEQ') {
      if (mb) mb.highestModseq = Number(code.split(' ')[1]);
      return;
    }
    const selecting = cmd && (cmd.name === 'SELECT' || cmd.name === 'EXAMINE');
    if (selecting && SELECT_CODES.has(word)) {
      if (mb && word === 'UIDVALIDITY') mb.uidValidity = Number(code.split(' ')[1]);
      if (mb && word === 'UIDNEXT') mb.uidNext = Number(code.split(' ')[1]);
      this.seenInSelect.add(word);
      return;
    }
    if (word === 'COPYUID' && cmd && /MOVE/.test(cmd.name)) {
      const cu = /^COPYUID (\d+) (\S+) (\S+)$/i.exec(r.code!);
      if (cu && setSize(cu[2]!) !== setSize(cu[3]!)) this.violate('COPYUID source and destination sets differ in size', r);
      return;
    }
    if (word === '' && this.idling) return; // keep-alive text during IDLE
    this.violate(`untagged OK${word ? ` [${word}]` : ''} not called for by ${cmd?.name ?? 'no command'}`, r);
  }

  private searchNumbers(r: Response, mb: MailboxModel | undefined, cmd: CommandInfo | undefined, nums: number[]): void {
    if (!mb || !cmd || cmd.name.startsWith('UID')) return;
    for (const n of nums) if (n < 1 || n > mb.exists) this.violate(`SEARCH result ${n} is not a message the session knows (${mb.exists})`, r);
  }

  private esearch(r: Response, mb: MailboxModel | undefined, cmd: CommandInfo | undefined): void {
    const v = r.values;
    const corr = Array.isArray(v[0]) ? v[0] : undefined;
    if (cmd && corr && String(corr[1]) !== cmd.tag) this.violate(`ESEARCH for tag ${String(corr[1])} during ${cmd.tag}`, r);
    const byUid = v.some((x) => typeof x === 'string' && x.toUpperCase() === 'UID');
    if (byUid || !mb) return;
    const nums: number[] = [];
    for (let i = 0; i + 1 < v.length; i++) {
      const k = typeof v[i] === 'string' ? String(v[i]).toUpperCase() : '';
      if (k === 'MIN' || k === 'MAX') nums.push(Number(v[i + 1]));
      if (k === 'ALL') nums.push(...expandSet(String(v[i + 1])));
    }
    this.searchNumbers(r, mb, cmd, nums);
  }
}

function attrMap(r: Response): Record<string, Value> {
  const list = r.values[0];
  const out: Record<string, Value> = {};
  if (!Array.isArray(list)) return out;
  for (let i = 0; i + 1 < list.length; i += 2) out[String(list[i]).toUpperCase()] = list[i + 1]!;
  return out;
}

/** "1:3,7" → [1,2,3,7] (bounded: large ranges are cut at 100 000 numbers). */
export function expandSet(s: string): number[] {
  const out: number[] = [];
  for (const part of s.split(',')) {
    const [a, b] = part.split(':').map(Number) as [number, number | undefined];
    const lo = Math.min(a, b ?? a);
    const hi = Math.max(a, b ?? a);
    for (let i = lo; i <= hi && out.length < 100_000; i++) out.push(i);
  }
  return out;
}

function setSize(s: string): number {
  let n = 0;
  for (const part of s.split(',')) {
    const [a, b] = part.split(':').map(Number) as [number, number | undefined];
    n += Math.abs((b ?? a) - a) + 1;
  }
  return n;
}
