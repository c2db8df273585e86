/**
 * The syntax tree the parser builds (RFC 5228 §8.2), before validation: commands with
 * their arguments, tests and blocks, every node with its position. The validator
 * (validator.ts) checks it against the extensions' definitions and turns it into the
 * compiled form the interpreter runs (compiled.ts).
 */
import type { Position } from './errors.js';

export interface StringArg {
  kind: 'string';
  value: string;
  /** Written as `text:` … `.` */
  multiline: boolean;
  pos: Position;
}

export interface StringListArg {
  kind: 'stringList';
  /** Written in brackets ("[...]"); a lone string is a StringArg. */
  values: StringArg[];
  pos: Position;
}

export interface NumberArg {
  kind: 'number';
  value: number;
  pos: Position;
}

export interface TagArg {
  kind: 'tag';
  /** Without the colon, lower-case. */
  name: string;
  pos: Position;
}

export type Argument = StringArg | StringListArg | NumberArg | TagArg;

/** A test: `identifier arguments`, with an optional test or test list. */
export interface TestNode {
  name: string;
  args: Argument[];
  /** Tests given as the trailing `test` or `(test-list)`. */
  tests: TestNode[];
  /** True when the tests were written as a parenthesised test-list. */
  testList: boolean;
  pos: Position;
}

/** A command: a test node plus either ";" or a block. */
export interface CommandNode extends TestNode {
  block?: CommandNode[];
}

export interface ScriptNode {
  commands: CommandNode[];
}
