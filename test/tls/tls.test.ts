// TLS holder modes and settings: self-signed made once and kept; manual mode reloads
// replaced files without restart (fs.watch, and the stat poll alone), keeps the old pair
// when the new files are bad, and never drops an open connection; TLS 1.2 minimum with
// AEAD/ECDHE ciphers only; the full chain is served to clients with and without SNI,
// after STARTTLS and on implicit TLS alike.
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/index.js';
import { defaults, type Config } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { certPaths, createTlsHolder, TLS12_CIPHERS, TlsConfigError, type TlsContextHolder } from '../../src/tls/index.js';
import { startImplicitTlsEcho, startStarttlsSmtpLike, type TestListener } from '../acme/listeners.js';
import { makeTestCa, type TestCa } from './certs.js';
import { hasPeer, needs } from '../helpers/peers.js';
import { chainsTo, connectTls, probe } from './probe.js';
import { captureLog } from '../helpers/log-capture.js';

const HOST = 'mail.example.test';


async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  let v = await fn();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    v = await fn();
  }
  return v;
}

/** Replaces a file the way certbot and editors do: write aside, rename over. */
function replaceAtomic(file: string, data: string): void {
  writeFileSync(`${file}.new`, data);
  renameSync(`${file}.new`, file);
}

let tmp: string;
let ca: TestCa;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'tls-test-'));
  if (hasPeer('openssl')) ca = makeTestCa(tmp); // the tests that use it need openssl
});
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber;

function configFor(mode: Config['tls']['mode'], dataRoot: string): Config {
  const c = defaults(dataRoot, false);
  c.hostname = HOST;
  c.tls.mode = mode;
  return c;
}

async function listeners(holder: TlsContextHolder): Promise<{ implicit: TestListener; starttls: TestListener }> {
  const implicit = await startImplicitTlsEcho(holder);
  const starttls = await startStarttlsSmtpLike(holder);
  cleanups.push(() => implicit.close(), () => starttls.close());
  return { implicit, starttls };
}

describe('self-signed mode', () => {
  it('makes the pair at first start, keeps the key private, and reuses it afterwards', () => {
    const dataRoot = mkdtempSync(path.join(tmp, 'ss-'));
    const h1 = createTlsHolder(configFor('self-signed', dataRoot), silentLogger);
    const p = certPaths(dataRoot);
    expect(existsSync(p.key) && existsSync(p.cert)).toBe(true);
    expect(statSync(p.key).mode & 0o077).toBe(0);
    expect(h1.describe().names).toContain(HOST);
    const h2 = createTlsHolder(configFor('self-signed', dataRoot), silentLogger);
    expect(h2.describe().serial).toBe(h1.describe().serial);
  });
});

