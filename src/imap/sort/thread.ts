/**
 * The THREAD algorithms (RFC 5256 §3) over the stored keys of the messages a search
 * found: ORDEREDSUBJECT, REFERENCES, and REFS (draft-ietf-morg-inthread §4 as Dovecot
 * 2.3 implements it: REFERENCES without the subject gathering of step 5, threads
 * ordered by their newest message). Dates are sent dates (INTERNALDATE when there is no
 * usable Date header, RFC 5256 §2.2); every tie goes to the lower UID (sequence order).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { ThreadKeys } from '../../store/sortkeys.js';

/**
 * Messages (or threads) handled between turns of the event loop: THREAD REFERENCES of
 * 100 000 messages in one go held every other session ~150 ms. The sorts stay whole.
 */
const SLICE = 4096;
const sliceEnds = (i: number): boolean => i % SLICE === SLICE - 1;

export type ThreadAlgorithm = 'ORDEREDSUBJECT' | 'REFERENCES' | 'REFS';
export const THREAD_ALGORITHMS: readonly ThreadAlgorithm[] = ['ORDEREDSUBJECT', 'REFERENCES', 'REFS'];

/** A node of a thread tree; `msg` absent for a dummy (a message referred to but not here). */
export interface ThreadNode {
  msg?: ThreadKeys;
  parent?: ThreadNode;
  children: ThreadNode[];
}

export async function thread(alg: ThreadAlgorithm, msgs: readonly ThreadKeys[]): Promise<ThreadNode[]> {
  if (alg === 'ORDEREDSUBJECT') return orderedSubject(msgs);
  const roots = await pruneRoots(await linkReferences(msgs));
  if (alg === 'REFS') return sortRefs(roots);
  const merged = await gatherSubjects(roots);
  await sortTrees(merged);
  sortSiblings(merged);
  return merged;
}

// ---------------------------------------------------------------- ORDEREDSUBJECT

/**
 * RFC 5256 §3 ORDEREDSUBJECT: sorted by base subject then sent date; each run of one
 * base subject is a thread whose first message is the parent of the others.
 */
function orderedSubject(msgs: readonly ThreadKeys[]): ThreadNode[] {
  const sorted = [...msgs].sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : byDate(a, b)));
  const roots: ThreadNode[] = [];
  let cur: ThreadNode | undefined;
  for (const m of sorted) {
    if (cur && cur.msg!.subject === m.subject) cur.children.push({ msg: m, parent: cur, children: [] });
    else roots.push((cur = { msg: m, children: [] }));
  }
  return roots.sort((a, b) => byDate(a.msg!, b.msg!));
}

function byDate(a: ThreadKeys, b: ThreadKeys): number {
  return a.sent - b.sent || a.uid - b.uid;
}

// ---------------------------------------------------------------- REFERENCES

function isAncestor(a: ThreadNode, of: ThreadNode): boolean {
  for (let p: ThreadNode | undefined = of; p; p = p.parent) if (p === a) return true;
  return false;
}

function unlink(c: ThreadNode): void {
  if (!c.parent) return;
  const sib = c.parent.children;
  sib.splice(sib.indexOf(c), 1);
  c.parent = undefined;
}

function link(parent: ThreadNode, child: ThreadNode): void {
  child.parent = parent;
  parent.children.push(child);
}

/** Steps 1 and 2: the id table, the links References imply, and the root set. */
async function linkReferences(msgs: readonly ThreadKeys[]): Promise<ThreadNode[]> {
  const ids = new Map<string, ThreadNode>();
  const all: ThreadNode[] = [];
  const container = (id: string): ThreadNode => {
    let c = ids.get(id);
    if (!c) {
      ids.set(id, (c = { children: [] }));
      all.push(c);
    }
    return c;
  };
  for (let i = 0; i < msgs.length; i++) {
    if (sliceEnds(i)) await nextTurn();
    const m = msgs[i]!;
    // (1A) a message without a Message-ID, or a duplicate one, gets a container of its own.
    const found = m.messageId !== null ? ids.get(m.messageId) : undefined;
    let c: ThreadNode;
    if (found && !found.msg) (c = found).msg = m;
    else {
      c = { msg: m, children: [] };
      if (!found && m.messageId !== null) ids.set(m.messageId, c);
      all.push(c);
    }
    // (1B) each reference the child of the one before, unless already linked or a loop.
    let prev: ThreadNode | undefined;
    for (const id of m.refs) {
      const r = container(id);
      if (prev && !r.parent && !isAncestor(r, prev)) link(prev, r);
      prev = r;
    }
    // (1C) the last reference (or none) is the parent, replacing any earlier guess; a
    // loop (the message refers to itself or to its own descendant) leaves it none (Dovecot).
    if (!prev && !c.parent) continue;
    unlink(c);
    if (prev && !isAncestor(c, prev)) link(prev, c);
  }
  return all.filter((c) => !c.parent);
}

/**
 * Step 3: a dummy without children goes; a dummy with children is replaced by them,
 * except at the root level where that happens only when it has one child.
 */
