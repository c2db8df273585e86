// ACME against Pebble on loopback (RFC 8555): first issuance over http-01 (§8.3), a
// forced renewal, a renewal requested through the CLI's request file, a failed
// challenge that keeps the old certificate, and a restart that reuses the issued pair.
// Each certificate is checked as served by TLS listeners wired to the holder: serial,
// issuer = Pebble's intermediate under its root, the full chain sent.
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAcmeState, renewalTime, startAcme, type AcmeManager } from '../../src/acme/index.js';
import { runCli } from '../../src/cli/index.js';
import { defaults, type Config } from '../../src/config/index.js';
import { startHttp, type HttpListener } from '../../src/http/index.js';
import { certPaths, createTlsHolder, type TlsContextHolder } from '../../src/tls/index.js';
import { startImplicitTlsEcho, startStarttlsSmtpLike, type TestListener } from './listeners.js';
import { NEEDS_PEBBLE, startPebble, type Pebble } from './pebble.js';
import { chainsTo, connectTls, probe } from '../tls/probe.js';
import { captureLog } from '../helpers/log-capture.js';

const HOST = 'mail.example.test';
const EXTRA = 'mta-sts.example.test';


/** Runs the CLI command table in-process, as `mailserver <argv>` would. */
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
  const code = await runCli(argv, {
    stdin: new PassThrough(),
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
    env: {},
  });
  return { code, stdout, stderr };
}

