/**
 * The Sieve parser (RFC 5228 §8.2): tokens → syntax tree, with the line and column of
 * the token at fault in every error. Methods are named after the grammar's productions:
 *
 *   commands    = *command
 *   command     = identifier arguments (";" / block)
 *   block       = "{" commands "}"
 *   arguments   = *argument [ test / test-list ]
 *   argument    = string-list / number / tag
 *   string-list = "[" string *("," string) "]" / string
 *   test        = identifier arguments
 *   test-list   = "(" test *("," test) ")"
 *
 * Nesting of blocks and tests is bounded (MAX_NESTING, Pigeonhole's default is 32), so
 * a hostile script cannot exhaust the stack of a recursive descent.
 */
import type { Argument, CommandNode, ScriptNode, StringArg, TestNode } from './ast.js';
import { SieveCompileError } from './errors.js';
import { Lexer, type Token } from './lexer.js';

export const MAX_NESTING = 32;

export function parseScript(text: string): ScriptNode {
  return new Parser(new Lexer(text).tokens()).script();
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}

  private get tok(): Token {
    return this.toks[this.i]!;
  }

  private isSpecial(ch: string): boolean {
    const t = this.tok;
    return t.kind === 'special' && t.value === ch;
  }

  private fail(reason: string, t: Token = this.tok): never {
    throw new SieveCompileError(t.pos, reason);
  }

  private describe(t: Token): string {
    switch (t.kind) {
      case 'eof':
        return 'end of script';
      case 'special':
        return `"${t.value}"`;
      case 'tag':
        return `tag ":${t.value}"`;
      case 'string':
        return 'string';
      case 'number':
        return 'number';
      case 'identifier':
        return `identifier "${t.value}"`;
    }
  }

  script(): ScriptNode {
    const commands = this.commands(0);
    if (this.tok.kind !== 'eof') this.fail(`unexpected ${this.describe(this.tok)}`);
    return { commands };
  }

  private commands(depth: number): CommandNode[] {
    const out: CommandNode[] = [];
    while (this.tok.kind === 'identifier') out.push(this.command(depth));
    return out;
  }

  private command(depth: number): CommandNode {
    const id = this.tok as Extract<Token, { kind: 'identifier' }>;
    this.i++;
    const node: CommandNode = { name: id.value.toLowerCase(), args: [], tests: [], testList: false, pos: id.pos };
    this.arguments(node, depth);
    if (this.isSpecial(';')) {
      this.i++;
      return node;
    }
    if (this.isSpecial('{')) {
      node.block = this.block(depth + 1);
      return node;
    }
    // Reported at the command's last token: the semicolon is missing after it.
    const last = this.toks[this.i - 1]!;
    this.fail(`missing ";" after the ${node.name} command (found ${this.describe(this.tok)})`, this.tok.kind === 'eof' ? this.tok : last);
  }

  private block(depth: number): CommandNode[] {
    if (depth > MAX_NESTING) this.fail(`blocks nested deeper than ${MAX_NESTING}`);
    this.i++; // "{"
    const cmds = this.commands(depth);
    if (!this.isSpecial('}')) this.fail(`expected a command or "}", found ${this.describe(this.tok)}`);
    this.i++;
    return cmds;
  }

  private arguments(node: TestNode, depth: number): void {
    for (;;) {
      const a = this.argument();
      if (!a) break;
      node.args.push(a);
    }
    if (this.tok.kind === 'identifier') {
      node.tests = [this.test(depth + 1)];
    } else if (this.isSpecial('(')) {
      node.tests = this.testList(depth + 1);
      node.testList = true;
    }
  }

  private argument(): Argument | undefined {
    const t = this.tok;
    switch (t.kind) {
      case 'number':
        this.i++;
        return { kind: 'number', value: t.value, pos: t.pos };
      case 'tag':
        this.i++;
        return { kind: 'tag', name: t.value.toLowerCase(), pos: t.pos };
      case 'string':
        this.i++;
        return { kind: 'string', value: t.value, multiline: t.multiline, pos: t.pos };
      case 'special':
        if (t.value === '[') return this.stringList();
        return undefined;
      default:
        return undefined;
    }
  }

  private stringList(): Argument {
    const open = this.tok;
    this.i++;
    const values: StringArg[] = [];
    for (;;) {
      const t = this.tok;
      if (t.kind !== 'string') this.fail(`expected a string in the string list, found ${this.describe(t)}`);
      values.push({ kind: 'string', value: t.value, multiline: t.multiline, pos: t.pos });
      this.i++;
      if (this.isSpecial(',')) {
        this.i++;
        continue;
      }
      if (this.isSpecial(']')) {
        this.i++;
        return { kind: 'stringList', values, pos: open.pos };
      }
      this.fail(`expected "," or "]" in the string list, found ${this.describe(this.tok)}`);
    }
  }

  private test(depth: number): TestNode {
    if (depth > MAX_NESTING) this.fail(`tests nested deeper than ${MAX_NESTING}`);
    const t = this.tok;
    if (t.kind !== 'identifier') this.fail(`expected a test, found ${this.describe(t)}`);
    this.i++;
    const node: TestNode = { name: t.value.toLowerCase(), args: [], tests: [], testList: false, pos: t.pos };
    this.arguments(node, depth);
    return node;
  }

  private testList(depth: number): TestNode[] {
    if (depth > MAX_NESTING) this.fail(`tests nested deeper than ${MAX_NESTING}`);
    this.i++; // "("
    const out: TestNode[] = [];
    for (;;) {
      out.push(this.test(depth));
      if (this.isSpecial(',')) {
        this.i++;
        continue;
      }
      if (this.isSpecial(')')) {
        this.i++;
        return out;
      }
      this.fail(`expected "," or ")" in the test list, found ${this.describe(this.tok)}`);
    }
  }
}
