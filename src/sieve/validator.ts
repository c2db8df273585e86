/**
 * The validator: checks a syntax tree against the registered extensions and produces
 * the compiled script. Like Pigeonhole's sieve-validator.c, it knows no command itself:
 * every command, test and tag comes from an extension's definition (ext/*.ts), and the
 * validator applies the rules common to all of them:
 *
 * - `require` only at the top, before any other command (RFC 5228 §3.2); an unknown
 *   capability is an error (§2.10.5); a command, test or tag of an extension that was
 *   not required is unknown.
 * - Tagged arguments come before positional ones; one tag per group (one MATCH-TYPE,
 *   one COMPARATOR, one ADDRESS-PART, RFC 5228 §2.7); a tag's parameter has its type.
 * - Positional arguments: count and type (a string where a string is wanted, RFC 5228
 *   §2.4.2: a string list is not a string).
 * - `elsif` and `else` follow `if` or `elsif` (§3.1); tests and blocks where wanted.
 * - Strings get encoded-character decoding and variable templates when required.
 * The first error found is reported, with its position.
 */
import type { Argument, CommandNode, ScriptNode, StringArg, TestNode } from './ast.js';
import { SieveCompileError, type Position } from './errors.js';
import { compileTemplate, decodeEncodedCharacters, isTemplate } from './strings.js';
import type { ArgKind, CommandDef, CompiledNode, CValue, Extension, Str, TestDef, ValidatorApi } from './types.js';

export interface Registry {
  commands: Map<string, CommandDef>;
  tests: Map<string, TestDef>;
  /** Every capability `require` accepts. */
  capabilities: Set<string>;
  implies: Map<string, string[]>;
}

export function buildRegistry(exts: Extension[], extraCapabilities: string[] = []): Registry {
  const r: Registry = { commands: new Map(), tests: new Map(), capabilities: new Set(extraCapabilities), implies: new Map() };
  for (const e of exts) {
    if (e.name) r.capabilities.add(e.name);
    if (e.implies) r.implies.set(e.name, e.implies);
    for (const c of e.commands ?? []) r.commands.set(c.name, c);
    for (const t of e.tests ?? []) r.tests.set(t.name, t);
  }
  // Tags one extension adds to another's commands (Pigeonhole: ext-copy registers :copy
  // on redirect and fileinto); each needs its own extension in `require`.
  for (const e of exts) {
    for (const { to, tags } of e.addTags ?? []) {
      const target = r.commands.get(to) ?? r.tests.get(to);
      if (!target) continue;
      const more = tags.map((t) => ({ ...t, requires: t.requires ?? e.name }));
      if (target.kind === 'command') r.commands.set(to, { ...target, tags: [...(target.tags ?? []), ...more] });
      else r.tests.set(to, { ...target, tags: [...(target.tags ?? []), ...more] });
    }
  }
  return r;
}

export interface CompiledScript {
  commands: CompiledNode[];
  /** Capabilities the script required. */
  required: Set<string>;
  /** Names of the commands and tests it uses (the delivery path prepares only what they need). */
  uses: Set<string>;
}

const KIND_NAMES: Record<ArgKind | Argument['kind'], string> = { string: 'a string', stringList: 'a string list', number: 'a number', tag: 'a tag' };

export function validateScript(ast: ScriptNode, reg: Registry): CompiledScript {
  return new Validator(reg).script(ast);
}

class Validator implements ValidatorApi {
  private readonly required = new Set<string>();
  private readonly uses = new Set<string>();

  constructor(private readonly reg: Registry) {}

  has(cap: string): boolean {
    return this.required.has(cap);
  }

  error(pos: Position, reason: string): never {
    throw new SieveCompileError(pos, reason);
  }

  constant(s: Str): string | undefined {
    return isTemplate(s) ? undefined : s;
  }

  script(ast: ScriptNode): CompiledScript {
    let i = 0;
    // RFC 5228 §3.2: require only at the beginning.
    for (; i < ast.commands.length && ast.commands[i]!.name === 'require'; i++) this.require(ast.commands[i]!);
    const commands = this.commands(ast.commands.slice(i));
    return { commands, required: this.required, uses: this.uses };
  }

  private require(node: CommandNode): void {
    const arg = node.args[0];
    if (node.args.length !== 1 || !arg || (arg.kind !== 'string' && arg.kind !== 'stringList')) {
      this.error(node.pos, 'the require command takes one string list of capabilities');
    }
    if (node.block || node.tests.length) this.error(node.pos, 'the require command takes no test and no block');
    const names = arg.kind === 'string' ? [arg] : arg.values;
    for (const n of names) {
      const cap = n.value;
      if (!this.reg.capabilities.has(cap)) this.error(n.pos, `unknown Sieve capability "${cap}"`);
      this.required.add(cap);
      for (const x of this.reg.implies.get(cap) ?? []) this.required.add(x);
    }
  }

  private commands(nodes: CommandNode[]): CompiledNode[] {
    const out: CompiledNode[] = [];
    let prev: CommandDef | undefined;
    for (const n of nodes) {
      if (n.name === 'require') this.error(n.pos, 'require commands can only be placed at top level at the beginning of the script');
      const def = this.reg.commands.get(n.name);
      if (!def || (def.requires && !this.has(def.requires))) this.error(n.pos, `unknown command "${n.name}"`);
      // RFC 5228 §3.1: elsif / else only after if or elsif.
      if ((def.control === 'elsif' || def.control === 'else') && prev?.control !== 'if' && prev?.control !== 'elsif') {
        this.error(n.pos, `the ${n.name} command must follow an if or elsif command`);
      }
      out.push(this.command(n, def));
      prev = def;
    }
    return out;
  }

