/**
 * Pebble (Let's Encrypt's test ACME server) and pebble-challtestsrv (its mock DNS) on
 * loopback, for the ACME tests.
 *
 * Debian's package ships no certificate for Pebble's HTTPS listener, so one is made
 * here with openssl: a throwaway CA and a leaf for 127.0.0.1/localhost. The ACME client
 * trusts that CA through `tls.acme.ca_file`. Pebble resolves challenge hostnames with
 * pebble-challtestsrv, which answers every A query with 127.0.0.1 unless a test sets a
 * record (`setA`), so any mail hostname reaches our HTTP listener at `httpPort`.
 * Pebble issues from a root it makes at start; `rootPem()` fetches it from the
 * management API (/roots/0) so tests can check the served chain against it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { needs, peer } from '../helpers/peers.js';

/** What an ACME test needs (test/helpers/peers.ts): Pebble, its DNS server, openssl for its certificate. */
export const NEEDS_PEBBLE = needs('pebble', 'pebble-challtestsrv', 'openssl');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Pebble {
  directoryUrl: string;
  /** PEM of the CA that signed Pebble's own HTTPS certificate (for tls.acme.ca_file). */
  caFile: string;
  /** Pebble's current issuing root (PEM). */
  rootPem(): Promise<string>;
  /** Makes `host` resolve to `ip` for Pebble's validation (default for all names: 127.0.0.1). */
  setA(host: string, ip: string): Promise<void>;
  clearA(host: string): Promise<void>;
  close(): Promise<void>;
}

function waitExit(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once('exit', () => resolve());
  });
}

async function until<T>(fn: () => Promise<T>, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${what} did not come up: ${String((last as Error)?.message ?? last)}`);
}

function get(url: string, ca?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, ca ? { ca } : {}, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

function post(url: string, data: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(data);
    const req = http.request(url, { method: 'POST', headers: { 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Starts challtestsrv and Pebble; Pebble validates http-01 on `httpPort`. */
export async function startPebble(httpPort: number): Promise<Pebble> {
  const PEBBLE = peer('pebble');
  const CHALLTESTSRV = peer('pebble-challtestsrv');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pebble-'));
  const ssl = (...args: string[]) => execFileSync(peer('openssl'), args, { cwd: dir, stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=pebble test https CA', '-days', '2');
  ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=localhost');
  writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  ssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '2', '-extfile', 'ext.cnf');
  const ca = readFileSync(path.join(dir, 'ca.pem'));

  const [acmePort, mgmtPort, tlsPort, dnsPort, ctsMgmtPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  writeFileSync(
    path.join(dir, 'pebble.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: path.join(dir, 'leaf.pem'),
        privateKey: path.join(dir, 'leaf.key'),
        httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );

  const procs: ChildProcess[] = [];
  const output: string[] = [];
  const keep = (p: ChildProcess) => {
    p.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
    p.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
    procs.push(p);
  };
  keep(
    spawn(CHALLTESTSRV, [
      '-dns01', `127.0.0.1:${dnsPort}`,
      '-management', `127.0.0.1:${ctsMgmtPort}`,
      '-http01', '', '-https01', '', '-tlsalpn01', '',
      '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '',
    ], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  keep(
    spawn(PEBBLE, ['-config', path.join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // No random sleeps, no artificial bad nonces, never reuse a valid authorization
      // (so every order, including a forced renewal, really validates).
      env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_VA_ALWAYS_VALID: '0', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    }),
  );

  const close = async () => {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map(waitExit));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
    await until(async () => {
      const r = await get(directoryUrl, ca);
      if (r.status !== 200) throw new Error(`status ${r.status}`);
    }, 'pebble');
    await until(() => post(`http://127.0.0.1:${ctsMgmtPort}/clear-a`, { host: 'probe.invalid.' }), 'pebble-challtestsrv');
    return {
      directoryUrl,
      caFile: path.join(dir, 'ca.pem'),
      async rootPem() {
        const r = await get(`https://127.0.0.1:${mgmtPort}/roots/0`, ca);
        if (r.status !== 200) throw new Error(`roots/0: ${r.status}`);
        return r.body;
      },
      async setA(host, ip) {
        const s = await post(`http://127.0.0.1:${ctsMgmtPort}/add-a`, { host: host.endsWith('.') ? host : `${host}.`, addresses: [ip] });
        if (s !== 200) throw new Error(`add-a: ${s}`);
      },
      async clearA(host) {
        await post(`http://127.0.0.1:${ctsMgmtPort}/clear-a`, { host: host.endsWith('.') ? host : `${host}.` });
      },
      close,
    };
  } catch (err) {
    await close();
    throw new Error(`${(err as Error).message}\n${output.join('')}`);
  }
}