describe('manual mode', needs('openssl'), () => {
  function setup(tag: string) {
    const dir = mkdtempSync(path.join(tmp, `manual-${tag}-`));
    const keyFile = path.join(dir, 'privkey.pem');
    const certFile = path.join(dir, 'fullchain.pem');
    const first = ca.leaf([HOST], `${tag}-a`);
    writeFileSync(keyFile, first.key);
    writeFileSync(certFile, first.cert);
    const config = configFor('manual', dir);
    config.tls.keyFile = keyFile;
    config.tls.certFile = certFile;
    return { dir, keyFile, certFile, first, config };
  }

  it('serves the full chain with and without SNI, implicit TLS and STARTTLS', async () => {
    const { config, first } = setup('chain');
    const holder = createTlsHolder(config, silentLogger);
    cleanups.push(() => holder.close());
    const { implicit, starttls } = await listeners(holder);
    for (const served of [
      await probe(implicit.port),
      await probe(implicit.port, { servername: HOST }),
      await probe(starttls.port, { starttls: 'smtp' }),
      await probe(starttls.port, { starttls: 'smtp', servername: HOST }),
    ]) {
      expect(served.chain[0]!.serialNumber).toBe(serialOf(first.leafPem));
      expect(served.chain).toHaveLength(2); // leaf + intermediate, root not sent
      expect(chainsTo(served.chain, ca.rootPem)).toBe(true);
    }
  });

  it('picks up replaced files without restart; an open connection keeps working', async () => {
    const { config, keyFile, certFile, first } = setup('watch');
    const logged = captureLog();
    const holder = createTlsHolder(config, logged.log, { debounceMs: 50, pollMs: 600_000 });
    cleanups.push(() => holder.close());
    const { implicit, starttls } = await listeners(holder);

    const open = await connectTls(implicit.port);
    expect(open.served.chain[0]!.serialNumber).toBe(serialOf(first.leafPem));

    const second = ca.leaf([HOST, 'imap.example.test'], 'watch-b');
    replaceAtomic(keyFile, second.key);
    replaceAtomic(certFile, second.cert);
    const want = serialOf(second.leafPem);
    const got = await eventually(() => probe(implicit.port), (s) => s.chain[0]!.serialNumber === want);
    expect(got.chain[0]!.serialNumber).toBe(want);
    expect((await probe(starttls.port, { starttls: 'smtp' })).chain[0]!.serialNumber).toBe(want);
    expect((await probe(implicit.port, { servername: HOST })).chain[0]!.serialNumber).toBe(want);
    expect(logged.lines.some((l) => l.msg === 'tls certificate reloaded from files' && l.serial === want)).toBe(true);

    const echoed = await new Promise<string>((resolve, reject) => {
      open.socket.once('data', (d: Buffer) => resolve(d.toString()));
      open.socket.once('error', reject);
      open.socket.write('ping\n');
    });
    expect(echoed).toBe('ping\n');
    open.socket.destroy();
  });

  it('keeps the current pair when the new files do not match, and takes them once they do', async () => {
    const { config, keyFile, certFile, first } = setup('bad');
    const logged = captureLog();
    const holder = createTlsHolder(config, logged.log, { debounceMs: 50, pollMs: 600_000 });
    cleanups.push(() => holder.close());
    const { implicit } = await listeners(holder);
    const old = serialOf(first.leafPem);

    // Only the chain is replaced: the key on disk belongs to the old certificate.
    const next = ca.leaf([HOST], 'bad-b');
    replaceAtomic(certFile, next.cert);
    const warned = await eventually(async () => logged.lines.find((l) => l.level === 40), (l) => l !== undefined);
    expect(warned?.msg).toBe('tls files changed but are not usable; keeping the current certificate');
    expect(String(warned?.err)).toMatch(/does not match/);
    expect(holder.describe().serial).toBe(old);
    expect((await probe(implicit.port)).chain[0]!.serialNumber).toBe(old);

    // Garbage is refused the same way.
    writeFileSync(certFile, 'not a certificate\n');
    await eventually(async () => logged.lines.filter((l) => l.level === 40).length, (n) => n >= 2);
    expect(holder.describe().serial).toBe(old);

    // The matching pair lands: now it is taken.
    replaceAtomic(keyFile, next.key);
    replaceAtomic(certFile, next.cert);
    const want = serialOf(next.leafPem);
    const got = await eventually(() => probe(implicit.port), (s) => s.chain[0]!.serialNumber === want);
    expect(got.chain[0]!.serialNumber).toBe(want);
  });

  it('the stat poll alone (no fs.watch) picks up files rewritten in place', async () => {
    const { config, keyFile, certFile } = setup('poll');
    const holder = createTlsHolder(config, silentLogger, { watch: false, pollMs: 100 });
    cleanups.push(() => holder.close());
    const { starttls } = await listeners(holder);
    const next = ca.leaf([HOST], 'poll-b');
    writeFileSync(keyFile, next.key);
    writeFileSync(certFile, next.cert);
    const want = serialOf(next.leafPem);
    const got = await eventually(() => probe(starttls.port, { starttls: 'smtp' }), (s) => s.chain[0]!.serialNumber === want);
    expect(got.chain[0]!.serialNumber).toBe(want);
  });

  it('refuses to start with unusable files, naming the problem', () => {
    const { config, keyFile } = setup('start');
    const other = ca.leaf([HOST], 'start-b');
    writeFileSync(keyFile, other.key);
    expect(() => createTlsHolder(config, silentLogger)).toThrow(TlsConfigError);
    expect(() => createTlsHolder(config, silentLogger)).toThrow(/does not match/);
    config.tls.certFile = path.join(tmp, 'missing.pem');
    expect(() => createTlsHolder(config, silentLogger)).toThrow(/cannot read .*missing\.pem: ENOENT/);
  });
});