  private command(n: CommandNode, def: CommandDef): CompiledNode {
    const c = this.node(n, def);
    if (def.control) {
      if (def.control === 'else' ? n.tests.length > 0 : n.tests.length !== 1 || n.testList) {
        this.error(n.pos, def.control === 'else' ? 'the else command takes no test' : `the ${n.name} command requires one test`);
      }
      if (!n.block) this.error(n.pos, `the ${n.name} command requires a block`);
      c.tests = n.tests.map((t) => this.test(t));
      c.block = this.commands(n.block);
    } else {
      // "keep\ndiscard;" parses as keep with a test: what is missing is the semicolon.
      if (n.tests.length > 0) this.error(n.pos, `missing ";" after the ${n.name} command`);
      if (n.block) this.error(n.pos, `the ${n.name} command takes no block`);
    }
    def.validate?.(c, this);
    return c;
  }

  private test(n: TestNode): CompiledNode {
    const def = this.reg.tests.get(n.name);
    if (!def || (def.requires && !this.has(def.requires))) this.error(n.pos, `unknown test "${n.name}"`);
    const c = this.node(n, def);
    if (def.subtests === 'list') {
      if (!n.testList) this.error(n.pos, `the ${n.name} test requires a list of tests in parentheses`);
    } else if (def.subtests === 'one') {
      if (n.tests.length !== 1 || n.testList) this.error(n.pos, `the ${n.name} test requires one test`);
    } else if (n.tests.length > 0) {
      this.error(n.tests[0]!.pos, `the ${n.name} test takes no test`);
    }
    c.tests = n.tests.map((t) => this.test(t));
    def.validate?.(c, this);
    return c;
  }

  /** Tags, then positional arguments, checked against the definition. */
  private node(n: TestNode, def: CommandDef | TestDef): CompiledNode {
    const what = `${def.name} ${def.kind}`;
    this.uses.add(def.name);
    const c: CompiledNode = { def, pos: n.pos, tags: new Map(), groups: new Map(), args: [], tests: [] };
    const positional: Argument[] = [];
    for (let i = 0; i < n.args.length; i++) {
      const a = n.args[i]!;
      if (a.kind !== 'tag') {
        positional.push(a);
        continue;
      }
      const spec = def.tags?.find((t) => t.name === a.name && (!t.requires || this.has(t.requires)));
      if (!spec) this.error(a.pos, `unknown tagged argument ":${a.name}" for the ${what}`);
      if (positional.length > 0) this.error(a.pos, `unexpected tagged argument ":${a.name}" after the positional arguments of the ${what}`);
      if (c.tags.has(a.name)) this.error(a.pos, `duplicate tagged argument ":${a.name}" for the ${what}`);
      if (spec.group) {
        const other = c.groups.get(spec.group);
        if (other) this.error(a.pos, `":${a.name}" conflicts with ":${other}" for the ${what}`);
        c.groups.set(spec.group, a.name);
      }
      if (spec.param) {
        const p = n.args[++i];
        if (!p || p.kind === 'tag' || !kindFits(spec.param, p)) {
          this.error(p?.pos ?? a.pos, `the ":${a.name}" tag of the ${what} requires ${KIND_NAMES[spec.param]} argument`);
        }
        c.tags.set(a.name, this.value(p as Exclude<Argument, { kind: 'tag' }>, spec.literal));
      } else {
        c.tags.set(a.name, true);
      }
    }
    const specs = def.positional;
    const needed = specs.filter((s) => !s.optional).length;
    if (positional.length < needed || positional.length > specs.length) {
      const count = needed === specs.length ? `${needed}` : `${needed} to ${specs.length}`;
      this.error(n.pos, `the ${what} requires ${count} positional argument(s), but ${positional.length} were given`);
    }
    const skip = specs.length - positional.length; // optional leading arguments left out
    c.args = specs.map(() => undefined);
    positional.forEach((a, k) => {
      const spec = specs[k + skip]!;
      if (!kindFits(spec.kind, a)) this.error(a.pos, `the ${what} expects ${KIND_NAMES[spec.kind]} as argument ${k + 1} (${spec.name}), but ${KIND_NAMES[a.kind]} was found`);
      c.args[k + skip] = this.value(a as Exclude<Argument, { kind: 'tag' }>, spec.literal);
    });
    return c;
  }

  private value(a: Exclude<Argument, { kind: 'tag' }>, literal?: boolean): CValue {
    if (a.kind === 'number') return { kind: 'number', n: a.value, pos: a.pos };
    if (a.kind === 'string') return { kind: 'string', s: this.str(a, literal), pos: a.pos };
    return { kind: 'stringList', items: a.values.map((v) => this.str(v, literal)), pos: a.pos };
  }

  private str(a: StringArg, literal?: boolean): Str {
    let s = a.value;
    if (this.has('encoded-character')) s = decodeEncodedCharacters(s);
    if (!literal && this.has('variables')) return compileTemplate(s);
    return s;
  }
}

function kindFits(kind: ArgKind, a: Argument): boolean {
  if (kind === 'number') return a.kind === 'number';
  if (kind === 'string') return a.kind === 'string';
  return a.kind === 'string' || a.kind === 'stringList';
}
