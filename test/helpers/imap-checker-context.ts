/**
 * The strict checker's model of update contexts (CONTEXT=SEARCH / CONTEXT=SORT, RFC 5267
 * §4): the result list each SEARCH/SORT RETURN (UPDATE ...) left, kept up to date with
 * the `* ESEARCH (TAG "t") [UID] ADDTO (...) REMOVEFROM (...)` the server sends.
 *
 * Rules checked:
 * - ADDTO/REMOVEFROM name a tag whose searching command asked for UPDATE, completed OK
 *   and was not refused with NOUPDATE, not cancelled by CANCELUPDATE, and whose mailbox
 *   is still selected (§4.3, §4.3.1, §4.3.5); UID only for UID SEARCH/UID SORT (§4.3.2).
 * - Position 0 only for SEARCH contexts (§4.3.3, §5 context-position); a SORT position
 *   lies within the list; a REMOVEFROM removes what the list holds at that position, or
 *   (position 0) results the list holds (§4.3.4).
 * - Sequence numbers name messages the session knows: an ADDTO of a new message after
 *   its EXISTS (§4.3.3); a message removed by an expunge leaves every sequence-number
 *   context before its EXPUNGE (§4.3.4, "MUST be sent prior to the expunge
 *   notification"), and UID contexts too (this server sends it in the same flush).
 * Lists are kept when the searching command returned ALL; otherwise only the tag's state.
 */
import { expandSet as expand } from './imap-checker.js';
import type { Response, Value } from './imap-client.js';

export interface ContextModel {
  tag: string;
  byUid: boolean;
  sort: boolean;
  /** The result in the requested order; undefined when the command did not return ALL. */
  list: number[] | undefined;
  state: 'asked' | 'active' | 'refused';
  /** The command asked for ALL: its ESEARCH is the whole list (no ALL in it: nothing found). */
  all: boolean;
}

export class ContextTracker {
  readonly contexts = new Map<string, ContextModel>();

  constructor(private readonly violate: (text: string, r?: Response) => void) {}

