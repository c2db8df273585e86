/**
 * Arguments shared by many tests (RFC 5228 §2.7): COMPARATOR, MATCH-TYPE (with the
 * relational :count and :value of RFC 5231), ADDRESS-PART (with :user and :detail of
 * RFC 5233) and :index/:last (RFC 5260 §6), their validation and their evaluation.
 */
import { parseAddressList } from '../../imap/mime/address.js';
import type { Interpreter } from '../interpreter.js';
import { COMPARATORS, matchAny, REL_OPS, type ComparatorName, type MatchSpec, type RelOp } from '../match.js';
import type { SieveAddress } from '../message.js';
import type { CompiledNode, TagSpec, ValidatorApi } from '../types.js';

export const COMPARATOR_TAG: TagSpec = { name: 'comparator', param: 'string', group: 'comparator', literal: true };

export const MATCH_TAGS: TagSpec[] = [
  { name: 'is', group: 'match' },
  { name: 'contains', group: 'match' },
  { name: 'matches', group: 'match' },
  // RFC 5231 §4: the relational operator is a literal.
  { name: 'count', group: 'match', param: 'string', requires: 'relational', literal: true },
  { name: 'value', group: 'match', param: 'string', requires: 'relational', literal: true },
];

export const ADDRESS_PART_TAGS: TagSpec[] = [
  { name: 'all', group: 'addresspart' },
  { name: 'localpart', group: 'addresspart' },
  { name: 'domain', group: 'addresspart' },
  { name: 'user', group: 'addresspart', requires: 'subaddress' },
  { name: 'detail', group: 'addresspart', requires: 'subaddress' },
];

/** RFC 5260 §6: :index n [:last] on header, address and date. */
export const INDEX_TAGS: TagSpec[] = [
  { name: 'index', param: 'number', requires: 'index' },
  { name: 'last', requires: 'index' },
];

export const MATCH_AND_COMPARATOR: TagSpec[] = [COMPARATOR_TAG, ...MATCH_TAGS];

/** Checks COMPARATOR and MATCH-TYPE of a node and returns what the run needs. */
export function validateMatch(node: CompiledNode, v: ValidatorApi): MatchSpec {
  let comparator: ComparatorName = 'i;ascii-casemap'; // RFC 5228 §2.7.3: the default
  const c = node.tags.get('comparator');
  if (c !== undefined && c !== true) {
    const name = c.kind === 'string' ? v.constant(c.s) : undefined;
    const known = COMPARATORS.find((x) => x === name?.toLowerCase());
    // RFC 5228 §2.7.3: comparators other than i;octet and i;ascii-casemap need require.
    if (!known || (known === 'i;ascii-numeric' && !v.has('comparator-i;ascii-numeric'))) v.error(c.pos, `unknown comparator "${name ?? ''}"`);
    comparator = known;
  }
  const type = (node.groups.get('match') ?? 'is') as MatchSpec['type'];
  let relop: RelOp | undefined;
  if (type === 'count' || type === 'value') {
    const r = node.tags.get(type);
    const op = r !== undefined && r !== true && r.kind === 'string' ? v.constant(r.s)?.toLowerCase() : undefined;
    relop = REL_OPS.find((x) => x === op);
    if (!relop || r === true || r === undefined) v.error(node.pos, `invalid relational operator "${op ?? ''}" for :${type} (RFC 5231 §5)`);
  }
  // RFC 4790 §9.1: i;ascii-numeric supports equality and ordering, not substrings.
  if (comparator === 'i;ascii-numeric' && (type === 'contains' || type === 'matches')) {
    v.error(node.pos, `the comparator i;ascii-numeric does not support the :${type} match type`);
  }
  return { comparator, type, relop };
}

/** Matches values against keys and sets the match variables on success (RFC 5229 §3.2). */
export function evalMatch(it: Interpreter, spec: MatchSpec, values: string[], keys: string[]): boolean {
  const r = matchAny(spec, values, keys, it.budget);
  if (r.ok && spec.type === 'matches') it.setMatches(r.captures);
  return r.ok;
}

export type AddressPart = 'all' | 'localpart' | 'domain' | 'user' | 'detail';

export function addressPartOf(node: CompiledNode): AddressPart {
  return (node.groups.get('addresspart') ?? 'all') as AddressPart;
}

/** RFC 5233 §4: the separator between user and detail. */
const SEPARATOR = '+';

/** The part of an address a test compares; undefined when it has none (no detail…). */
export function addressPart(a: SieveAddress, part: AddressPart): string | undefined {
  if (a.local === null || a.domain === null) return part === 'all' ? a.raw : undefined;
  switch (part) {
    case 'all':
      return `${a.local}@${a.domain}`;
    case 'localpart':
      return a.local;
    case 'domain':
      return a.domain;
    case 'user': {
      const i = a.local.indexOf(SEPARATOR);
      return i < 0 ? a.local : a.local.slice(0, i);
    }
    case 'detail': {
      const i = a.local.indexOf(SEPARATOR);
      return i < 0 ? undefined : a.local.slice(i + 1);
    }
  }
}

/** RFC 5260 §6: the field occurrence :index selects (1-based, :last counts from the end). */
export function indexed<T>(node: CompiledNode, it: Interpreter, perField: T[]): T[] {
  const n = it.tagNumber(node, 'index');
  if (n === undefined) return perField;
  const i = node.tags.has('last') ? perField.length - n : n - 1;
  return i >= 0 && i < perField.length ? [perField[i]!] : [];
}

export function validateIndex(node: CompiledNode, v: ValidatorApi): void {
  if (node.tags.has('last') && !node.tags.has('index')) v.error(node.pos, 'the :last tag needs :index (RFC 5260 §6)');
  const n = node.tags.get('index');
  if (n !== undefined && n !== true && n.kind === 'number' && n.n < 1) v.error(n.pos, 'the :index position starts at 1');
}

/**
 * A redirect or vacation address: one mailbox, bare or in a name-addr, as Pigeonhole
 * accepts ("Name <a@b.example>"). Returns local@domain, or undefined if invalid.
 */
export function parseSingleAddress(s: string): string | undefined {
  const list = parseAddressList(s);
  if (!list || list.length !== 1) return undefined;
  const a = list[0]!;
  if (!a.mailbox || !a.host || a.mailbox === 'MISSING_MAILBOX' || a.host === 'MISSING_DOMAIN' || a.host === 'SYNTAX_ERROR') return undefined;
  if (!/^[^\s@]+$/.test(a.host)) return undefined;
  return `${a.mailbox}@${a.host}`;
}
