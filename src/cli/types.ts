/** The shape of one CLI command (mox's `{name, params, help, run}` table entries). */
import type { CliContext } from './context.js';

export interface OptionSpec {
  /** Long name without dashes: `force` is `--force`. */
  name: string;
  /** Placeholder when the option takes a value (`--quota <size>`); absent for a flag. */
  value?: string;
  help: string;
}

export type ParsedOptions = Record<string, string | boolean | undefined>;

export interface Command {
  /** Words that select the command: `domain add`. */
  name: string;
  /** Positional parameters as shown in help: `<domain>`, `[domain]`, `<target>...`. */
  params: string;
  /** How many positional arguments it takes. */
  args: { min: number; max: number };
  options?: OptionSpec[];
  /** First line: a one-line summary. Then paragraphs, separated by blank lines. */
  help: string;
  run(ctx: CliContext, args: string[], opts: ParsedOptions): Promise<void> | void;
}

/** `--json` for list verbs. */
export const JSON_OPTION: OptionSpec = { name: 'json', help: 'print JSON instead of a table' };
