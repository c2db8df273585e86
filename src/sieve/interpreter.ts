/**
 * The interpreter: runs a compiled script against one message and collects actions
 * into a Result; it performs none of them (RFC 5228 §2.10, Pigeonhole's
 * sieve-interpreter.c + sieve-result.c split). Control flow (if/elsif/else, stop) is
 * here; every other command and test runs its extension's definition.
 *
 * Limits, so that no script can hold the event loop or the memory:
 * - a work budget in characters visited by matches and steps taken (match.ts Budget),
 * - CPU time (the process's, as Pigeonhole's sieve_max_cpu_time uses getrusage), checked
 *   at every command and test and during long matches; CPU rather than wall-clock time,
 *   so that a busy machine does not fail scripts that do little,
 * - variables: a bounded number, each value truncated to a bounded length (RFC 5229
 *   §3 allows truncation; Pigeonhole's defaults are 255 and 4096).
 * Running out of any of them is a runtime error: the outcome is the implicit keep, and
 * the error says why (the delivery path logs it).
 */
import { SieveRuntimeError } from './errors.js';
import { Budget } from './match.js';
import type { SieveEnvelope, SieveMessage } from './message.js';
import { Result, type ResultLimits, type SieveOutcome } from './result.js';
import type { CompiledScript } from './validator.js';
import type { CompiledNode, CValue, Str } from './types.js';

export interface RunLimits extends ResultLimits {
  /** Work units (roughly characters compared) per run. */
  cpuBudget: number;
  /** CPU milliseconds per run. */
  timeMs: number;
  maxVariables: number;
  maxVariableSize: number;
}

export const DEFAULT_RUN_LIMITS: RunLimits = {
  maxRedirects: 4,
  maxActions: 32,
  cpuBudget: 20_000_000,
  // A backstop: the budget bounds the work; this also counts lazily loaded modules.
  timeMs: 1000,
  maxVariables: 255,
  maxVariableSize: 4096,
};

export interface SieveEnv {
  message: SieveMessage;
  envelope: SieveEnvelope;
  /** RFC 5490 mailboxexists; undefined answers "no mailbox exists". */
  mailboxExists?(name: string): boolean;
  /** The current time for currentdate (RFC 5260 §5); defaults to now. */
  now?: Date;
  /** The local time zone offset in minutes east of UTC, for date tests without :zone. */
  zoneOffsetMinutes?: number;
}

class Stop {}

export class Interpreter {
  readonly result: Result;
  readonly budget: Budget;
  private readonly vars = new Map<string, string>();
  private matchVars: string[] = [];
  /** CPU usage when the run was first checked (lazily: most runs never are). */
  private cpuStart: NodeJS.CpuUsage | undefined;
  private ticks = 0;
  /** The internal flags variable of imap4flags (RFC 5232 §3). */
  flags: string[] = [];

  constructor(
    readonly env: SieveEnv,
    readonly script: CompiledScript,
    readonly limits: RunLimits = DEFAULT_RUN_LIMITS,
  ) {
    this.result = new Result(limits);
    this.budget = new Budget(limits.cpuBudget, () => this.checkTime());
  }

  /** Runs the script; never throws for a script's own failures (they become `error`). */
  run(): SieveOutcome {
    try {
      this.block(this.script.commands);
    } catch (err) {
      if (!(err instanceof Stop)) {
        if (!(err instanceof SieveRuntimeError)) throw err;
        return { actions: [], implicitKeep: { mailbox: 'INBOX', flags: [] }, error: err.message };
      }
    }
    const flags = this.script.required.has('imap4flags') ? [...this.flags] : [];
    return { actions: this.result.actions, implicitKeep: this.result.implicitKeep ? { mailbox: 'INBOX', flags } : undefined };
  }

  private tick(node: CompiledNode): void {
    this.budget.charge(1);
    if ((++this.ticks & 1023) === 0) this.checkTime(node);
  }

  /**
   * CPU time since the first check (a syscall, so only every 1024 steps or 100 000 units
   * of match work: an ordinary script never gets here, a long one is measured from then).
   */
  private checkTime(node?: CompiledNode): void {
    if (!this.cpuStart) {
      this.cpuStart = process.cpuUsage();
      return;
    }
    const used = process.cpuUsage(this.cpuStart);
    if ((used.user + used.system) / 1000 > this.limits.timeMs) throw new SieveRuntimeError('script exceeded its CPU time limit', node?.pos);
  }

