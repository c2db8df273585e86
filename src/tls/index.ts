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
 * `acme-key.pem` / `acme-cert.pem` hold the CA-issued pair in `acme` mode (see
 * src/acme/), so switching modes never overwrites the self-signed pair.
 *
 * Modes (`createTlsHolder`): `self-signed`; `manual` (the user's key and chain files,
 * watched with fs.watch on their directories plus a stat poll as fallback, validated
 * before the swap, the old pair kept when the new one is bad); `acme` (the last issued
 * pair, or the self-signed one until the CA has issued).
 *
 * Implicit-TLS servers (`tls.createServer`) must also call `attachServer(server)`:
 * Node only runs the SNICallback when the client sends SNI, and clients connecting by
 * IP address send none, so the server's default context is replaced on every reload
 * too (`server.setSecureContext`). STARTTLS upgrades should use
 * `new TLSSocket(sock, { isServer: true, secureContext: holder.current(), SNICallback:
 * holder.sniCallback, ... })`, which reads the current context at upgrade time.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';

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
  private disposers: Array<() => void> = [];
  /** Where reload problems are reported (set by createTlsHolder). */
  log?: Logger;

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

  /**
   * Installs a new certificate. It is validated first (PEM parses, the key matches the
   * leaf); a bad pair throws and the old one stays in force. Reload listeners that throw
   * are isolated from each other.
   */
  setCertificate(pair: CertificatePair): void {
    validatePair(pair);
    const ctx = this.build(pair);
    this.ctx = ctx;
    this.pair = pair;
    for (const fn of this.listeners) {
      try {
        fn(pair);
      } catch (err) {
        // A listener that cannot take the new context keeps the old one until it restarts;
        // the others must still get theirs.
        this.log?.error({ err: (err as Error).message }, 'a listener could not take the new certificate');
      }
    }
  }

  /**
   * Keeps an implicit-TLS server's default context current (clients without SNI, e.g.
   * those connecting by IP address, never reach the SNICallback). Returns the detacher.
   */
  attachServer(server: tls.Server): () => void {
    return this.onReload(() => server.setSecureContext(this.serverOptions()));
  }

  /** Runs `fn` at `close()` (file watchers, timers of the mode that built the holder). */
  addDisposer(fn: () => void): void {
    this.disposers.push(fn);
  }

  /** Stops file watching and the like; the holder keeps serving its current pair. */
  close(): void {
    for (const fn of this.disposers.splice(0)) fn();
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
  // node-forge (11 MB resident) is loaded only when a certificate must be made.
  const forge = createRequire(import.meta.url)('node-forge') as typeof import('node-forge');
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

export class TlsConfigError extends Error {}

/** The PEM certificates of a chain, leaf first. */
export function splitPemChain(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/**
 * Checks a key and chain before they go into service: the chain holds at least one
 * certificate, every certificate parses, the key parses and belongs to the leaf.
 * Throws TlsConfigError saying which part is wrong.
 */
export function validatePair(pair: CertificatePair): void {
  const certs = splitPemChain(pair.cert);
  if (certs.length === 0) throw new TlsConfigError('no PEM certificate found in the chain');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certs[0]!);
    for (const c of certs.slice(1)) new X509Certificate(c);
  } catch (err) {
    throw new TlsConfigError(`certificate does not parse: ${(err as Error).message}`);
  }
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(pair.key);
  } catch (err) {
    throw new TlsConfigError(`private key does not parse: ${(err as Error).message}`);
  }
  if (!leaf.checkPrivateKey(key)) throw new TlsConfigError('private key does not match the certificate');
}

/** Every file this project keeps under `<data>/certs/`. */
export function certPaths(dataRoot: string) {
  const dir = certsDir(dataRoot);
  return {
    dir,
    /** self-signed pair */
    key: path.join(dir, 'key.pem'),
    cert: path.join(dir, 'cert.pem'),
    /** CA-issued pair in acme mode (chain: leaf + intermediates) */
    acmeKey: path.join(dir, 'acme-key.pem'),
    acmeCert: path.join(dir, 'acme-cert.pem'),
    /** ACME account key (ECDSA P-256, PEM, 0600) */
    acmeAccountKey: path.join(dir, 'acme-account-key.pem'),
    /** ACME manager state: issued serial, next renewal, last error (JSON) */
    acmeState: path.join(dir, 'acme-state.json'),
    /** `mailserver tls renew` drops this; the running server's ACME manager picks it up */
    acmeRenewRequest: path.join(dir, 'acme-renew-request'),
  };
}

