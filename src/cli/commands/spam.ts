/**
 * `spam train|seed|status|set`: the spam filter's per-account classifier (src/spam/).
 * Works while the server runs: the classifier databases are SQLite in WAL mode, and the
 * server notices another process's training.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig, type Config } from '../../config/index.js';
import { CliError, type CliContext } from '../context.js';
import { formatSize } from '../format.js';
import { JSON_OPTION, type Command, type ParsedOptions } from '../types.js';

/** Message files of a Maildir folder (cur/ and new/), or of a plain directory of files. */
function messageFiles(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CliError(`${dir} is not a directory`);
  const sub = ['cur', 'new'].map((s) => path.join(dir, s)).filter((d) => existsSync(d));
  const dirs = sub.length > 0 ? sub : [dir];
  return dirs.flatMap((d) =>
    readdirSync(d, { withFileTypes: true })
      .filter((e) => e.isFile() && !e.name.startsWith('.'))
      .map((e) => path.join(d, e.name))
      .sort(),
  );
}

async function readHead(file: string, max: number): Promise<{ bytes: Buffer; truncated: boolean }> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const buf = Buffer.alloc(Math.min(size, max));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    let bytes = buf.subarray(0, bytesRead);
    // An mbox-style "From " first line (a folder exported from mutt) is not a header.
    if (bytes.subarray(0, 5).toString('latin1') === 'From ') bytes = bytes.subarray(bytes.indexOf(10) + 1);
    return { bytes, truncated: size > max };
  } finally {
    await fh.close();
  }
}

function config(ctx: CliContext): Config {
  return loadConfig({ dataRoot: ctx.dataRoot, env: ctx.io.env });
}

/** Trains `account` (or the shared base) with the --spam and --ham folders. */
async function trainFolders(ctx: CliContext, account: string | undefined, opts: ParsedOptions): Promise<void> {
  const spamDir = typeof opts.spam === 'string' ? opts.spam : undefined;
  const hamDir = typeof opts.ham === 'string' ? opts.ham : undefined;
  if (!spamDir && !hamDir) throw new CliError('give --spam <dir> and/or --ham <dir>', true);
  const cfg = config(ctx);
  const [{ Classifiers, baseDbPath }, { scan }, { trainMessage }, { SpamDb }] = await Promise.all([
    import('../../spam/classifier.js'),
    import('../../spam/message.js'),
    import('../../spam/train.js'),
    import('../../spam/db.js'),
  ]);
  if (!account) new SpamDb(baseDbPath(ctx.dataRoot), { create: true }).close();
  const classifiers = new Classifiers(ctx.dataRoot);
  // The base is trained like an account whose database is the base file.
  const target = account ?? 'base';
  if (!account) classifiers.useBaseAsAccount(target);
  try {
    for (const [dir, verdict] of [
      [spamDir, 'spam'],
      [hamDir, 'ham'],
    ] as const) {
      if (!dir) continue;
      const files = messageFiles(path.resolve(dir));
      const counts: Record<string, number> = {};
      for (const [i, f] of files.entries()) {
        const { bytes, truncated } = await readHead(f, cfg.spam.maxScanSize);
        const outcome = trainMessage(classifiers, target, scan(bytes, truncated, cfg.hostname), verdict, {
          how: 'imported',
          implicit: false,
          hostname: cfg.hostname,
          implicitPerDay: 0,
        });
        if (outcome === 'no-account') throw new CliError(`no Maildir for ${target} (add the account first)`);
        counts[outcome] = (counts[outcome] ?? 0) + 1;
        if ((i + 1) % 1000 === 0) ctx.out(`${verdict}: ${i + 1} of ${files.length}`);
      }
      const newly = (counts.trained ?? 0) + (counts.retrained ?? 0);
      ctx.out(`${verdict}: ${files.length} message(s) from ${dir}: ${newly} trained${counts.same ? `, ${counts.same} already trained as ${verdict}` : ''}`);
    }
    const t = classifiers.totals(target);
    ctx.out(`${account ?? 'shared base'} now trained on ${t.nham} ham and ${t.nspam} spam`);
  } finally {
    classifiers.close();
  }
}

const FOLDER_OPTIONS = [
  { name: 'spam', value: '<dir>', help: 'a Maildir folder (cur/, new/) or a directory of message files that are spam' },
  { name: 'ham', value: '<dir>', help: 'the same for messages that are not spam' },
];

function onOff(v: string | boolean | undefined, name: string): boolean | null | undefined {
  if (v === undefined) return undefined;
  if (v === 'on') return true;
  if (v === 'off') return false;
  if (v === 'default') return null;
  throw new CliError(`--${name} takes on, off or default`, true);
}

function threshold(v: string | boolean | undefined, name: string): number | null | undefined {
  if (v === undefined) return undefined;
  if (v === 'default') return null;
  const n = Number(v);
  if (typeof v !== 'string' || !/^\d*\.?\d+$/.test(v) || n < 0 || n > 1) throw new CliError(`--${name} takes a number from 0 to 1, or default`, true);
  return n;
}