describe('ACME with Pebble', NEEDS_PEBBLE, () => {
  let dataRoot: string;
  let config: Config;
  let http: HttpListener;
  let pebble: Pebble;
  let holder: TlsContextHolder;
  let mgr: AcmeManager;
  let implicit: TestListener;
  let starttls: TestListener;
  let root: string;
  const logged = captureLog();

  /** What each listener serves, without and with SNI. */
  async function servedSerials(): Promise<string[]> {
    const results = await Promise.all([
      probe(implicit.port),
      probe(implicit.port, { servername: HOST }),
      probe(starttls.port, { starttls: 'smtp' }),
      probe(starttls.port, { starttls: 'smtp', servername: HOST }),
    ]);
    for (const r of results) {
      expect(chainsTo(r.chain, root)).toBe(true); // full chain up to Pebble's root
      expect(['TLSv1.2', 'TLSv1.3']).toContain(r.protocol);
    }
    return results.map((r) => r.chain[0]!.serialNumber);
  }

  beforeAll(async () => {
    dataRoot = mkdtempSync(path.join(os.tmpdir(), 'acme-test-'));
    config = defaults(dataRoot, false);
    config.hostname = HOST;
    config.listenAddress = '127.0.0.1';
    config.tls.mode = 'acme';
    config.tls.acme.extraNames = [EXTRA];
    config.tls.acme.email = 'postmaster@example.test';
    http = await startHttp({ config, log: logged.log }, { port: 0, host: '127.0.0.1' });
    pebble = await startPebble(http.port);
    config.tls.acme.directoryUrl = pebble.directoryUrl;
    config.tls.acme.caFile = pebble.caFile;
    root = await pebble.rootPem();
    // The same settings in the data root's config file, for the CLI (another process in real life).
    mkdirSync(path.join(dataRoot, 'config'));
    writeFileSync(
      path.join(dataRoot, 'config', 'mailserver.toml'),
      [
        `hostname = "${HOST}"`,
        '[tls]',
        'mode = "acme"',
        '[tls.acme]',
        `directory_url = "${pebble.directoryUrl}"`,
        `ca_file = "${pebble.caFile}"`,
        'email = "postmaster@example.test"',
        `extra_names = ["${EXTRA}"]`,
        '',
      ].join('\n'),
    );
    holder = createTlsHolder(config, logged.log);
    implicit = await startImplicitTlsEcho(holder);
    starttls = await startStarttlsSmtpLike(holder);
  });

  afterAll(async () => {
    await mgr?.stop();
    await implicit?.close();
    await starttls?.close();
    await http?.close(0);
    await pebble?.close();
    holder?.close();
    if (dataRoot) rmSync(dataRoot, { recursive: true, force: true });
  });

  it('starts on the self-signed pair, then issues for hostname + extra names at start', async () => {
    const before = holder.describe();
    expect(before.issuer).toContain(HOST); // self-signed bootstrap
    mgr = startAcme({ config, log: logged.log, tls: holder }, http, { pollMinMs: 100, requestPollMs: 100 });
    await mgr.idle();
    const st = mgr.state();
    expect(st.lastError).toBeUndefined();
    expect(st.failures).toBe(0);
    const info = holder.describe();
    expect(info.serial).toBe(st.serial);
    expect(info.serial).not.toBe(before.serial);
    expect(info.names.sort()).toEqual([EXTRA, HOST].sort());
    expect(info.issuer).toMatch(/Pebble Intermediate CA/);

    const served = await servedSerials();
    expect(new Set(served)).toEqual(new Set([info.serial]));

    // Files: the pair and the account key, keys private; state records the renewal time.
    const p = certPaths(dataRoot);
    for (const f of [p.acmeKey, p.acmeCert, p.acmeAccountKey, p.acmeState]) expect(existsSync(f)).toBe(true);
    expect(statSync(p.acmeKey).mode & 0o077).toBe(0);
    expect(statSync(p.acmeAccountKey).mode & 0o077).toBe(0);
    const life = info.notAfter.getTime() - info.notBefore.getTime();
    expect(Date.parse(st.nextRenewal!)).toBeCloseTo(info.notAfter.getTime() - life / 3, -4);
    expect(logged.lines.some((l) => l.msg === 'new certificate installed' && l.serial === info.serial)).toBe(true);
  });

  it('a forced renewal is served to new connections while an open one keeps working', async () => {
    const old = holder.describe().serial;
    const open = await connectTls(implicit.port);
    expect(open.served.chain[0]!.serialNumber).toBe(old);

    const out = await mgr.renewNow('test');
    expect(out.ok).toBe(true);
    const now = holder.describe().serial;
    expect(now).not.toBe(old);
    expect(new Set(await servedSerials())).toEqual(new Set([now]));

    // The connection made before the reload is not dropped: it still echoes.
    const echoed = await new Promise<string>((resolve, reject) => {
      open.socket.once('data', (d: Buffer) => resolve(d.toString()));
      open.socket.once('error', reject);
      open.socket.write('still here\n');
    });
    expect(echoed).toBe('still here\n');
    open.socket.destroy();
  });

  it('`mailserver tls renew` asks the running server through the request file', async () => {
    const old = holder.describe().serial;
    const renew = await cli(['tls', 'renew', '--wait', '20', '--data', dataRoot]);
    expect(renew.stderr).toBe('');
    expect(renew.code).toBe(0);
    const now = holder.describe().serial;
    expect(now).not.toBe(old);
    expect(renew.stdout).toContain(now);
    expect(readAcmeState(dataRoot).handledResult).toBe('ok');
    expect(new Set(await servedSerials())).toEqual(new Set([now]));

    const status = await cli(['tls', 'status', '--data', dataRoot]);
    expect(status.code).toBe(0);
    const text = status.stdout;
    expect(text).toMatch(/^mode:\s+acme$/m);
    expect(text).toContain(now);
    expect(text).toContain(HOST);
    expect(text).toContain(EXTRA);
    expect(text).toMatch(/Pebble Intermediate CA/);
    expect(text).toMatch(/next renewal:\s+\d{4}-/);
  });

  it('a failed challenge keeps the old certificate and logs the reason', async () => {
    const old = holder.describe().serial;
    // Pebble now resolves the hostname to an address where nothing listens.
    await pebble.setA(HOST, '127.0.0.2');
    try {
      const out = await mgr.renewNow('test failure');
      expect(out.ok).toBe(false);
      if (!out.ok) expect(out.error).toMatch(/127\.0\.0\.2|connection refused|connect/i);
      // Through the CLI the failure and its reason reach the user too.
      const renew = await cli(['tls', 'renew', '--wait', '20', '--data', dataRoot]);
      // Once (CI, under load) this order was installed although the name pointed at 127.0.0.2: the
      // message then carries the CLI's output and the manager's last log lines, to say how.
      expect(renew.code, `${renew.stdout}${renew.stderr}\n${logged.lines.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`).toBe(1);
      expect(renew.stderr).toMatch(/renewal failed: .*(127\.0\.0\.2|refused|connect)/i);
      expect(renew.stderr).toMatch(/current certificate stays in service/);
    } finally {
      await pebble.clearA(HOST);
    }
    expect(holder.describe().serial).toBe(old);
    expect(new Set(await servedSerials())).toEqual(new Set([old]));
    const st = mgr.state();
    expect(st.failures).toBe(2);
    const status = await cli(['tls', 'status', '--data', dataRoot]);
    expect(status.stdout).toMatch(/^last error:\s+.*2 failed attempt/m);
    expect(Date.parse(st.nextRenewal!)).toBeGreaterThan(Date.now()); // retry scheduled, with backoff
    const line = logged.lines.find((l) => l.msg === 'certificate order failed; keeping the current certificate');
    expect(line).toBeDefined();
    expect(String(line!.err)).toMatch(/127\.0\.0\.2|refused|connect/i);
    expect(line!.keptSerial).toBe(old);
    expect(line!.level).toBe(50); // error
  });

  it('a failed challenge through a wrong HTTP answer also keeps the old certificate', async () => {
    const old = holder.describe().serial;
    // Something else took over the challenge path and answers with the wrong body.
    const off = http.routes.add('GET', '/.well-known/acme-challenge/', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('not the key authorization');
    });
    try {
      const out = await mgr.renewNow('test wrong answer');
      expect(out.ok).toBe(false);
      if (!out.ok) expect(out.error).toMatch(/key ?authorization|incorrect|does not match|unauthorized/i);
    } finally {
      off();
    }
    expect(holder.describe().serial).toBe(old);
    expect(mgr.state().failures).toBe(3);
  });

  it('after a restart the issued pair is loaded and no order is made until renewal is due', async () => {
    await mgr.stop();
    // Clear the failure so the restart sees a healthy state, as after a successful retry.
    const good = await (async () => {
      const m = startAcme({ config, log: logged.log, tls: holder }, http, { pollMinMs: 100, noInitialOrder: true });
      const r = await m.renewNow('recover');
      await m.stop();
      return r;
    })();
    expect(good.ok).toBe(true);
    const serial = holder.describe().serial;

    const holder2 = createTlsHolder(config, logged.log);
    expect(holder2.describe().serial).toBe(serial);
    const countBefore = logged.lines.filter((l) => l.msg === 'ordering certificate').length;
    mgr = startAcme({ config, log: logged.log, tls: holder2 }, http, { pollMinMs: 100 });
    await mgr.idle();
    expect(logged.lines.filter((l) => l.msg === 'ordering certificate').length).toBe(countBefore);
    expect(holder2.describe().serial).toBe(serial);
    holder2.close();
  });

  it('renews by itself once a third of the lifetime is left', async () => {
    await mgr.stop();
    const info = holder.describe();
    // Move the manager's clock just past the renewal time (2/3 of the lifetime).
    let skew = renewalTime(info).getTime() - Date.now() + 1_000;
    const off = holder.onReload(() => {
      skew = 0;
    });
    const ordersBefore = logged.lines.filter((l) => l.msg === 'ordering certificate').length;
    mgr = startAcme({ config, log: logged.log, tls: holder }, http, { pollMinMs: 100, now: () => Date.now() + skew });
    await mgr.idle();
    off();
    const now = holder.describe().serial;
    expect(now).not.toBe(info.serial);
    expect(logged.lines.filter((l) => l.msg === 'ordering certificate').length).toBe(ordersBefore + 1);
    expect(new Set(await servedSerials())).toEqual(new Set([now]));
    // The next renewal is two thirds into the new certificate's life, not now.
    expect(Date.parse(mgr.state().nextRenewal!)).toBe(renewalTime(holder.describe()).getTime());
  });

  it('a failed renewal is retried with growing delays until it works', async () => {
    await mgr.stop();
    const info = holder.describe();
    let skew = renewalTime(info).getTime() - Date.now() + 1_000;
    const off = holder.onReload(() => {
      skew = 0;
    });
    const failLines = () => logged.lines.filter((l) => l.msg === 'certificate order failed; keeping the current certificate');
    const failsBefore = failLines().length;
    await pebble.setA(HOST, '127.0.0.2');
    try {
      mgr = startAcme({ config, log: logged.log, tls: holder }, http, { pollMinMs: 100, retryBaseMs: 300, now: () => Date.now() + skew });
      // Two failures: the second comes by itself from the retry timer.
      const end = Date.now() + 20_000;
      while (failLines().length < failsBefore + 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      const [f1, f2] = failLines().slice(failsBefore);
      expect(f2).toBeDefined();
      expect(f2!.failures).toBe((f1!.failures as number) + 1);
      // The delay the manager chose before each retry (the schedule, not wall time,
      // which a loaded machine stretches): 300 ms, then 600 ms, due that long after the
      // failure (nextRenewal is read from the manager's own clock, `now`, with the skew).
      expect([f1!.retryInMs, f2!.retryInMs]).toEqual([300, 600]);
      for (const l of [f1!, f2!]) expect(Date.parse(l.retryAt as string) - skew).toBeLessThanOrEqual((l.time as number) + (l.retryInMs as number));
      expect(holder.describe().serial).toBe(info.serial);
    } finally {
      await pebble.clearA(HOST);
    }
    const end = Date.now() + 20_000;
    while (holder.describe().serial === info.serial && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    off();
    await mgr.idle();
    expect(holder.describe().serial).not.toBe(info.serial);
    expect(mgr.state().failures).toBe(0);
    expect(mgr.state().lastError).toBeUndefined();
  });
});