/** Reads a key and chain from files and validates them (TlsConfigError on any problem). */
export function loadPairFiles(keyFile: string, certFile: string): CertificatePair {
  let pair: CertificatePair;
  try {
    pair = { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  } catch (err) {
    throw new TlsConfigError(`cannot read ${(err as NodeJS.ErrnoException).path ?? ''}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  validatePair(pair);
  return pair;
}

/** The ACME-issued pair when there is a usable one on disk, else undefined. */
export function loadAcmePair(dataRoot: string): CertificatePair | undefined {
  const p = certPaths(dataRoot);
  if (!existsSync(p.acmeKey) || !existsSync(p.acmeCert)) return undefined;
  try {
    return loadPairFiles(p.acmeKey, p.acmeCert);
  } catch {
    return undefined;
  }
}

export interface TlsHolderOptions {
  /** Manual mode: stat poll interval in ms (fallback for file systems without inotify). Default 60 s. */
  pollMs?: number;
  /** Manual mode: use fs.watch on the files' directories (default true). */
  watch?: boolean;
  /** Manual mode: wait this long after a change event before reloading, so key and chain both land. Default 250 ms. */
  debounceMs?: number;
}

type TlsConfigView = Pick<Config, 'dataRoot' | 'hostname' | 'tls'>;

/**
 * Builds the holder for the configured mode:
 * - `self-signed`: `<data>/certs/{key,cert}.pem`, made at first start.
 * - `manual`: `tls.key_file` / `tls.cert_file`, which must be valid at start
 *   (TlsConfigError otherwise); later changes are picked up without restart.
 * - `acme`: the last issued pair if usable, else the self-signed one; `startAcme()`
 *   (src/acme/) orders and installs the real one.
 * Call `holder.close()` at shutdown to stop the manual-mode watchers.
 */
export function createTlsHolder(config: TlsConfigView, log: Logger, opts: TlsHolderOptions = {}): TlsContextHolder {
  const holder = buildHolder(config, log, opts);
  holder.log = log.child({ proto: 'tls' });
  return holder;
}

function buildHolder(config: TlsConfigView, log: Logger, opts: TlsHolderOptions): TlsContextHolder {
  const minVersion = config.tls.minVersion;
  switch (config.tls.mode) {
    case 'manual': {
      const pair = loadPairFiles(config.tls.keyFile, config.tls.certFile);
      const holder = new TlsContextHolder(pair, minVersion);
      watchManualFiles(holder, config.tls.keyFile, config.tls.certFile, log.child({ proto: 'tls' }), opts);
      logInstalled(log, 'manual', holder);
      return holder;
    }
    case 'acme': {
      const pair = loadAcmePair(config.dataRoot) ?? loadOrCreateSelfSigned(config.dataRoot, config.hostname);
      const holder = new TlsContextHolder(pair, minVersion);
      logInstalled(log, 'acme', holder);
      return holder;
    }
    default: {
      const holder = new TlsContextHolder(loadOrCreateSelfSigned(config.dataRoot, config.hostname), minVersion);
      logInstalled(log, 'self-signed', holder);
      return holder;
    }
  }
}

function logInstalled(log: Logger, mode: string, holder: TlsContextHolder): void {
  const info = holder.describe();
  log.info({ proto: 'tls', mode, names: info.names, issuer: info.issuer, serial: info.serial, notAfter: info.notAfter.toISOString() }, 'tls certificate loaded');
}

function fileSignature(files: string[]): string {
  return files
    .map((f) => {
      try {
        const st = statSync(f);
        return `${st.ino}:${st.size}:${st.mtimeMs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}

/**
 * Manual mode reload: watch the directories (an atomic rename or certbot's symlink swap
 * replaces the inode, which a watch on the file itself would miss) and poll the files'
 * stat as a fallback. A change is loaded and validated; a bad pair (half-written,
 * key from another certificate) is logged and the current one stays in force, and the
 * same files are not retried until they change again.
 */
function watchManualFiles(holder: TlsContextHolder, keyFile: string, certFile: string, log: Logger, opts: TlsHolderOptions): void {
  const files = [keyFile, certFile];
  let lastSeen = fileSignature(files);
  let debounce: NodeJS.Timeout | undefined;
  let closed = false;

  const check = () => {
    debounce = undefined;
    if (closed) return;
    const sig = fileSignature(files);
    if (sig === lastSeen) return;
    lastSeen = sig;
    try {
      const pair = loadPairFiles(keyFile, certFile);
      if (pair.cert === holder.currentPair().cert && pair.key === holder.currentPair().key) return;
      holder.setCertificate(pair);
      const info = holder.describe();
      log.info({ names: info.names, serial: info.serial, notAfter: info.notAfter.toISOString() }, 'tls certificate reloaded from files');
    } catch (err) {
      log.warn({ err: (err as Error).message, keyFile, certFile }, 'tls files changed but are not usable; keeping the current certificate');
    }
  };
  const schedule = () => {
    if (closed) return;
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(check, opts.debounceMs ?? 250);
    debounce.unref();
  };

  const watchers: FSWatcher[] = [];
  if (opts.watch !== false) {
    for (const dir of new Set(files.map((f) => path.dirname(path.resolve(f))))) {
      try {
        const w = watch(dir, { persistent: false }, () => schedule());
        w.on('error', () => undefined);
        watchers.push(w);
      } catch (err) {
        log.warn({ dir, err: (err as Error).message }, 'cannot watch tls file directory; relying on the poll');
      }
    }
  }
  const poll = setInterval(check, opts.pollMs ?? 60_000);
  poll.unref();
  holder.addDisposer(() => {
    closed = true;
    clearInterval(poll);
    if (debounce) clearTimeout(debounce);
    for (const w of watchers) w.close();
  });
}
