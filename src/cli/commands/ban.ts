/**
 * `ban list|add|remove`: client addresses refused on IMAP, POP3 and submission after
 * too many failed logins (src/accounts/throttle.ts), kept in the server database. Works
 * while the server runs: it notices a change within a fraction of a second.
 */
import { banTarget, BanList, type Ban } from '../../accounts/bans.js';
import { CliError, type CliContext } from '../context.js';
import { table, when } from '../format.js';
import { JSON_OPTION, type Command } from '../types.js';

function target(input: string): string {
  const t = banTarget(input);
  if (!t) throw new CliError(`invalid address "${input}": give an IPv4 or IPv6 address, or an IPv6 /64 network`, true);
  return t;
}

function json(b: Ban) {
  return { client: b.client, until: new Date(b.until).toISOString(), failures: b.failures, reason: b.reason, since: new Date(b.createdAt).toISOString() };
}

function bans(ctx: CliContext): BanList {
  return new BanList(ctx.db());
}

export const banCommands: Command[] = [
  {
    name: 'ban list',
    params: '',
    args: { min: 0, max: 0 },
    options: [JSON_OPTION],
    help: `List the client addresses banned now, with when the ban ends and why.

A client is an IPv4 address or an IPv6 /64 network. It is banned after auth.ban_failures
failed logins within auth.ban_window_seconds (IMAP, POP3 and submission together), for
auth.ban_seconds; a banned client is refused at connect. See docs/security.md.`,
    run(ctx, _args, opts) {
      const list = bans(ctx).list();
      if (opts.json) return ctx.out(JSON.stringify(list.map(json), null, 2));
      if (list.length === 0) return ctx.out('no bans');
      const rows = list.map((b) => [b.client, when(new Date(b.until)), b.reason]);
      for (const line of table([['CLIENT', 'UNTIL', 'REASON'], ...rows])) ctx.out(line);
    },
  },
  {
    name: 'ban add',
    params: '<address>',
    args: { min: 1, max: 1 },
    options: [{ name: 'seconds', value: '<n>', help: 'how long (default: auth.ban_seconds of the configuration)' }],
    help: `Ban a client address by hand: IMAP, POP3 and submission refuse it at connect.

An IPv6 address bans its whole /64, as automatic bans do. A ban added again replaces
the earlier one.`,
    run(ctx, [address], opts) {
      const client = target(address!);
      let seconds = ctx.config().auth.banSeconds;
      if (opts.seconds !== undefined) {
        if (typeof opts.seconds !== 'string' || !/^\d+$/.test(opts.seconds) || Number(opts.seconds) < 1) throw new CliError(`invalid --seconds "${String(opts.seconds)}": a whole number >= 1`, true);
        seconds = Number(opts.seconds);
      }
      const b = bans(ctx).add(client, { seconds, failures: 0, reason: 'added by hand' });
      ctx.out(`banned ${b.client} until ${when(new Date(b.until))}`);
    },
  },
  {
    name: 'ban remove',
    params: '<address>',
    args: { min: 1, max: 1 },
    help: `Lift the ban of a client address (the server notices within a second).

Give the address as "ban list" shows it, or any address of a banned IPv6 /64. The
client's count of failed logins in the running server stays: its next failure still
waits the login penalty.`,
    run(ctx, [address]) {
      const client = target(address!);
      if (!bans(ctx).remove(client)) throw new CliError(`${client} is not banned`);
      ctx.out(`lifted the ban of ${client}`);
    },
  },
];
