/**
 * What an extension declares (Pigeonhole's split: each extension registers its
 * commands, tests and tags) and the compiled form the validator produces and the
 * interpreter runs.
 *
 * A definition lists its tagged arguments (each with an optional parameter and an
 * optional exclusive group: MATCH-TYPE, COMPARATOR, ADDRESS-PART…, RFC 5228 §2.7) and
 * its positional arguments (string, string-list or number; optional ones lead, as in
 * `setflag [<variablename>] <list-of-flags>`). `validate` adds the checks a signature
 * cannot express and may precompute `data` for the run.
 */
import type { Position } from './errors.js';
import type { Interpreter } from './interpreter.js';

export type ArgKind = 'string' | 'stringList' | 'number';

export interface TagSpec {
  name: string;
  /** The capability the tag needs in `require` (e.g. "copy" for :copy). */
  requires?: string;
  param?: ArgKind;
  /** Tags of one group exclude each other (one MATCH-TYPE, one COMPARATOR…). */
  group?: string;
  /** The parameter is not subject to variable expansion (comparator names…). */
  literal?: boolean;
}

export interface PositionalSpec {
  name: string;
  kind: ArgKind;
  /** Leading optional argument, present only when all required ones are given too. */
  optional?: boolean;
  /** Not subject to variable expansion (variable names). */
  literal?: boolean;
}

/** A variable reference inside a string: a named variable or a match variable (RFC 5229). */
export type VarRef = { name: string } | { match: number };
/** A string with variable references, expanded at run time. */
export interface Template {
  parts: Array<string | VarRef>;
}
export type Str = string | Template;

export type CValue =
  | { kind: 'string'; s: Str; pos: Position }
  | { kind: 'stringList'; items: Str[]; pos: Position }
  | { kind: 'number'; n: number; pos: Position };

export interface CompiledNode {
  def: CommandDef | TestDef;
  pos: Position;
  /** Tag name → its parameter, or true for a tag without one. */
  tags: Map<string, CValue | true>;
  /** Group → the tag chosen in it (e.g. "match" → "contains"). */
  groups: Map<string, string>;
  /** Positional arguments in the definition's order; optional ones absent are undefined. */
  args: Array<CValue | undefined>;
  tests: CompiledNode[];
  block?: CompiledNode[];
  /** Precomputed by the definition's validate(). */
  data?: unknown;
}

export interface ValidatorApi {
  /** Whether `require` named this capability. */
  has(capability: string): boolean;
  error(pos: Position, reason: string): never;
  /** The constant value of a string, or undefined when it holds variable references. */
  constant(s: Str): string | undefined;
}

interface NodeDefBase {
  name: string;
  /** The capability needed in `require`; undefined for the base language. */
  requires?: string;
  tags?: TagSpec[];
  positional: PositionalSpec[];
  validate?(node: CompiledNode, v: ValidatorApi): void;
}

export interface CommandDef extends NodeDefBase {
  kind: 'command';
  /** if/elsif/else take a test and a block; other commands neither. */
  control?: 'if' | 'elsif' | 'else';
  run(node: CompiledNode, it: Interpreter): void;
}

export interface TestDef extends NodeDefBase {
  kind: 'test';
  /** allof/anyof take a test-list, not one test; the others no test. */
  subtests?: 'one' | 'list';
  evaluate(node: CompiledNode, it: Interpreter): boolean;
}

export interface Extension {
  /** The capability string of `require` ("fileinto", "comparator-i;ascii-numeric"…). */
  name: string;
  commands?: CommandDef[];
  tests?: TestDef[];
  /** Capabilities that requiring this one also enables. */
  implies?: string[];
  /** Tags this extension adds to other extensions' commands (":copy" on fileinto and redirect). */
  addTags?: Array<{ to: string; tags: TagSpec[] }>;
}
