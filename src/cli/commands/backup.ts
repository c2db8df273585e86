/**
 * `backup`, `restore`, `verify`, `rollback`: the CLI face of src/backup/ (docs/backup.md).
 * None of them opens the database through the context: that would apply pending
 * migrations, and these verbs must see the data root as it is.
 */
import { CliError, type CliContext } from '../context.js';
import { JSON_OPTION, type Command } from '../types.js';
import type { RollbackPlan } from '../../backup/index.js';

/** 123456789 → "117.7 MiB". */
export function humanBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[i]}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function lib() {
  return import('../../backup/index.js');
}

function printFindings(ctx: CliContext, r: import('../../backup/index.js').VerifyReport, fix: boolean): void {
  for (const f of r.findings) {
    const action = f.fixed ? `fixed: ${f.fix}` : f.fix ? `${fix ? 'not fixed' : 'would fix'}: ${f.fix}` : '';
    ctx.out(`${f.severity}: ${f.where}: ${f.problem}${action ? ` [${action}]` : ''}`);
  }
  const open = r.findings.filter((f) => f.severity !== 'info' && !f.fixed);
  const fixable = open.filter((f) => f.fix).length;
  ctx.out(
    `${r.accounts} account(s), ${r.messages} message(s) indexed; ` +
      (open.length === 0 ? 'no problems' : `${open.length} problem(s)${!fix && fixable ? `, ${fixable} fixable with --fix` : ''}`),
  );
}