  /** A command was written: SEARCH/SORT with UPDATE in its RETURN options. */
  command(tag: string, name: string, args: string): void {
    if (!/^(UID )?(SEARCH|SORT)$/.test(name)) return;
    const m = /^RETURN \(([^)]*)\)/i.exec(args.trim());
    if (!m || !/\bUPDATE\b/i.test(m[1]!)) return;
    if (this.contexts.get(tag)?.state === 'active') return; // a reuse: the server answers BAD, the context stays
    const opts = m[1]!.toUpperCase().split(/\s+/).filter((o) => o !== 'CONTEXT');
    this.contexts.set(tag, { tag, byUid: name.startsWith('UID '), sort: name.endsWith('SORT'), list: undefined, state: 'asked', all: opts.includes('ALL') });
  }

  /** The tagged response of a command. */
  done(tag: string, name: string, args: string, ok: boolean): void {
    if (name === 'CANCELUPDATE' && ok) for (const t of args.match(/"((?:[^"\\]|\\.)*)"/g) ?? []) this.contexts.delete(JSON.parse(t) as string);
    const c = this.contexts.get(tag);
    if (!c || c.state !== 'asked' || !/^(UID )?(SEARCH|SORT)$/.test(name)) return;
    if (ok) c.state = 'active';
    else this.contexts.delete(tag);
  }

  /** Another mailbox selected, or none: updates cease (§4.3). */
  reset(): void {
    this.contexts.clear();
  }

  /** `* NO [NOUPDATE "tag"]` during that tag's command (§4.3.1); false when it is not one. */
  noUpdate(r: Response, currentTag: string | undefined): boolean {
    const m = /^NOUPDATE "((?:[^"\\]|\\.)*)"$/i.exec(r.code ?? '');
    if (!m || r.type !== 'NO') return false;
    const c = this.contexts.get(m[1]!);
    if (!c || c.state !== 'asked' || m[1] !== currentTag) this.violate('NOUPDATE for a tag that is not the UPDATE command in progress', r);
    else c.state = 'refused';
    return true;
  }

  /** The searching command's own ESEARCH: the initial list when it carries ALL. */
  initial(r: Response, tag: string): void {
    const c = this.contexts.get(tag);
    if (!c || c.state !== 'asked') return;
    const v = r.values;
    if (!c.all) return;
    c.list = [];
    for (let i = 0; i + 1 < v.length; i++) if (String(v[i]).toUpperCase() === 'ALL') c.list = expand(String(v[i + 1]));
  }

  /** Whether an ESEARCH carries ADDTO/REMOVEFROM (an update, not a command's answer). */
  static isUpdate(r: Response): boolean {
    return r.values.some((x) => typeof x === 'string' && /^(ADDTO|REMOVEFROM)$/i.test(x));
  }

  update(r: Response, exists: number | undefined): void {
    const v = r.values;
    const corr = Array.isArray(v[0]) ? v[0] : [];
    const tag = String(corr[1] ?? '');
    const c = this.contexts.get(tag);
    // 'asked': the flush at the end of the searching command itself may already carry one.
    if (!c || c.state === 'refused') return this.violate(`ESEARCH update for ${tag}, which has no update context`, r);
    const byUid = v.some((x) => typeof x === 'string' && x.toUpperCase() === 'UID');
    if (byUid !== c.byUid) this.violate(`ESEARCH update ${byUid ? 'with' : 'without'} UID for a ${c.byUid ? 'UID ' : ''}${c.sort ? 'SORT' : 'SEARCH'} context`, r);
    for (let i = 0; i + 1 < v.length; i++) {
      const k = typeof v[i] === 'string' ? String(v[i]).toUpperCase() : '';
      if (k !== 'ADDTO' && k !== 'REMOVEFROM') continue;
      const pairs = v[i + 1];
      if (!Array.isArray(pairs) || pairs.length === 0 || pairs.length % 2 !== 0) return this.violate(`${k} without position/set pairs`, r);
      for (let j = 0; j < pairs.length; j += 2) this.apply(r, c, k, Number(pairs[j]), expand(String(pairs[j + 1] as Value)), exists);
    }
  }

  private apply(r: Response, c: ContextModel, k: string, pos: number, nums: number[], exists: number | undefined): void {
    if (pos === 0 && c.sort) this.violate('position 0 in a SORT context (RFC 5267 §4.3.3)', r);
    if (!c.byUid && exists !== undefined) for (const n of nums) if (n < 1 || n > exists) this.violate(`${k} of message ${n}, session knows ${exists}`, r);
    const list = c.list;
    if (!list) return;
    if (k === 'ADDTO') {
      if (pos > list.length + 1) this.violate(`ADDTO at ${pos}, list has ${list.length}`, r);
      for (const n of nums) if (list.includes(n)) this.violate(`ADDTO of ${n}, already in the result`, r);
      if (pos === 0) c.list = [...list, ...nums].sort((a, b) => a - b);
      else list.splice(pos - 1, 0, ...nums);
      return;
    }
    if (pos === 0) {
      for (const n of nums) {
        const i = list.indexOf(n);
        if (i < 0) this.violate(`REMOVEFROM of ${n}, not in the result`, r);
        else list.splice(i, 1);
      }
      return;
    }
    const at = list.slice(pos - 1, pos - 1 + nums.length);
    if (at.join(',') !== nums.join(',')) this.violate(`REMOVEFROM (${pos} ${nums.join(',')}) but the list holds ${at.join(',')} there`, r);
    list.splice(pos - 1, nums.length);
  }

  /** Message `seq` (UID `uid` when known) leaves the mailbox. */
  expunged(r: Response, seq: number, uid: number | undefined): void {
    for (const c of this.contexts.values()) {
      if (c.state === 'refused' || !c.list) continue;
      if (c.byUid) {
        if (uid !== undefined && c.list.includes(uid)) this.violate(`expunge of UID ${uid} still in update context ${c.tag} (RFC 5267 §4.3.4)`, r);
        continue;
      }
      if (c.list.includes(seq)) this.violate(`EXPUNGE of ${seq} still in update context ${c.tag}: REMOVEFROM must come first (RFC 5267 §4.3.4)`, r);
      c.list = c.list.map((n) => (n > seq ? n - 1 : n));
    }
  }
}
