/**
 * `serve [--dev]`: run the mail server in the foreground until SIGTERM or SIGINT.
 */
import type { Command } from '../types.js';

export const serveCommands: Command[] = [
  {
    name: 'serve',
    params: '',
    args: { min: 0, max: 0 },
    options: [{ name: 'dev', help: 'development ports (2525, 2587, 2465, 1143, 1993, 1110, 1995, 8080, 8443, 14190) and plaintext login from loopback' }],
    help: `Run the mail server: SMTP, submission, IMAP, POP3 and HTTP in one process.

Settings come from config/mailserver.toml in the data root and MAILSERVER_* environment
variables; with no config at all, a non-root user gets the development profile. Stops
cleanly on SIGTERM or SIGINT: listeners stop accepting, running work finishes, and the
process exits with status 0. SIGHUP reads the config again: auth, checks, submission,
queue and log settings apply at once; the others are named as needing a restart; the
log file (log.file) is reopened, for logrotate.

One server per data root: it holds <data>/mailserver.pid while it runs. A database
from an older version is upgraded at start after a snapshot (docs/backup.md). The
other commands work while the server runs; they share its database.`,
    async run(ctx, _args, opts) {
      // Loaded here so other verbs do not load every protocol module.
      const { startServer } = await import('../../server.js');
      const server = await startServer({ dataRoot: ctx.dataRoot, dev: Boolean(opts.dev) });
      for (const l of server.listeners.values()) ctx.out(`listening: ${l.name} on port ${l.port}`);
      ctx.out(`data root: ${ctx.dataRoot}`);
      ctx.out('add a user with: mailserver domain add <domain> && mailserver account add <user@domain>');
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: NodeJS.Signals) => {
          if (stopping) return;
          stopping = true;
          ctx.out(`${signal}: stopping`);
          server.close().then(resolve, (err: Error) => {
            ctx.warn(`error while stopping: ${err.message}`);
            resolve();
          });
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
        // SIGHUP: read the config again (settings that need a restart are named).
        process.on('SIGHUP', () => {
          const r = server.reload();
          if (r.error) ctx.warn(`SIGHUP: config not reloaded: ${r.error}`);
          else ctx.out(`SIGHUP: config reloaded; applied: ${r.applied.join(', ') || 'nothing changed'}${r.needsRestart.length ? `; needs a restart: ${r.needsRestart.join(', ')}` : ''}`);
        });
      });
    },
  },
];
