// Shared fixtures for the inbound-checks tests: DKIM keys, the sender zones served by
// the real test DNS server, message builders and signers (mailauth and python3-dkim).
import { execFile } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { dkimSign, sealMessage } from 'mailauth';
import type { Zone } from '../helpers/dns-server.js';
import { peer } from '../helpers/peers.js';

export const OUR_HOST = 'mx.ours.test';
export const LOCAL_DOMAIN = 'ours.test';

export interface Keys {
  rsaPem: string;
  rsaTxt: string;
  edPem: string;
  edTxt: string;
}

export function makeKeys(): Keys {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ed = generateKeyPairSync('ed25519');
  return {
    rsaPem: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    rsaTxt: `v=DKIM1; k=rsa; p=${spki(rsa.publicKey).toString('base64')}`,
    edPem: ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    // RFC 8463 §4.2: the raw 32-byte public key, base64
    edTxt: `v=DKIM1; k=ed25519; p=${spki(ed.publicKey).subarray(-32).toString('base64')}`,
  };
}

function spki(k: KeyObject): Buffer {
  return k.export({ type: 'spki', format: 'der' });
}

const elevenA = Array.from({ length: 11 }, (_, i) => `a:h${i}.perm-lookups.test`).join(' ');

/** Sender domains for the matrix; the client is 127.0.0.1 throughout. */
export function senderZone(keys: Keys): Zone {
  const z: Zone = {
    // SPF (RFC 7208)
    'pass.test': { TXT: ['v=spf1 ip4:127.0.0.1 -all'], A: ['192.0.2.10'] },
    'fail.test': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
    'soft.test': { TXT: ['v=spf1 ip4:192.0.2.1 ~all'] },
    'none.test': { A: ['192.0.2.11'] },
    'perm-syntax.test': { TXT: ['v=spf1 ip4:192.0.2.1 +bogus:x -all'] },
    'perm-lookups.test': { TXT: [`v=spf1 ${elevenA} ip4:127.0.0.1 -all`] },
    'temp.test': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] }, // set to "timeout" mode by tests
    'helo.pass.test': { TXT: ['v=spf1 a -all'], A: ['127.0.0.1'] },

    // DKIM (RFC 6376, RFC 8463)
    'dkim.test': { TXT: ['v=spf1 ip4:192.0.2.1 ?all'] },
    'rsa._domainkey.dkim.test': { TXT: [keys.rsaTxt] },
    'ed._domainkey.dkim.test': { TXT: [keys.edTxt] },
    'revoked._domainkey.dkim.test': { TXT: ['v=DKIM1; k=rsa; p='] }, // RFC 6376 §3.6.1: empty p= = revoked

    // DMARC (RFC 7489)
    'dmarc-spf.test': { TXT: ['v=spf1 ip4:127.0.0.1 -all'] },
    '_dmarc.dmarc-spf.test': { TXT: ['v=DMARC1; p=reject'] },
    'dmarc-dkim.test': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
    '_dmarc.dmarc-dkim.test': { TXT: ['v=DMARC1; p=reject'] },
    'rsa._domainkey.dmarc-dkim.test': { TXT: [keys.rsaTxt] },
    'pnone.test': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
    '_dmarc.pnone.test': { TXT: ['v=DMARC1; p=none'] },
    'pquar.test': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
    '_dmarc.pquar.test': { TXT: ['v=DMARC1; p=quarantine'] },
    'preject.test': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
    '_dmarc.preject.test': { TXT: ['v=DMARC1; p=reject'] },
    'pct0.test': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
    '_dmarc.pct0.test': { TXT: ['v=DMARC1; p=reject; pct=0'] },
    'org.test': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
    'sub.org.test': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
    '_dmarc.org.test': { TXT: ['v=DMARC1; p=none; sp=reject'] },
    'dmarc-temp.test': { TXT: ['v=spf1 ip4:192.0.2.1 -all'] },
    '_dmarc.dmarc-temp.test': { TXT: ['v=DMARC1; p=reject'] }, // set to "servfail" mode by tests

    // Our own domain (anti-spoofing): only 192.0.2.99 may send as it.
    'ours.test': { TXT: ['v=spf1 ip4:192.0.2.99 -all'], MX: [{ priority: 10, exchange: OUR_HOST }] },
    'rsa._domainkey.ours.test': { TXT: [keys.rsaTxt] },

    // ARC (RFC 8617): a forwarder that seals what it relays
    'arc._domainkey.forwarder.test': { TXT: [keys.rsaTxt] },
  };
  for (let i = 0; i < 11; i++) z[`h${i}.perm-lookups.test`] = { A: [`192.0.2.${100 + i}`] };
  return z;
}

export function message(opts: { from: string; to?: string; subject?: string; body?: string; extraHeaders?: string[] }): string {
  const lines = [
    ...(opts.extraHeaders ?? []),
    `From: Sender <${opts.from}>`,
    `To: <${opts.to ?? `user@${LOCAL_DOMAIN}`}>`,
    `Subject: ${opts.subject ?? 'inbound checks test'}`,
    'Date: Sun, 22 Nov 2026 06:00:00 +0000',
    `Message-ID: <${Math.random().toString(36).slice(2)}@${opts.from.split('@')[1]}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    opts.body ?? 'Hello,\r\nthis is a test message.\r\n',
  ];
  return lines.join('\r\n');
}

/** Prepends a DKIM-Signature made by mailauth. */
export async function signWithMailauth(msg: string, o: { domain: string; selector: string; key: string; algorithm?: string }): Promise<string> {
  const res = await dkimSign(msg, {
    canonicalization: 'relaxed/relaxed',
    // Always pass signTime: without it mailauth reads the clock twice (once for the
    // signed header, once for the written one) and a second boundary in between gives
    // a t= that does not match the signature (about 1 in 500 signatures).
    signTime: new Date(),
    signatureData: [{ signingDomain: o.domain, selector: o.selector, privateKey: o.key, algorithm: o.algorithm }],
  } as Parameters<typeof dkimSign>[1]);
  return res.signatures + msg;
}

/** Signs with Debian's python3-dkim `dkimsign` (an external, independent signer). */
export async function signWithDkimpy(msg: string, o: { domain: string; selector: string; keyPem: string }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dkimpy-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    await writeFile(keyFile, o.keyPem, { mode: 0o600 });
    return await new Promise<string>((resolve, reject) => {
      const child = execFile(peer('dkimsign'), ['--hcanon', 'relaxed', '--bcanon', 'relaxed', o.selector, o.domain, keyFile], { encoding: 'latin1' }, (err, stdout, stderr) => {
        if (err) reject(new Error(`dkimsign failed: ${stderr || err.message}`));
        else resolve(stdout);
      });
      child.stdin!.end(Buffer.from(msg, 'latin1'));
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Adds an ARC set (i=1, cv=none) as a forwarder would (RFC 8617 §5.1). */
export async function arcSeal(msg: string, o: { domain: string; selector: string; key: string }): Promise<string> {
  const headers = await sealMessage(msg, {
    signingDomain: o.domain,
    selector: o.selector,
    privateKey: o.key,
    signTime: new Date(),
    authResults: `${o.domain}; spf=pass smtp.mailfrom=${o.domain}`,
    cv: 'none',
  } as Parameters<typeof sealMessage>[1]);
  return headers.toString() + msg;
}
