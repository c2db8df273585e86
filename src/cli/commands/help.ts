/**
 * `help [command...]`: the same text as `--help`, from the command table.
 */
import type { Command } from '../types.js';

export function helpCommand(render: (words: string[]) => string): Command {
  return {
    name: 'help',
    params: '[command...]',
    args: { min: 0, max: Infinity },
    help: `Show help for all commands, a group of commands (e.g. "help account"), or one command.`,
    run(ctx, words) {
      ctx.io.stdout.write(render(words));
    },
  };
}