describe('TLS settings', () => {
  let implicit: TestListener;
  let starttls: TestListener;
  beforeAll(async () => {
    const dataRoot = mkdtempSync(path.join(tmp, 'settings-'));
    const holder = createTlsHolder(configFor('self-signed', dataRoot), silentLogger);
    implicit = await startImplicitTlsEcho(holder);
    starttls = await startStarttlsSmtpLike(holder);
  });
  afterAll(async () => {
    await implicit.close();
    await starttls.close();
  });

  it('refuses TLS 1.1 and older (TLS 1.2 minimum)', async () => {
    for (const opts of [{}, { starttls: 'smtp' as const }]) {
      const port = opts.starttls ? starttls.port : implicit.port;
      const err = await probe(port, { ...opts, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }).then(
        () => undefined,
        (e: NodeJS.ErrnoException) => e,
      );
      expect(err?.code).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION'); // the server's alert, not a client-side refusal
    }
  });

  it('negotiates TLS 1.3 by default and only ECDHE+AEAD suites on TLS 1.2', async () => {
    expect((await probe(implicit.port)).protocol).toBe('TLSv1.3');
    const t12 = await probe(implicit.port, { maxVersion: 'TLSv1.2' });
    expect(t12.protocol).toBe('TLSv1.2');
    expect(TLS12_CIPHERS.split(':')).toContain(t12.cipher);
    const cbc = await probe(implicit.port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-SHA:AES128-SHA' }).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(cbc?.code).toBe('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE');
  });

  it('the holder refuses a bad pair and keeps serving the old one', needs('openssl'), async () => {
    const dataRoot = mkdtempSync(path.join(tmp, 'set-'));
    const holder = createTlsHolder(configFor('self-signed', dataRoot), silentLogger);
    const before = holder.describe().serial;
    const a = ca.leaf([HOST], 'set-a');
    const b = ca.leaf([HOST], 'set-b');
    expect(() => holder.setCertificate({ key: a.key, cert: b.cert })).toThrow(/does not match/);
    expect(holder.describe().serial).toBe(before);
    let reloaded = 0;
    // A listener that fails to take the new context does not keep the others from it.
    holder.onReload(() => {
      throw new Error('listener broke');
    });
    holder.onReload(() => reloaded++);
    holder.setCertificate({ key: a.key, cert: a.cert });
    expect(reloaded).toBe(1);
    expect(holder.describe().serial).toBe(serialOf(a.leafPem));
    const server = tls.createServer(holder.serverOptions());
    expect(server).toBeDefined();
  });
});

describe('mailserver tls status / renew outside acme mode', needs('openssl'), () => {
  async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const sink = (add: (s: string) => void) =>
      new Writable({
        write(chunk: Buffer, _e, cb) {
          add(chunk.toString());
          cb();
        },
      });
    const code = await runCli(argv, { stdin: new PassThrough(), stdout: sink((x) => (stdout += x)), stderr: sink((x) => (stderr += x)), env: {} });
    return { code, stdout, stderr };
  }

  it('shows the manual-mode files and explains renewal; renew is refused', async () => {
    const dir = mkdtempSync(path.join(tmp, 'cli-'));
    const leaf = ca.leaf([HOST, 'imap.example.test'], 'cli-a');
    writeFileSync(path.join(dir, 'k.pem'), leaf.key);
    writeFileSync(path.join(dir, 'c.pem'), leaf.cert);
    mkdirSync(path.join(dir, 'config'));
    writeFileSync(
      path.join(dir, 'config', 'mailserver.toml'),
      `hostname = "${HOST}"\n[tls]\nmode = "manual"\ncert_file = "${path.join(dir, 'c.pem')}"\nkey_file = "${path.join(dir, 'k.pem')}"\n`,
    );
    const status = await cli(['tls', 'status', '--data', dir]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^mode:\s+manual$/m);
    expect(status.stdout).toMatch(new RegExp(`^serial:\\s+${serialOf(leaf.leafPem)}$`, 'm'));
    expect(status.stdout).toMatch(/^names:\s+mail\.example\.test, imap\.example\.test$/m);
    expect(status.stdout).toMatch(/^issuer:\s+CN=Test Intermediate$/m);
    expect(status.stdout).toMatch(/^next renewal:\s+none here: replace the files/m);

    const renew = await cli(['tls', 'renew', '--data', dir]);
    expect(renew.code).toBe(1);
    expect(renew.stderr).toMatch(/tls renew needs tls\.mode = "acme" \(this server uses "manual"/);
  });

  it('self-signed: reports the pair once made, and a clear error before', async () => {
    const dir = mkdtempSync(path.join(tmp, 'cli-ss-'));
    const before = await cli(['tls', 'status', '--data', dir]);
    expect(before.code).toBe(1);
    expect(before.stderr).toMatch(/no readable certificate at .*cert\.pem/);
    const holder = createTlsHolder(configFor('self-signed', dir), silentLogger);
    const after = await cli(['tls', 'status', '--data', dir]);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain(holder.describe().serial);
    expect(after.stdout).toMatch(/^next renewal:\s+none: self-signed/m);
  });
});