function pruneDummies(list: ThreadNode[], atRoot: boolean): ThreadNode[] {
  const out: ThreadNode[] = [];
  for (const c of list) {
    if (c.children.length > 0) {
      c.children = pruneDummies(c.children, false);
      for (const k of c.children) k.parent = c;
    }
    if (!c.msg && (c.children.length === 0 || !atRoot || c.children.length === 1)) {
      for (const k of c.children) k.parent = atRoot ? undefined : c.parent;
      out.push(...c.children);
      continue;
    }
    out.push(c);
  }
  return out;
}

/** pruneDummies at the root level, a slice of roots at a time. */
async function pruneRoots(roots: ThreadNode[]): Promise<ThreadNode[]> {
  const out: ThreadNode[] = [];
  for (let i = 0; i < roots.length; i += SLICE) {
    if (i > 0) await nextTurn();
    for (const c of pruneDummies(roots.slice(i, i + SLICE), true)) out.push(c);
  }
  return out;
}

/** The message that dates a node: itself, or a dummy's first child (children sorted). */
function firstOf(n: ThreadNode): ThreadKeys {
  return n.msg ?? firstOf(n.children[0]!);
}

function sortSiblings(list: ThreadNode[]): void {
  list.sort((a, b) => byDate(firstOf(a), firstOf(b)));
}

/** Step 6: every set of siblings by sent date. */
function sortTree(n: ThreadNode): void {
  for (const c of n.children) sortTree(c);
  sortSiblings(n.children);
}

async function sortTrees(roots: readonly ThreadNode[]): Promise<void> {
  for (let i = 0; i < roots.length; i++) {
    if (sliceEnds(i)) await nextTurn();
    sortTree(roots[i]!);
  }
}

/** Step 5: threads whose roots share a base subject gathered together. */
async function gatherSubjects(roots: ThreadNode[]): Promise<ThreadNode[]> {
  await sortTrees(roots);
  sortSiblings(roots);
  const table = new Map<string, ThreadNode>();
  const subjectOf = (n: ThreadNode): ThreadKeys => firstOf(n);
  // (5B) the subject table: a dummy, else a message that is not a reply, wins.
  for (let i = 0; i < roots.length; i++) {
    if (sliceEnds(i)) await nextTurn();
    const r = roots[i]!;
    const s = subjectOf(r).subject;
    if (s === '') continue;
    const e = table.get(s);
    if (!e || (e.msg && (!r.msg || (replyOf(e) && !replyOf(r))))) table.set(s, r);
  }
  // (5C) merge each other root into the thread of its subject.
  const out: ThreadNode[] = [];
  const replaced = new Set<ThreadNode>();
  for (let i = 0; i < roots.length; i++) {
    if (sliceEnds(i)) await nextTurn();
    const r = roots[i]!;
    if (r.parent) continue; // merged already (made a child of a new dummy)
    const s = subjectOf(r).subject;
    const e = s === '' ? undefined : table.get(s);
    if (!e || e === r) {
      out.push(r);
      continue;
    }
    if (!e.msg && !r.msg) {
      for (const k of r.children) link(e, k);
    } else if (!e.msg || (replyOf(r) && !replyOf(e))) {
      link(e, r);
    } else {
      // Neither a dummy nor a reply of the other: both become children of a new dummy.
      const d: ThreadNode = { children: [] };
      replaced.add(e);
      out.push(d);
      link(d, e);
      link(d, r);
      table.set(s, d);
    }
  }
  return replaced.size > 0 ? out.filter((n) => !replaced.has(n)) : out;
}

function replyOf(n: ThreadNode): boolean {
  return firstOf(n).reply;
}

// ---------------------------------------------------------------- REFS

/** REFS: REFERENCES steps 1-3, siblings by date, threads by their newest message. */
async function sortRefs(roots: ThreadNode[]): Promise<ThreadNode[]> {
  const newest = new Map<ThreadNode, number>();
  const walk = (n: ThreadNode): number => {
    let t = n.msg ? n.msg.sent : -Infinity;
    for (const c of n.children) t = Math.max(t, walk(c));
    return t;
  };
  for (let i = 0; i < roots.length; i++) {
    if (sliceEnds(i)) await nextTurn();
    sortTree(roots[i]!);
    newest.set(roots[i]!, walk(roots[i]!));
  }
  return roots.sort((a, b) => newest.get(a)! - newest.get(b)! || (a.msg?.uid ?? 0) - (b.msg?.uid ?? 0));
}

// ---------------------------------------------------------------- the response

/**
 * The threads as RFC 5256 §4 writes them: "(2)(3 6 (4 23)(44 7 96))". A chain of only
 * children is written flat; several children each in their own parentheses; a dummy
 * root as the list of its children.
 */
export function formatThreads(roots: readonly ThreadNode[], num: (uid: number) => number): string {
  const body = (n: ThreadNode): string => {
    if (!n.msg) return n.children.length === 1 ? body(n.children[0]!) : n.children.map((c) => `(${body(c)})`).join('');
    let s = String(num(n.msg.uid));
    let cur = n;
    while (cur.children.length === 1 && cur.children[0]!.msg) {
      cur = cur.children[0]!;
      s += ` ${num(cur.msg!.uid)}`;
    }
    if (cur.children.length > 0) s += ' ' + cur.children.map((c) => `(${body(c)})`).join('');
    return s;
  };
  return roots.map((r) => `(${body(r)})`).join('');
}
