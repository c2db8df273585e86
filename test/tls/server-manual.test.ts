// tls.mode = "manual" on the whole server: the user's key and chain are served by every
// TLS listener, and replacing the files (as certbot does) reaches new connections on all
// of them without a restart, while a session opened before keeps working.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/index.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { makeTestCa, type TestCa } from './certs.js';
import { needs } from '../helpers/peers.js';
import { chainsTo, connectTls, probe, TLS_LISTENERS } from './probe.js';

const HOST = 'mail.example.test';
const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber;

describe('manual mode on the whole server', needs('openssl'), () => {
  let dir: string;
  let ca: TestCa;
  let t: TestServer;
  let keyFile: string;
  let certFile: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tls-manual-server-'));
    ca = makeTestCa(dir);
    const first = ca.leaf([HOST], 'first');
    keyFile = path.join(dir, 'privkey.pem');
    certFile = path.join(dir, 'fullchain.pem');
    writeFileSync(keyFile, first.key);
    writeFileSync(certFile, first.cert);
    t = await startTestServer({
      configure: (c: Config) => {
        c.hostname = HOST;
        c.tls.mode = 'manual';
        c.tls.keyFile = keyFile;
        c.tls.certFile = certFile;
      },
    });
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the files, then the replaced files, on every TLS listener without restart', async () => {
    const names = [...t.server.listeners.keys()].filter((n) => n in TLS_LISTENERS);
    expect(names).toContain('smtp');
    const first = t.ctx.tls.describe().serial;
    for (const n of names) {
      const s = await probe(t.port(n), { ...TLS_LISTENERS[n], servername: HOST });
      expect(s.chain[0]!.serialNumber, n).toBe(first);
      expect(chainsTo(s.chain, ca.rootPem), `${n} sends leaf + intermediate`).toBe(true);
    }
    const open = await connectTls(t.port('smtp'), { starttls: 'smtp' });

    const next = ca.leaf([HOST], 'second');
    for (const [file, data] of [[keyFile, next.key], [certFile, next.cert]] as const) {
      writeFileSync(`${file}.new`, data);
      renameSync(`${file}.new`, file);
    }
    const want = serialOf(next.leafPem);
    const end = Date.now() + 15_000;
    while (t.ctx.tls.describe().serial !== want && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(t.ctx.tls.describe().serial).toBe(want);
    for (const n of names) {
      const s = await probe(t.port(n), { ...TLS_LISTENERS[n], servername: HOST });
      expect(s.chain[0]!.serialNumber, n).toBe(want);
    }
    // smtp-server replaces its default context too: clients without SNI see the new one.
    expect((await probe(t.port('smtp'), { starttls: 'smtp' })).chain[0]!.serialNumber).toBe(want);

    const reply = await new Promise<string>((resolve, reject) => {
      open.socket.once('data', (d: Buffer) => resolve(d.toString()));
      open.socket.once('error', reject);
      open.socket.write('NOOP\r\n');
    });
    expect(reply).toMatch(/^250 /);
    open.socket.destroy();
  });
});
