/**
 * imap4flags (RFC 5232): setflag, addflag, removeflag, the hasflag test, and the
 * :flags tag of keep and fileinto. Flags live in the internal variable (or in a named
 * variable, when "variables" is used) as a space-separated list (§3).
 *
 * Implementation notes:
 * - Each string of a flag list may hold several flags separated by spaces (§3); flags
 *   compare case-insensitively, duplicates are dropped, the first spelling is kept.
 * - System flags are spelled as IMAP does ("\Seen"); "\Recent" and unknown backslash
 *   flags, and keywords that are not IMAP atoms, are dropped by setflag/addflag and
 *   :flags (§3: invalid flags are ignored), as Pigeonhole does.
 * - keep/fileinto without :flags take the internal variable's value at that moment;
 *   the implicit keep takes its value at the end (§3).
 */
import type { Interpreter } from '../interpreter.js';
import type { MatchSpec } from '../match.js';
import type { CommandDef, CompiledNode, Extension, TestDef } from '../types.js';
import { evalMatch, MATCH_AND_COMPARATOR, validateMatch } from './common.js';

const SYSTEM = new Map(['\\Seen', '\\Answered', '\\Flagged', '\\Deleted', '\\Draft'].map((f) => [f.toLowerCase(), f]));
/** RFC 9051 atom-specials, minus what cannot appear in a keyword. */
const ATOM = /^[^\x00-\x20\x7f(){%*"\\\]]+$/;

/** Splits flag strings on spaces, drops empties and case-insensitive duplicates. */
export function flagList(strings: string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const s of strings) {
    for (const f of s.split(' ')) {
      if (!f) continue;
      const k = f.toLowerCase();
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(f);
    }
  }
  return out;
}

/** The flags a store may set: system flags canonical, invalid ones dropped. */
export function storableFlags(flags: string[]): string[] {
  const out: string[] = [];
  for (const f of flags) {
    if (f.startsWith('\\')) {
      const sys = SYSTEM.get(f.toLowerCase());
      if (sys) out.push(sys);
    } else if (ATOM.test(f)) {
      out.push(f);
    }
  }
  return out;
}

/** Flags for a keep/fileinto: its :flags, else the internal variable (when imap4flags is on). */
export function actionFlags(node: CompiledNode, it: Interpreter): string[] | undefined {
  const tagged = it.tagList(node, 'flags');
  if (tagged) return storableFlags(flagList(tagged));
  if (!it.script.required.has('imap4flags')) return undefined;
  return storableFlags(it.flags);
}

function current(it: Interpreter, variable: string | undefined): string[] {
  return variable === undefined ? it.flags : flagList([it.getVar(variable)]);
}

function assign(it: Interpreter, variable: string | undefined, flags: string[]): void {
  if (variable === undefined) it.flags = flags;
  else it.setVar(variable, flags.join(' '));
}

function flagCommand(name: 'setflag' | 'addflag' | 'removeflag'): CommandDef {
  return {
    kind: 'command',
    name,
    requires: 'imap4flags',
    positional: [
      { name: 'variable name', kind: 'string', optional: true, literal: true },
      { name: 'list of flags', kind: 'stringList' },
    ],
    validate(node, v) {
      if (node.args[0] && !v.has('variables')) v.error(node.args[0].pos, `the variable name argument of ${name} needs the "variables" extension`);
    },
    run(node, it) {
      const variable = node.args[0] ? it.arg(node, 0) : undefined;
      const given = flagList(it.list(node, 1));
      const have = current(it, variable);
      // RFC 5232 §3: invalid flags are ignored (Pigeonhole warns and drops them here).
      if (name === 'setflag') return assign(it, variable, storableFlags(given));
      if (name === 'addflag') return assign(it, variable, flagList([...have, ...storableFlags(given)]));
      const drop = new Set(given.map((f) => f.toLowerCase()));
      assign(it, variable, have.filter((f) => !drop.has(f.toLowerCase())));
    },
  };
}

const hasflag: TestDef = {
  kind: 'test',
  name: 'hasflag',
  requires: 'imap4flags',
  tags: MATCH_AND_COMPARATOR,
  positional: [
    { name: 'variable list', kind: 'stringList', optional: true, literal: true },
    { name: 'list of flags', kind: 'stringList' },
  ],
  validate(node, v) {
    node.data = validateMatch(node, v);
  },
  evaluate(node, it) {
    // RFC 5232 §4: the flags of the named variables (or the internal one) against the keys.
    const vars = node.args[0] ? it.list(node, 0) : [undefined];
    const values = flagList(vars.flatMap((n) => current(it, n)));
    // The keys are flags too: split on spaces, unknown system flags dropped (Pigeonhole).
    const keys = flagList(it.list(node, 1)).filter((f) => !f.startsWith('\\') || SYSTEM.has(f.toLowerCase()));
    return evalMatch(it, node.data as MatchSpec, values, keys);
  },
};

export const imap4flagsExtension: Extension = {
  name: 'imap4flags',
  commands: [flagCommand('setflag'), flagCommand('addflag'), flagCommand('removeflag')],
  tests: [hasflag],
  addTags: [
    { to: 'keep', tags: [{ name: 'flags', param: 'stringList' }] },
    { to: 'fileinto', tags: [{ name: 'flags', param: 'stringList' }] },
  ],
};
