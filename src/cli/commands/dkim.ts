/**
 * `dkim generate|show|rotate|remove`: the DKIM keys that sign this server's outgoing
 * mail (src/dkim/keys.ts), and the DNS TXT records to publish for them.
 */
import { normalizeDomain } from '../../accounts/address.js';
import { DKIM_ALGORITHMS, DkimKeyError, dnsRecordName, dnsRecordValue, generateDomainKey, listKeys, removeDomainKey, rotateDomainKey, zoneFileRecord, type DkimAlgorithm, type DkimKey } from '../../dkim/keys.js';
import { CliError, type CliContext } from '../context.js';
import { JSON_OPTION, type Command, type ParsedOptions } from '../types.js';

function algorithmOpt(opts: ParsedOptions): DkimAlgorithm | undefined {
  const a = opts.algorithm;
  if (a === undefined || a === false) return undefined;
  if (typeof a !== 'string' || !DKIM_ALGORITHMS.includes(a as DkimAlgorithm)) throw new CliError(`--algorithm must be one of ${DKIM_ALGORITHMS.join(', ')}`, true);
  return a as DkimAlgorithm;
}

function selectorOpt(opts: ParsedOptions): string | undefined {
  const s = opts.selector;
  if (s === undefined || s === false) return undefined;
  if (typeof s !== 'string' || !s) throw new CliError('--selector needs a value', true);
  return s;
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DkimKeyError) throw new CliError(err.message);
    throw err;
  }
}

function checkDomain(ctx: CliContext, name: string): string {
  const d = wrap(() => normalizeDomain(name));
  const known = ctx.db().prepare('SELECT 1 FROM domains WHERE name = ?').get(d);
  if (!known) throw new CliError(`no such domain: ${d} (add it with: mailserver domain add ${d})`);
  return d;
}

/** Lines describing the record to publish for one key. */
export function recordLines(key: DkimKey): string[] {
  return [
    `; ${key.status === 'active' ? 'active key (signs outgoing mail)' : 'retiring key (keep published until mail signed with it has been delivered)'}, ${key.algorithm}, created ${key.createdAt.toISOString()}`,
    zoneFileRecord(key),
  ];
}

const SELECTOR_OPTION = { name: 'selector', value: '<name>', help: 'selector name (default: ms<yyyymmdd>)' };
const ALGORITHM_OPTION = { name: 'algorithm', value: '<rsa-2048|ed25519>', help: 'key type (default: rsa-2048)' };

export const dkimCommands: Command[] = [
  {
    name: 'dkim generate',
    params: '<domain>',
    args: { min: 1, max: 1 },
    options: [SELECTOR_OPTION, ALGORITHM_OPTION],
    help: `Generate a DKIM key for a domain and make it the signing key.

The key is RSA-2048 unless --algorithm ed25519 is given (RFC 8463; not every receiver
verifies Ed25519 yet, so keep an RSA key too if you publish one). A key the domain had
becomes "retiring": it no longer signs but stays listed so its DNS record can stay
published while mail signed with it is still in transit. Every domain already gets an
RSA-2048 key when it is added.

Prints the DNS TXT record to publish at <selector>._domainkey.<domain>. The private
key is stored in the server database (mode 0600) and never printed.`,
    run(ctx, [domain], opts) {
      const d = checkDomain(ctx, domain!);
      const key = wrap(() => generateDomainKey(ctx.db(), d, { selector: selectorOpt(opts), algorithm: algorithmOpt(opts) }));
      ctx.out(`generated ${key.algorithm} key for ${d}, selector ${key.selector} (now signing)`);
      ctx.out('publish this DNS record:');
      for (const l of recordLines(key)) ctx.out(l);
    },
  },
  {
    name: 'dkim show',
    params: '<domain>',
    args: { min: 1, max: 1 },
    options: [JSON_OPTION],
    help: `Show the DNS TXT records for a domain's DKIM keys, ready to paste into a zone.

Long values are split into strings of at most 255 bytes, as DNS requires; most DNS
providers' web forms take the value without the quotes and split it themselves.`,
    run(ctx, [domain], opts) {
      const d = checkDomain(ctx, domain!);
      const keys = listKeys(ctx.db(), d);
      if (opts.json) {
        return ctx.out(
          JSON.stringify(
            keys.map((k) => ({ selector: k.selector, algorithm: k.algorithm, status: k.status, createdAt: k.createdAt.toISOString(), name: dnsRecordName(k), value: dnsRecordValue(k) })),
            null,
            2,
          ),
        );
      }
      if (keys.length === 0) return ctx.out(`${d} has no DKIM key; make one with: mailserver dkim generate ${d}`);
      for (const k of keys) {
        for (const l of recordLines(k)) ctx.out(l);
        ctx.out();
      }
    },
  },
  {
    name: 'dkim rotate',
    params: '<domain>',
    args: { min: 1, max: 1 },
    options: [SELECTOR_OPTION, ALGORITHM_OPTION],
    help: `Start signing with a new key under a new selector; the old key becomes "retiring".

Publish the new record first if your DNS is slow to update: mail is signed with the new
selector from now on. Keep the old record published for a few days (mail signed with it
may still be queued somewhere), then remove it and run "dkim remove".`,
    run(ctx, [domain], opts) {
      const d = checkDomain(ctx, domain!);
      const { active, retiring } = wrap(() => rotateDomainKey(ctx.db(), d, { selector: selectorOpt(opts), algorithm: algorithmOpt(opts) }));
      ctx.out(`${d}: now signing with selector ${active.selector} (${active.algorithm})${retiring ? `; ${retiring.selector} is retiring` : ''}`);
      ctx.out('publish this DNS record:');
      for (const l of recordLines(active)) ctx.out(l);
    },
  },
  {
    name: 'dkim remove',
    params: '<domain> <selector>',
    args: { min: 2, max: 2 },
    help: `Delete a retiring key (after its DNS record has been removed). The active key cannot be removed.`,
    run(ctx, [domain, selector]) {
      const d = checkDomain(ctx, domain!);
      wrap(() => removeDomainKey(ctx.db(), d, selector!));
      ctx.out(`removed DKIM key ${selector} of ${d}`);
    },
  },
];
