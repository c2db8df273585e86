/**
 * variables (RFC 5229): the `set` command with its modifiers (§4) and the `string`
 * test (§5). Expansion of "${…}" in strings is compiled by strings.ts and done by the
 * interpreter; match variables are set by the match helpers (common.ts).
 */
import { asciiLower, type MatchSpec } from '../match.js';
import { quoteWildcard } from '../strings.js';
import type { CommandDef, Extension, TagSpec, TestDef } from '../types.js';
import { evalMatch, MATCH_AND_COMPARATOR, validateMatch } from './common.js';

/** RFC 5229 §4.1: modifiers with their precedence; one per precedence level. */
const MODIFIERS: Array<TagSpec & { precedence: number }> = [
  { name: 'lower', group: 'p40', precedence: 40 },
  { name: 'upper', group: 'p40', precedence: 40 },
  { name: 'lowerfirst', group: 'p30', precedence: 30 },
  { name: 'upperfirst', group: 'p30', precedence: 30 },
  { name: 'quotewildcard', group: 'p20', precedence: 20 },
  { name: 'length', group: 'p10', precedence: 10 },
];

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function asciiUpper(s: string): string {
  return s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

function modify(name: string, s: string): string {
  switch (name) {
    case 'lower':
      return asciiLower(s);
    case 'upper':
      return asciiUpper(s);
    case 'lowerfirst':
      return asciiLower(s.slice(0, 1)) + s.slice(1);
    case 'upperfirst':
      return asciiUpper(s.slice(0, 1)) + s.slice(1);
    case 'quotewildcard':
      return quoteWildcard(s);
    case 'length':
      return String(Array.from(s).length); // characters, not octets (§4.1.2)
    default:
      return s;
  }
}

const set: CommandDef = {
  kind: 'command',
  name: 'set',
  requires: 'variables',
  tags: MODIFIERS,
  positional: [
    { name: 'name', kind: 'string', literal: true },
    { name: 'value', kind: 'string' },
  ],
  validate(node, v) {
    const a = node.args[0]!;
    const name = a.kind === 'string' ? v.constant(a.s) : undefined;
    // RFC 5229 §4: the name is an identifier (match variables cannot be set).
    if (name === undefined || !IDENTIFIER.test(name)) v.error(a.pos, `invalid variable name "${name ?? ''}"`);
    node.data = MODIFIERS.filter((m) => node.tags.has(m.name))
      .sort((x, y) => y.precedence - x.precedence)
      .map((m) => m.name);
  },
  run(node, it) {
    let value = it.arg(node, 1);
    for (const m of node.data as string[]) value = modify(m, value);
    it.setVar(it.arg(node, 0), value);
  },
};

const string: TestDef = {
  kind: 'test',
  name: 'string',
  requires: 'variables',
  tags: MATCH_AND_COMPARATOR,
  positional: [
    { name: 'source', kind: 'stringList' },
    { name: 'key list', kind: 'stringList' },
  ],
  validate(node, v) {
    node.data = validateMatch(node, v);
  },
  evaluate(node, it) {
    const spec = node.data as MatchSpec;
    let values = it.list(node, 0);
    // RFC 5229 §5: with :count, empty strings are not counted.
    if (spec.type === 'count') values = values.filter((x) => x !== '');
    return evalMatch(it, spec, values, it.list(node, 1));
  },
};

export const variablesExtension: Extension = { name: 'variables', commands: [set], tests: [string] };