export const spamCommands: Command[] = [
  {
    name: 'spam train',
    params: '<address>',
    args: { min: 1, max: 1 },
    options: FOLDER_OPTIONS,
    help: `Train an account's spam filter with existing mail.

Every message in the --spam folder is trained as spam and every message in the --ham
folder as not spam, e.g. the Junk and INBOX folders of the account's old Maildir
(docker-mailserver: /var/mail/<domain>/<user>/.Junk). A message trained before with the
other verdict is untrained first; one trained with the same verdict is skipped, so
running it again is harmless. After that the filter goes on learning from the user's
own moves to and from Junk.`,
    async run(ctx, [address], opts) {
      const repo = await ctx.accounts();
      const account = repo.getAccount(address!);
      if (!account) throw new CliError(`unknown account ${address}`);
      await trainFolders(ctx, account.address, opts);
    },
  },
  {
    name: 'spam seed',
    params: '',
    args: { min: 0, max: 0 },
    options: FOLDER_OPTIONS,
    help: `Train the shared base every account's filter starts from.

Its counts are added to each account's own, so new accounts get useful verdicts before
their users have trained anything (it is stored in config/spam-base.sqlite). Seed it with
mail that is spam and not spam for everyone on this server.`,
    async run(ctx, _args, opts) {
      await trainFolders(ctx, undefined, opts);
    },
  },
  {
    name: 'spam status',
    params: '<address>',
    args: { min: 1, max: 1 },
    options: [{ name: 'last', value: '<n>', help: 'judgements the accuracy is computed over (default 100)' }, JSON_OPTION],
    help: `Show what an account's spam filter learned and how often it was right.

Accuracy compares the filter's verdict at delivery (X-Spam-Status) with the user's over
their last judgements: moves to and from Junk, $Junk/$NotJunk, replies, mail kept in
INBOX or filed elsewhere. "Missed spam" is mail the user moved to Junk; "wrongly junked"
is mail they moved out of it.`,
    async run(ctx, [address], opts) {
      const repo = await ctx.accounts();
      const account = repo.getAccount(address!);
      if (!account) throw new CliError(`unknown account ${address}`);
      const last = opts.last === undefined ? 100 : Number(opts.last);
      if (!Number.isInteger(last) || last < 1 || last > 1000) throw new CliError('--last takes a number from 1 to 1000', true);
      const { accountStatus } = await import('../../spam/status.js');
      const { getSpamSettings } = await import('../../spam/settings.js');
      const s = getSpamSettings(ctx.db(), config(ctx), account.address);
      const st = accountStatus(ctx.dataRoot, account.address, last);
      if (opts.json) {
        ctx.out(JSON.stringify({ account: account.address, settings: s, status: st ?? null }, null, 2));
        return;
      }
      const mark = (k: Exclude<keyof typeof s, 'overridden'>) => (s.overridden.includes(k) ? ' (set for this account)' : '');
      ctx.out(`account:          ${account.address}`);
      ctx.out(`scoring:          ${s.enabled ? 'on' : 'off'}${mark('enabled')}`);
      ctx.out(`junk threshold:   ${s.junkThreshold}${mark('junkThreshold')}`);
      ctx.out(`reject threshold: ${s.rejectThreshold === 0 ? 'never refuse' : s.rejectThreshold}${mark('rejectThreshold')}`);
      ctx.out(`greylisting:      ${s.greylist ? 'on' : 'off'}${mark('greylist')}`);
      if (!st) {
        ctx.out('trained:          nothing yet');
        return;
      }
      ctx.out(`trained:          ${st.trained.spam} spam, ${st.trained.ham} ham (${st.trained.implicitHam} of them implicitly)`);
      ctx.out(`database:         ${st.tokens} tokens, ${formatSize(st.dbBytes)} (${st.dbBytes} bytes)`);
      const a = st.accuracy;
      ctx.out(
        `accuracy:         ${a.percent === null ? 'no judgements of scored mail yet' : `${a.percent.toFixed(1)} % (${a.agreed} of the last ${a.judged} judged messages)`}` +
          (a.judged ? `; missed spam ${a.missedSpam}, wrongly junked ${a.wronglyJunked}` : ''),
      );
      for (const j of st.recent) ctx.out(`  ${new Date(j.at).toISOString().replace(/\.\d+Z$/, 'Z')}  ${j.user.padEnd(4)}  ${j.how}${j.filter ? ` (filter said ${j.filter}${j.score !== undefined ? `, ${j.score.toFixed(3)}` : ''})` : ''}`);
    },
  },
  {
    name: 'spam set',
    params: '<address>',
    args: { min: 1, max: 1 },
    options: [
      { name: 'junk-threshold', value: '<0..1|default>', help: 'score at or above which mail goes to Junk' },
      { name: 'reject-threshold', value: '<0..1|default>', help: 'score at or above which port 25 refuses the message (0: never)' },
      { name: 'greylist', value: '<on|off|default>', help: 'greylisting for this account' },
      { name: 'scoring', value: '<on|off|default>', help: 'score this account’s mail at all' },
    ],
    help: `Change an account's spam settings ("default" goes back to the config's value).

The defaults are in the [spam] section of config/mailserver.toml. The running server
reads these settings for every message.`,
    async run(ctx, [address], opts) {
      const repo = await ctx.accounts();
      const account = repo.getAccount(address!);
      if (!account) throw new CliError(`unknown account ${address}`);
      const { setSpamSettings, SpamSettingsError } = await import('../../spam/settings.js');
      const patch = {
        junkThreshold: threshold(opts['junk-threshold'], 'junk-threshold'),
        rejectThreshold: threshold(opts['reject-threshold'], 'reject-threshold'),
        greylist: onOff(opts.greylist, 'greylist'),
        enabled: onOff(opts.scoring, 'scoring'),
      };
      if (Object.values(patch).every((v) => v === undefined)) throw new CliError('nothing to set; see "mailserver spam set --help"', true);
      try {
        setSpamSettings(ctx.db(), account.address, patch);
      } catch (err) {
        if (err instanceof SpamSettingsError) throw new CliError(err.message, true);
        throw err;
      }
      ctx.out(`spam settings of ${account.address} changed`);
    },
  },
];
