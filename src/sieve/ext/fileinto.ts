/**
 * fileinto (RFC 5228 §4.1), copy (RFC 3894: :copy on fileinto and redirect), mailbox
 * (RFC 5490 §3: fileinto :create and the mailboxexists test), envelope (RFC 5228 §5.4)
 * and the extensions that only enable tags or comparators elsewhere: relational
 * (RFC 5231), subaddress (RFC 5233), index (RFC 5260 §6), encoded-character (RFC 5228
 * §2.4.2.4) and comparator-i;ascii-numeric (RFC 4790 §9.1).
 */
import type { MatchSpec } from '../match.js';
import type { Extension, TestDef } from '../types.js';
import { ADDRESS_PART_TAGS, addressPart, addressPartOf, evalMatch, MATCH_AND_COMPARATOR, validateMatch } from './common.js';
import { parseAddresses, type SieveAddress } from '../message.js';
import { actionFlags } from './imap4flags.js';

export const fileintoExtension: Extension = {
  name: 'fileinto',
  commands: [
    {
      kind: 'command',
      name: 'fileinto',
      requires: 'fileinto',
      positional: [{ name: 'folder', kind: 'string' }],
      run(node, it) {
        const mailbox = it.arg(node, 0);
        it.result.add({ type: 'store', mailbox, flags: actionFlags(node, it), create: node.tags.has('create'), copy: node.tags.has('copy'), pos: node.pos });
      },
    },
  ],
};

export const copyExtension: Extension = {
  name: 'copy',
  addTags: [
    { to: 'fileinto', tags: [{ name: 'copy' }] },
    { to: 'redirect', tags: [{ name: 'copy' }] },
  ],
};

export const mailboxExtension: Extension = {
  name: 'mailbox',
  addTags: [{ to: 'fileinto', tags: [{ name: 'create' }] }],
  tests: [
    {
      kind: 'test',
      name: 'mailboxexists',
      requires: 'mailbox',
      positional: [{ name: 'mailbox names', kind: 'stringList' }],
      // RFC 5490 §3.1: true when every named mailbox exists.
      evaluate: (node, it) => it.list(node, 0).every((m) => it.env.mailboxExists?.(m) ?? false),
    },
  ],
};

/** RFC 5228 §5.4: "from" and "to"; "auth" is the authenticated submitter (not an address part target). */
const ENVELOPE_PARTS = new Set(['from', 'to', 'auth']);

const envelope: TestDef = {
  kind: 'test',
  name: 'envelope',
  requires: 'envelope',
  tags: [...MATCH_AND_COMPARATOR, ...ADDRESS_PART_TAGS],
  positional: [
    { name: 'envelope part', kind: 'stringList' },
    { name: 'key list', kind: 'stringList' },
  ],
  validate(node, v) {
    node.data = validateMatch(node, v);
    const a = node.args[0]!;
    for (const s of a.kind === 'string' ? [a.s] : a.kind === 'stringList' ? a.items : []) {
      const part = v.constant(s);
      if (part === undefined) continue;
      if (!ENVELOPE_PARTS.has(part.toLowerCase())) v.error(a.pos, `specified envelope part "${part}" is not supported by the envelope test`);
    }
  },
  evaluate(node, it) {
    const part = addressPartOf(node);
    const values: string[] = [];
    for (const name of it.list(node, 0)) {
      const key = name.toLowerCase();
      const raw = key === 'from' ? it.env.envelope.from : key === 'to' ? it.env.envelope.to : key === 'auth' ? it.env.envelope.auth : undefined;
      if (raw === undefined) continue;
      // RFC 5228 §5.4: the null reverse-path is matched as "" (with :all).
      if (raw === '') {
        if (part === 'all') values.push('');
        continue;
      }
      const addrs: SieveAddress[] = it.memo(`envelope:${raw}`, () => parseAddresses(raw.includes('<') ? raw : `<${raw}>`));
      for (const a of addrs) {
        const p = addressPart(a, part);
        if (p !== undefined) values.push(p);
      }
    }
    return evalMatch(it, node.data as MatchSpec, values, it.list(node, 1));
  },
};

export const envelopeExtension: Extension = { name: 'envelope', tests: [envelope] };

/** Capabilities whose tags and comparators live in the shared definitions (common.ts, match.ts). */
export const capabilityExtensions: Extension[] = [
  { name: 'relational' },
  { name: 'subaddress' },
  { name: 'index' },
  { name: 'encoded-character' },
  { name: 'comparator-i;ascii-numeric' },
  { name: 'comparator-i;octet' },
  { name: 'comparator-i;ascii-casemap' },
];
