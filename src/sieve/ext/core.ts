/**
 * The base language (RFC 5228): control commands (§3), keep, discard, redirect (§4),
 * and the tests address, header, exists, size, allof, anyof, not, true, false (§5).
 * `fileinto` is in fileinto.ts, `envelope` in envelope.ts (both need `require`).
 */
import { SieveRuntimeError } from '../errors.js';
import type { MatchSpec } from '../match.js';
import type { CommandDef, CompiledNode, Extension, TestDef, ValidatorApi } from '../types.js';
import {
  ADDRESS_PART_TAGS,
  addressPart,
  addressPartOf,
  evalMatch,
  indexed,
  INDEX_TAGS,
  MATCH_AND_COMPARATOR,
  parseSingleAddress,
  validateIndex,
  validateMatch,
} from './common.js';
import { actionFlags } from './imap4flags.js';

/** Header fields the address test may read (Pigeonhole's list, RFC 5228 §5.1). */
export const ADDRESS_HEADERS = new Set([
  'from', 'to', 'cc', 'bcc', 'sender', 'resent-from', 'resent-to', 'return-path', 'reply-to', 'resent-reply-to',
  'resent-sender', 'resent-cc', 'resent-bcc', 'for-approval', 'for-handling', 'for-comment', 'apparently-to',
  'errors-to', 'delivered-to', 'return-receipt-to', 'x-admin', 'read-receipt-to', 'x-confirm-reading-to',
  'return-receipt-requested', 'registered-mail-reply-requested-by', 'mail-followup-to', 'mail-reply-to',
  'abuse-reports-to', 'x-complaints-to', 'x-report-abuse-to', 'x-beenthere', 'x-original-from', 'x-original-to',
  'disposition-notification-to',
]);

/** RFC 5322 §2.2 field-name: printable US-ASCII except ":". */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;

export function checkHeaderNames(node: CompiledNode, i: number, v: ValidatorApi, allowed?: Set<string>, test = 'header'): void {
  const a = node.args[i];
  if (!a || a.kind === 'number') return;
  for (const s of a.kind === 'string' ? [a.s] : a.items) {
    const name = v.constant(s);
    if (name === undefined) continue;
    if (!FIELD_NAME.test(name)) v.error(a.pos, `specified header field name "${name}" is invalid`);
    if (allowed && !allowed.has(name.toLowerCase())) v.error(a.pos, `specified header "${name}" is not allowed for the ${test} test`);
  }
}

const control = (name: 'if' | 'elsif' | 'else'): CommandDef => ({ kind: 'command', name, control: name, positional: [], run: () => undefined });

const keep: CommandDef = {
  kind: 'command',
  name: 'keep',
  positional: [],
  run(node, it) {
    it.result.add({ type: 'store', mailbox: 'INBOX', flags: actionFlags(node, it), create: false, copy: false, pos: node.pos });
  },
};

const redirect: CommandDef = {
  kind: 'command',
  name: 'redirect',
  positional: [{ name: 'address', kind: 'string' }],
  validate(node, v) {
    const a = node.args[0]!;
    const s = a.kind === 'string' ? v.constant(a.s) : undefined;
    if (s !== undefined && !parseSingleAddress(s)) v.error(a.pos, `specified redirect address "${s}" is invalid`);
  },
  run(node, it) {
    const raw = it.arg(node, 0);
    const address = parseSingleAddress(raw);
    if (!address) throw new SieveRuntimeError(`specified redirect address "${raw}" is invalid`, node.pos);
    it.result.add({ type: 'redirect', address, copy: node.tags.has('copy'), pos: node.pos });
  },
};

function headerKeysTest(name: 'header' | 'address'): TestDef {
  return {
    kind: 'test',
    name,
    tags: name === 'address' ? [...MATCH_AND_COMPARATOR, ...ADDRESS_PART_TAGS, ...INDEX_TAGS] : [...MATCH_AND_COMPARATOR, ...INDEX_TAGS],
    positional: [
      { name: 'header names', kind: 'stringList' },
      { name: 'key list', kind: 'stringList' },
    ],
    validate(node, v) {
      node.data = validateMatch(node, v);
      validateIndex(node, v);
      checkHeaderNames(node, 0, v, name === 'address' ? ADDRESS_HEADERS : undefined, name);
    },
    evaluate(node, it) {
      const spec = node.data as MatchSpec;
      const values: string[] = [];
      for (const h of it.list(node, 0)) {
        if (name === 'header') {
          values.push(...indexed(node, it, it.env.message.headerValues(h)));
        } else {
          const part = addressPartOf(node);
          // :index counts header fields (RFC 5260 §6), so select among the fields first.
          for (const addrs of indexed(node, it, it.env.message.addressesPerField(h))) {
            for (const a of addrs) {
              const p = addressPart(a, part);
              if (p !== undefined) values.push(p);
            }
          }
        }
      }
      return evalMatch(it, spec, values, it.list(node, 1));
    },
  };
}

const exists: TestDef = {
  kind: 'test',
  name: 'exists',
  positional: [{ name: 'header names', kind: 'stringList' }],
  validate: (node, v) => checkHeaderNames(node, 0, v),
  evaluate: (node, it) => it.list(node, 0).every((h) => it.env.message.exists(h)),
};

const size: TestDef = {
  kind: 'test',
  name: 'size',
  tags: [
    { name: 'over', group: 'size' },
    { name: 'under', group: 'size' },
  ],
  positional: [{ name: 'limit', kind: 'number' }],
  validate(node, v) {
    if (!node.groups.has('size')) v.error(node.pos, 'the size test requires either the :under or the :over tag');
  },
  evaluate(node, it) {
    const a = node.args[0]!;
    const limit = a.kind === 'number' ? a.n : 0;
    // RFC 5228 §5.9: strictly greater / strictly less.
    return node.tags.has('over') ? it.env.message.size > limit : it.env.message.size < limit;
  },
};

const logical = (name: 'allof' | 'anyof'): TestDef => ({
  kind: 'test',
  name,
  subtests: 'list',
  positional: [],
  // RFC 5228 §5.2, §5.3: evaluated left to right, stopping as soon as the answer is known.
  evaluate: (node, it) => (name === 'allof' ? node.tests.every((t) => it.test(t)) : node.tests.some((t) => it.test(t))),
});

const not: TestDef = { kind: 'test', name: 'not', subtests: 'one', positional: [], evaluate: (node, it) => !it.test(node.tests[0]!) };
const constant = (name: 'true' | 'false'): TestDef => ({ kind: 'test', name, positional: [], evaluate: () => name === 'true' });

export const coreExtension: Extension = {
  name: '',
  commands: [
    control('if'),
    control('elsif'),
    control('else'),
    { kind: 'command', name: 'stop', positional: [], run: (_n, it) => it.stop() },
    keep,
    { kind: 'command', name: 'discard', positional: [], run: (node, it) => it.result.add({ type: 'discard', pos: node.pos }) },
    redirect,
  ],
  tests: [headerKeysTest('address'), headerKeysTest('header'), exists, size, logical('allof'), logical('anyof'), not, constant('true'), constant('false')],
};