export const backupCommands: Command[] = [
  {
    name: 'backup',
    params: '<dir|file.tar.zst|file.tar.gz>',
    args: { min: 1, max: 1 },
    options: [{ name: 'copy', help: 'copy message files even where hard links would do (a backup on the same disk that must not share files)' }, JSON_OPTION],
    help: `Back up the data root, consistently, while the server runs.

Every SQLite database (the server database, each mailbox index) is copied with SQLite's
online backup API, then the Maildir message files are hard-linked (same file system) or
copied, with the config, certificates and the outbound queue. Mail delivered during the
backup is either entirely in it or not at all; "restore" reconciles the indexes with
the files.

A directory (new or empty) is the primary form: on the same disk it costs almost no
space. A name ending in .tar.zst (needs the zstd program) or .tar.gz gives an archive
instead, for taking elsewhere. See docs/backup.md.`,
    async run(ctx, [target], opts) {
      const { backup } = await lib();
      const r = await backup(ctx.dataRoot, target!, { copy: Boolean(opts.copy), onProgress: opts.json ? undefined : (l) => ctx.out(l) });
      if (opts.json) return ctx.out(JSON.stringify(r, null, 2));
      ctx.out(
        `backed up ${ctx.dataRoot} to ${r.dir}: ${r.databases} database(s), ${r.messages} message(s), ${r.files} files, ` +
          `${humanBytes(r.bytes)}${r.archiveBytes !== undefined ? ` (archive: ${humanBytes(r.archiveBytes)})` : ''}, ${seconds(r.durationMs)}` +
          `${r.linked ? `; ${r.linked} files hard-linked` : ''}`,
      );
    },
  },
  {
    name: 'restore',
    params: '<backup>',
    args: { min: 1, max: 1 },
    options: [
      { name: 'force', help: 'restore into a data root that holds something: its contents are moved aside to <data>.replaced-<time>' },
      { name: 'copy', help: 'copy message files even where hard links to the backup would do' },
    ],
    help: `Check a backup and restore it as the data root given with --data.

The backup (a directory or a .tar.zst/.tar.gz archive made by "backup") is checked
first: every file with its size and checksum, every database with PRAGMA
integrity_check. Then it is laid out as the data root, each account is reindexed (mail
delivered while the backup ran is indexed from its file, under the UID in its name),
queue entries delivered during the backup are dropped, and the result is verified.

Refuses a data root that is not empty unless --force, and one a server runs on. Start
the server on the restored root afterwards.`,
    async run(ctx, [source], opts) {
      const { restoreBackup } = await lib();
      const r = await restoreBackup(source!, ctx.dataRoot, { force: Boolean(opts.force), copy: Boolean(opts.copy), onProgress: (l) => ctx.out(l) });
      printFindings(ctx, r.verify, false);
      ctx.out(`restored ${r.manifest.messages} message(s) from a backup of ${r.manifest.source} taken ${r.manifest.started} into ${r.target} in ${seconds(r.durationMs)}`);
      if (!r.verify.ok) throw new CliError('the restored data root has problems (above); "mailserver verify --fix" repairs what it can');
    },
  },
  {
    name: 'verify',
    params: '',
    args: { min: 0, max: 0 },
    options: [{ name: 'fix', help: 'fix what can be fixed safely (reindex, stale queue entries, permissions)' }, JSON_OPTION],
    help: `Check the data root and say what is wrong and what --fix would do.

Checks the server database (PRAGMA integrity_check, foreign keys, schema version, an
upgrade left halfway), each account's mailbox index against its Maildir files, Maildirs
of no account, queue entries without their file and files without their entry, a stale
pid file, and permissions (the data root, config/ and certs/ must not be open to other
users). Safe while the server runs. Exit status 1 when a problem is left.`,
    async run(ctx, _args, opts) {
      const { verifyDataRoot } = await lib();
      const r = await verifyDataRoot(ctx.dataRoot, { fix: Boolean(opts.fix) });
      if (opts.json) ctx.out(JSON.stringify(r, null, 2));
      else printFindings(ctx, r, Boolean(opts.fix));
      if (!r.ok) throw new CliError(opts.fix ? 'problems remain that need a person (above)' : 'problems found (above)');
    },
  },
  {
    name: 'rollback',
    params: '',
    args: { min: 0, max: 0 },
    options: [
      { name: 'list', help: 'list the snapshots taken before upgrades, newest first' },
      { name: 'snapshot', value: '<name>', help: 'roll back to this snapshot instead of the newest' },
      { name: 'dry-run', help: 'say what would change, change nothing' },
      { name: 'force', help: 'roll back although queued messages arrived since the snapshot (their files are kept in the pre-rollback snapshot)' },
    ],
    help: `Put the database and config back as they were before the last upgrade.

Before it applies a schema migration, the server keeps a snapshot of its database and
config in backups/pre-migrate-<version>-<time>/ (backup.keep_snapshots of them). This
puts the newest one back, after keeping the current state as backups/pre-rollback-<time>/.
Refused while the server runs. Accounts, domains and queued mail added since the
upgrade are named first; the rollback refuses while queued mail would be lost, unless
--force. Then install the previous version of mailserver: this one would upgrade again.`,
    async run(ctx, _args, opts) {
      const { listSnapshots, planRollback, rollback } = await lib();
      if (opts.list) {
        const all = listSnapshots(ctx.dataRoot, 'pre-migrate');
        if (all.length === 0) ctx.out('no snapshots');
        for (const s of all) ctx.out(`${s.name}  taken by mailserver ${s.program} at ${s.created}, schema ${Math.max(...s.applied)} → ${Math.max(...(s.pending ?? s.applied))}`);
        return;
      }
      const name = typeof opts.snapshot === 'string' ? opts.snapshot : undefined;
      const plan: RollbackPlan & { savedAs?: string } = opts['dry-run'] ? planRollback(ctx.dataRoot, name) : await rollback(ctx.dataRoot, { snapshot: name, force: Boolean(opts.force) });
      const s = plan.snapshot;
      if (plan.accountsAdded.length) ctx.out(`accounts added since the upgrade, unknown after it: ${plan.accountsAdded.join(', ')} (their mail stays in maildir/)`);
      if (plan.domainsAdded.length) ctx.out(`domains added since the upgrade, unknown after it: ${plan.domainsAdded.join(', ')}`);
      if (plan.queueAdded.length) ctx.out(`queued messages the snapshot does not hold: ${plan.queueAdded.length}`);
      if (opts['dry-run']) return ctx.out(`would put back ${s.name} (schema ${Math.max(...s.applied)}, mailserver ${s.program}); nothing changed`);
      ctx.out(`put back ${s.name}: the database is at schema ${Math.max(...s.applied)} again, as mailserver ${s.program} left it`);
      ctx.out(`the state before the rollback is kept in backups/${plan.savedAs}`);
      ctx.out(`now install mailserver ${s.program} and start it; this version would upgrade the database again`);
    },
  },
];
