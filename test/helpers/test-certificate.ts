/**
 * The self-signed certificate test servers use: made once per host name and machine,
 * not once per test process. makeSelfSigned's RSA key generation in JavaScript takes
 * 0.3-10 s (a random prime search, slower under load), and every test file runs in a
 * process of its own, so each paid it again; the first test of a file that starts its
 * server in the test itself (test/imap/basic, auth) was mostly that.
 *
 * The pair is kept in the temp directory (mode 0600, written to a temp name and
 * renamed, so a parallel process reads a whole file or none) and checked before use:
 * a file that does not parse, whose key is not the certificate's, or that expires
 * within a day is made again. Tests that need a certificate of their own (renewal,
 * ACME) make it themselves, as before.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { makeSelfSigned, type CertificatePair } from '../../src/tls/index.js';

const inProcess = new Map<string, CertificatePair>();

function cacheFile(hostname: string): string {
  return path.join(tmpdir(), `mailserver-test-cert-${userInfo().uid}-${hostname.replace(/[^a-z0-9.-]/gi, '_')}.json`);
}

/** The pair in the cache file when it is whole, matching and valid for at least a day more. */
function readCached(file: string): CertificatePair | undefined {
  try {
    const pair = JSON.parse(readFileSync(file, 'utf8')) as CertificatePair;
    const x509 = new X509Certificate(pair.cert);
    if (!x509.checkPrivateKey(createPrivateKey(pair.key))) return undefined;
    if (Date.parse(x509.validTo) < Date.now() + 86_400_000) return undefined;
    return pair;
  } catch {
    return undefined;
  }
}

/** This machine's test certificate for `hostname` (made and cached on first use). */
export function testCertificate(hostname: string): CertificatePair {
  let pair = inProcess.get(hostname);
  if (pair) return pair;
  const file = cacheFile(hostname);
  pair = readCached(file);
  if (!pair) {
    pair = makeSelfSigned(hostname);
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(pair), { mode: 0o600 });
    renameSync(tmp, file);
  }
  inProcess.set(hostname, pair);
  return pair;
}
