/**
 * TLS: one holder of the current key and certificate chain, shared by every listener.
 *
 * Listeners never load files themselves: SMTP gets `updateSecureContext()` calls from
 * `onReload`, IMAP/POP3/HTTPS pass `sniCallback` so each new connection gets whatever
 * is current. Replacing the certificate (ACME renewal, a manual file change) is one
 * `setCertificate()` call; no listener restarts and no connection drops.
 *
 * Files under `<data>/certs/`: `key.pem` (mode 0600) and `cert.pem` (full chain). In
 * `self-signed` mode they are made at first start with node-forge (RSA-2048, SAN =
 * hostname, ten years) and kept, so clients that pinned the certificate keep working.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';

export interface CertificatePair {
  key: string;
  cert: string;
}

/** Modern defaults: TLS 1.2 minimum, AEAD ciphers with forward secrecy only for TLS 1.2. */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export class TlsContextHolder {
  private ctx: tls.SecureContext;
  private pair: CertificatePair;
  private listeners: Array<(pair: CertificatePair) => void> = [];

  constructor(
    pair: CertificatePair,
    readonly minVersion: tls.SecureVersion = 'TLSv1.2',
  ) {
    this.pair = pair;
    this.ctx = this.build(pair);
  }

  private build(pair: CertificatePair): tls.SecureContext {
    return tls.createSecureContext({ key: pair.key, cert: pair.cert, minVersion: this.minVersion, ciphers: TLS12_CIPHERS });
  }

  current(): tls.SecureContext {
    return this.ctx;
  }

  /** The key and chain in force, as PEM (smtp-server takes these in its options). */
  currentPair(): CertificatePair {
    return this.pair;
  }

  /** Options for `tls.createServer` / `new TLSSocket(…, { isServer: true })`. */
  serverOptions(): tls.TlsOptions {
    return {
      key: this.pair.key,
      cert: this.pair.cert,
      minVersion: this.minVersion,
      ciphers: TLS12_CIPHERS,
      SNICallback: this.sniCallback,
    };
  }

  /** SNI callback handing out the current context, so renewals apply to new connections at once. */
  readonly sniCallback = (_servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void => {
    cb(null, this.ctx);
  };

  /** Installs a new certificate (validated first: a bad pair throws and the old one stays). */
  setCertificate(pair: CertificatePair): void {
    const ctx = this.build(pair);
    this.ctx = ctx;
    this.pair = pair;
    for (const fn of this.listeners) fn(pair);
  }

  onReload(fn: (pair: CertificatePair) => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((f) => f !== fn);
    };
  }

  /** Subject names, issuer, serial and validity of the certificate in force. */
  describe(): CertificateInfo {
    return describeCertificate(this.pair.cert);
  }
}

export interface CertificateInfo {
  names: string[];
  issuer: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  fingerprint256: string;
}

export function describeCertificate(pem: string): CertificateInfo {
  const x = new X509Certificate(pem);
  const names = (x.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  return {
    names,
    issuer: x.issuer.replace(/\n/g, ', '),
    serial: x.serialNumber,
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    fingerprint256: x.fingerprint256,
  };
}

export function certsDir(dataRoot: string): string {
  return path.join(dataRoot, 'certs');
}

/** Writes a file atomically (tmp + rename) with the given mode. */
export function writeFileAtomic(file: string, data: string, mode: number): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, file);
}

/** Makes a self-signed certificate for the hostname (and localhost, for development). */
export function makeSelfSigned(hostname: string, days = 3650): CertificatePair {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01' + forge.util.bytesToHex(forge.random.getBytesSync(15));
  const now = new Date();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + days * 86_400_000);
  const attrs = [{ name: 'commonName', value: hostname }, { name: 'organizationName', value: 'mailserver self-signed' }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  const altNames: Array<{ type: number; value?: string; ip?: string }> = [{ type: 2, value: hostname }];
  if (hostname !== 'localhost') altNames.push({ type: 2, value: 'localhost' });
  altNames.push({ type: 7, ip: '127.0.0.1' });
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { key: forge.pki.privateKeyToPem(keys.privateKey), cert: forge.pki.certificateToPem(cert) };
}

/**
 * Loads `<data>/certs/{key,cert}.pem`, making a self-signed pair first when there is
 * none. Used for `self-signed` mode and as the first certificate in `acme` mode
 * (until the CA has issued one).
 */
export function loadOrCreateSelfSigned(dataRoot: string, hostname: string): CertificatePair {
  const dir = certsDir(dataRoot);
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  if (existsSync(keyFile) && existsSync(certFile)) {
    return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  }
  const pair = makeSelfSigned(hostname);
  writeFileAtomic(keyFile, pair.key, 0o600);
  writeFileAtomic(certFile, pair.cert, 0o644);
  return pair;
}