  /** Runs a block: if/elsif/else chains here, everything else through its definition. */
  block(cmds: CompiledNode[]): void {
    let taken = false;
    for (const c of cmds) {
      this.tick(c);
      const def = c.def;
      if (def.kind !== 'command') continue;
      switch (def.control) {
        case 'if':
          taken = this.test(c.tests[0]!);
          if (taken) this.block(c.block!);
          break;
        case 'elsif':
          if (!taken) {
            taken = this.test(c.tests[0]!);
            if (taken) this.block(c.block!);
          }
          break;
        case 'else':
          if (!taken) this.block(c.block!);
          taken = true;
          break;
        default:
          try {
            def.run(c, this);
          } catch (err) {
            if (err instanceof SieveRuntimeError && !err.pos) throw new SieveRuntimeError(err.message, c.pos);
            throw err;
          }
      }
    }
  }

  test(node: CompiledNode): boolean {
    this.tick(node);
    const def = node.def;
    if (def.kind !== 'test') throw new Error('not a test');
    return def.evaluate(node, this);
  }

  /** RFC 5228 §3.3 stop. */
  stop(): never {
    throw new Stop();
  }

  // --- strings and variables (RFC 5229) ---

  str(s: Str): string {
    if (typeof s === 'string') return s;
    let out = '';
    for (const p of s.parts) {
      if (typeof p === 'string') out += p;
      else if ('match' in p) out += this.matchVars[p.match] ?? '';
      else out += this.vars.get(p.name) ?? '';
    }
    this.budget.charge(out.length);
    return out;
  }

  value(v: CValue | undefined): string[] {
    if (!v) return [];
    if (v.kind === 'string') return [this.str(v.s)];
    if (v.kind === 'stringList') return v.items.map((s) => this.str(s));
    return [String(v.n)];
  }

  /** The string argument at index i. */
  arg(node: CompiledNode, i: number): string {
    const v = node.args[i];
    if (!v || v.kind !== 'string') return v ? this.value(v)[0] ?? '' : '';
    return this.str(v.s);
  }

  list(node: CompiledNode, i: number): string[] {
    return this.value(node.args[i]);
  }

  tagString(node: CompiledNode, name: string): string | undefined {
    const t = node.tags.get(name);
    if (t === undefined || t === true) return undefined;
    return this.value(t)[0];
  }

  tagList(node: CompiledNode, name: string): string[] | undefined {
    const t = node.tags.get(name);
    if (t === undefined || t === true) return undefined;
    return this.value(t);
  }

  tagNumber(node: CompiledNode, name: string): number | undefined {
    const t = node.tags.get(name);
    return t !== undefined && t !== true && t.kind === 'number' ? t.n : undefined;
  }

  getVar(name: string): string {
    return this.vars.get(name.toLowerCase()) ?? '';
  }

  setVar(name: string, value: string): void {
    const key = name.toLowerCase();
    if (!this.vars.has(key) && this.vars.size >= this.limits.maxVariables) {
      throw new SieveRuntimeError(`too many variables (more than ${this.limits.maxVariables})`);
    }
    this.vars.set(key, truncate(value, this.limits.maxVariableSize));
  }

  private readonly memos = new Map<string, unknown>();
  /** A value computed once per run (parsed envelope addresses…). */
  memo<T>(key: string, make: () => T): T {
    let v = this.memos.get(key) as T | undefined;
    if (v === undefined) {
      v = make();
      this.memos.set(key, v);
    }
    return v;
  }

  /** RFC 5229 §3.2: a successful :matches sets ${0}…; only when "variables" is in use. */
  setMatches(captures: string[] | undefined): void {
    if (!captures || !this.script.required.has('variables')) return;
    this.matchVars = captures.map((c) => truncate(c, this.limits.maxVariableSize));
  }
}

/** Truncates to at most `max` UTF-16 units without splitting a surrogate pair. */
function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return s.slice(0, end);
}
