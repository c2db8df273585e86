/**
 * The Sieve engine's entry points: compile a script (lexer → parser → validator with
 * every extension registered below) and run a compiled script against a message. Pure:
 * no store, no network, no clock except the run's deadline and currentdate.
 *
 * Extensions (RFC): base language (5228), fileinto, envelope, encoded-character
 * (5228), copy (3894), mailbox (5490), imap4flags (5232), variables (5229),
 * relational (5231), subaddress (5233), body (5173), reject/ereject (5429), vacation
 * (5230), vacation-seconds (6131), date and index (5260), comparator-i;ascii-numeric
 * (4790).
 */
import { SieveCompileError } from './errors.js';
import { bodyExtension } from './ext/body.js';
import { coreExtension } from './ext/core.js';
import { dateExtension } from './ext/date.js';
import { capabilityExtensions, copyExtension, envelopeExtension, fileintoExtension, mailboxExtension } from './ext/fileinto.js';
import { imap4flagsExtension } from './ext/imap4flags.js';
import { variablesExtension } from './ext/variables.js';
import { rejectExtensions, vacationExtensions } from './ext/vacation.js';
import { DEFAULT_RUN_LIMITS, Interpreter, type RunLimits, type SieveEnv } from './interpreter.js';
import { parseScript } from './parser.js';
import type { SieveOutcome } from './result.js';
import { buildRegistry, validateScript, type CompiledScript } from './validator.js';

const EXTENSIONS = [
  coreExtension,
  fileintoExtension,
  envelopeExtension,
  copyExtension,
  mailboxExtension,
  imap4flagsExtension,
  variablesExtension,
  bodyExtension,
  dateExtension,
  ...rejectExtensions,
  ...vacationExtensions,
  ...capabilityExtensions,
];

const REGISTRY = buildRegistry(EXTENSIONS);

/**
 * What ManageSieve announces in its SIEVE capability (RFC 5804 §1.7): every
 * capability `require` accepts, except the comparators every implementation has.
 */
export const SIEVE_CAPABILITIES: readonly string[] = [...REGISTRY.capabilities].filter((c) => c !== 'comparator-i;octet' && c !== 'comparator-i;ascii-casemap').sort();

/** Pigeonhole's default sieve_max_script_size is 1 MiB. */
export const DEFAULT_MAX_SCRIPT_BYTES = 1024 * 1024;

export type { CompiledScript } from './validator.js';

/** Compiles a script; throws SieveCompileError with the line and column of the first error. */
export function compileSieve(text: string, opts: { maxBytes?: number } = {}): CompiledScript {
  const max = opts.maxBytes ?? DEFAULT_MAX_SCRIPT_BYTES;
  if (Buffer.byteLength(text, 'utf8') > max) throw new SieveCompileError({ line: 1, column: 1 }, `script is larger than ${max} bytes`);
  return validateScript(parseScript(text), REGISTRY);
}

/** undefined when the script compiles, else the first error ("line L, column C: …"). */
export function checkSieve(text: string, opts: { maxBytes?: number } = {}): string | undefined {
  try {
    compileSieve(text, opts);
    return undefined;
  } catch (err) {
    if (err instanceof SieveCompileError) return err.message;
    throw err;
  }
}

/** Runs a compiled script; the outcome lists the actions to execute (result.ts). */
export function runSieve(script: CompiledScript, env: SieveEnv, limits: RunLimits = DEFAULT_RUN_LIMITS): SieveOutcome {
  return new Interpreter(env, script, limits).run();
}

