/**
 * `alias add|list|remove`: addresses that deliver to other addresses, and catch-alls.
 */
import { table } from '../format.js';
import { JSON_OPTION, type Command } from '../types.js';

export const aliasCommands: Command[] = [
  {
    name: 'alias add',
    params: '<address|@domain> <target>...',
    args: { min: 2, max: Infinity },
    help: `Add an alias, or add targets to an existing one.

Mail to the alias goes to every target. A target in one of this server's domains must be
an account or another alias (user+tag works too); a target elsewhere is forwarded there.
"@domain" makes a catch-all: it gets mail for addresses of the domain that match no
account or alias. Plus-addressing needs no alias: mail to user+tag@domain reaches
user@domain by itself.

Aliases that would form a loop, aliases with the address of an account, and targets the
alias already has are refused; then nothing is changed.`,
    async run(ctx, [address, ...targets]) {
      const a = (await ctx.accounts()).addAlias(address!, targets);
      ctx.out(`alias ${a.address} -> ${a.targets.join(', ')}`);
    },
  },
  {
    name: 'alias list',
    params: '[domain]',
    args: { min: 0, max: 1 },
    options: [JSON_OPTION],
    help: `List aliases with their targets, all or those of one domain.`,
    async run(ctx, [domain], opts) {
      const aliases = (await ctx.accounts()).listAliases(domain);
      if (opts.json) return ctx.out(JSON.stringify(aliases.map((a) => ({ address: a.address, domain: a.domain, targets: a.targets })), null, 2));
      if (aliases.length === 0) return ctx.out('no aliases');
      for (const line of table([['ALIAS', 'TARGETS'], ...aliases.map((a) => [a.address, a.targets.join(', ')])])) ctx.out(line);
    },
  },
  {
    name: 'alias remove',
    params: '<address|@domain> [target]',
    args: { min: 1, max: 2 },
    help: `Remove an alias, or only one of its targets.

When the last target goes, the alias goes with it.`,
    async run(ctx, [address, target]) {
      const repo = await ctx.accounts();
      repo.removeAlias(address!, target);
      const left = repo.getAlias(address!);
      if (left) ctx.out(`alias ${left.address} -> ${left.targets.join(', ')}`);
      else ctx.out(`removed alias ${address!.trim()}`);
    },
  },
];
