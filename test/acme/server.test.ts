// ACME certificates in the whole server: after the first issuance and after a forced
// renewal, every TLS listener the server runs (SMTP 25 STARTTLS, and 587/465, IMAP
// 143/993, POP3 110/995 as they exist) serves the new leaf, issued under Pebble's root,
// with the full chain, to clients with and without SNI, and a session open across the
// renewal keeps working.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TLS12_CIPHERS } from '../../src/tls/index.js';
import { readAcmeState, startAcme, type AcmeManager } from '../../src/acme/index.js';
import { tlsRenew } from '../../src/cli/commands/tls.js';
import type { Config } from '../../src/config/index.js';
import { startHttp, type HttpListener } from '../../src/http/index.js';
import { silentLogger } from '../../src/log.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { chainsTo, connectTls, probe, TLS_LISTENERS } from '../tls/probe.js';
import { freePort, NEEDS_PEBBLE, startPebble, type Pebble } from './pebble.js';

const HOST = 'mail.example.test';


describe('ACME certificates on every listener', NEEDS_PEBBLE, () => {
  let pebble: Pebble;
  let t: TestServer;
  let http: HttpListener;
  let mgr: AcmeManager;
  let root: string;
  let names: string[];

  /** Every TLS listener serves `serial` with the full chain, to clients with or without SNI. */
  async function expectServedEverywhere(serial: string, sni: boolean): Promise<void> {
    for (const name of names) {
      const s = await probe(t.port(name), { ...TLS_LISTENERS[name], servername: sni ? HOST : undefined });
      const how = `${name} (${sni ? 'SNI' : 'no SNI'})`;
      expect(
        s.chain[0]!.serialNumber,
        `${how} serves the current certificate` +
          (sni ? '' : '; an implicit-TLS tls.Server must call ctx.tls.attachServer(server), since Node runs no SNICallback for clients without SNI'),
      ).toBe(serial);
      expect(chainsTo(s.chain, root), `${how} sends the chain up to Pebble's root`).toBe(true);
    }
  }

  beforeAll(async () => {
    const httpPort = await freePort();
    pebble = await startPebble(httpPort);
    root = await pebble.rootPem();
    // The server starts on its self-signed pair; this test drives the ACME manager itself
    // against the server's TLS holder, so it does not depend on how src/server.ts wires it.
    t = await startTestServer({
      configure: (c: Config) => {
        c.hostname = HOST;
        c.ports.http = -1;
      },
    });
    names = [...t.server.listeners.keys()].filter((n) => n in TLS_LISTENERS);
    const config: Config = {
      ...t.config,
      tls: { ...t.config.tls, mode: 'acme', acme: { ...t.config.tls.acme, directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, extraNames: [] } },
    };
    http = await startHttp({ config, log: silentLogger }, { port: httpPort, host: '127.0.0.1' });
    mgr = startAcme({ config, log: silentLogger, tls: t.ctx.tls }, http, { pollMinMs: 100, noInitialOrder: true });
  });

  afterAll(async () => {
    await mgr?.stop();
    await http?.close(0);
    await t?.close();
    await pebble?.close();
  });

  let s1 = '';
  let s2 = '';

  it('serves the issued certificate, then the renewed one, on every TLS listener to clients sending SNI', async () => {
    expect(names).toContain('smtp');
    const selfSigned = t.ctx.tls.describe().serial;

    const first = await mgr.renewNow('first');
    expect(first.ok).toBe(true);
    s1 = t.ctx.tls.describe().serial;
    expect(s1).not.toBe(selfSigned);
    await expectServedEverywhere(s1, true);

    // A session opened before the renewal survives it.
    const open = await connectTls(t.port('smtp'), { starttls: 'smtp' });
    expect(open.served.chain[0]!.serialNumber).toBe(s1);

    const second = await mgr.renewNow('forced');
    expect(second).toEqual({ ok: true, serial: expect.any(String), notAfter: expect.any(Date) });
    s2 = t.ctx.tls.describe().serial;
    expect(s2).not.toBe(s1);
    await expectServedEverywhere(s2, true);

    const reply = await new Promise<string>((resolve, reject) => {
      open.socket.once('data', (d: Buffer) => resolve(d.toString()));
      open.socket.once('error', reject);
      open.socket.write('NOOP\r\n');
    });
    expect(reply).toMatch(/^250 /);
    open.socket.destroy();
  });

  it('serves the renewed certificate to clients without SNI too (connecting by IP address)', async () => {
    expect(s2).not.toBe('');
    await expectServedEverywhere(s2, false);
  });
});

describe('TLS settings on every listener of the server', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(() => t?.close());

  it('refuses TLS 1.1 and older everywhere', async () => {
    for (const [name, how] of Object.entries(TLS_LISTENERS)) {
      if (!t.server.listeners.has(name)) continue;
      const err = await probe(t.port(name), { ...how, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }).then(
        () => undefined,
        (e: NodeJS.ErrnoException) => e,
      );
      expect(err?.code, `${name} refuses TLS 1.1`).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    }
  });

  it('offers only ECDHE with AEAD suites on TLS 1.2', async () => {
    for (const [name, how] of Object.entries(TLS_LISTENERS)) {
      if (!t.server.listeners.has(name)) continue;
      const ok = await probe(t.port(name), { ...how, maxVersion: 'TLSv1.2' });
      expect(TLS12_CIPHERS.split(':'), `${name} negotiates a listed suite`).toContain(ok.cipher);
      const cbc = await probe(t.port(name), { ...how, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-SHA:AES128-SHA' }).then(
        (s) => s.cipher,
        (e: NodeJS.ErrnoException) => e.code,
      );
      expect(cbc, `${name} refuses CBC suites on TLS 1.2`).toBe('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE');
    }
  });
});

describe('startServer in acme mode', NEEDS_PEBBLE, () => {
  let pebble: Pebble;
  let t: TestServer;

  beforeAll(async () => {
    const httpPort = await freePort();
    pebble = await startPebble(httpPort);
    t = await startTestServer({
      configure: (c: Config) => {
        c.hostname = HOST;
        c.ports.http = httpPort;
        c.tls.mode = 'acme';
        c.tls.acme.directoryUrl = pebble.directoryUrl;
        c.tls.acme.caFile = pebble.caFile;
      },
    });
  });

  afterAll(async () => {
    await t?.close();
    await pebble?.close();
  });

  it('orders at start, answers the challenge on its own HTTP listener, and renews on `tls renew`', async () => {
    const root = await pebble.rootPem();
    const end = Date.now() + 60_000;
    while (!/Pebble/.test(t.ctx.tls.describe().issuer) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    const first = t.ctx.tls.describe();
    expect(first.issuer).toMatch(/Pebble Intermediate CA/);
    const s = await probe(t.port('smtp'), { starttls: 'smtp' });
    expect(s.chain[0]!.serialNumber).toBe(first.serial);
    expect(chainsTo(s.chain, root)).toBe(true);

    const out: string[] = [];
    await tlsRenew({ dataRoot: t.dataRoot, config: t.config, out: (l) => out.push(l), waitMs: 60_000, pollMs: 100 });
    const second = t.ctx.tls.describe().serial;
    expect(second).not.toBe(first.serial);
    expect(out.join('\n')).toContain(second);
    expect(readAcmeState(t.dataRoot).handledResult).toBe('ok');
    expect((await probe(t.port('smtp'), { starttls: 'smtp' })).chain[0]!.serialNumber).toBe(second);
  });
});
