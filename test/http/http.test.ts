// The built-in HTTP listener: /health, the route table (exact beats prefix, longest
// prefix wins, GET answers HEAD, 404/405 with Allow, removal), and a throwing handler
// answered with 500 without leaking the message. Driven with curl, a real client.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaults } from '../../src/config/index.js';
import { sendText, startHttp, type HttpListener } from '../../src/http/index.js';
import { silentLogger } from '../../src/log.js';
import { makeSelfSigned, TlsContextHolder } from '../../src/tls/index.js';
import { probe } from '../tls/probe.js';
import { needs, peer } from '../helpers/peers.js';

const run = promisify(execFile);

/** curl: status, headers and body. */
async function curl(url: string, ...args: string[]): Promise<{ status: number; headers: string; body: string }> {
  const { stdout } = await run(peer('curl'), ['-s', '-i', '--max-time', '10', ...args, url]);
  const sep = stdout.indexOf('\r\n\r\n');
  const headers = stdout.slice(0, sep);
  return { status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(headers)![1]), headers, body: stdout.slice(sep + 4) };
}

describe('HTTP listener', needs('curl'), () => {
  let http: HttpListener;
  let base: string;
  beforeAll(async () => {
    const config = defaults('/nonexistent', false);
    http = await startHttp({ config, log: silentLogger }, { port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${http.port}`;
  });
  afterAll(() => http.close(0));

  it('answers /health with 200 JSON', async () => {
    const r = await curl(`${base}/health`);
    expect(r.status).toBe(200);
    expect(r.headers).toMatch(/content-type: application\/json/i);
    expect(JSON.parse(r.body)).toEqual({ status: 'ok' });
  });

  it('routes exact paths before prefixes and the longest prefix first', async () => {
    const offs = [
      http.routes.add('GET', '/a/', (_q, s, m) => sendText(s, 200, `short:${m.rest}`)),
      http.routes.add('GET', '/a/b/', (_q, s, m) => sendText(s, 200, `long:${m.rest}`)),
      http.routes.add('GET', '/a/b/exact', (_q, s, m) => sendText(s, 200, `exact:${m.rest}`)),
    ];
    expect((await curl(`${base}/a/x`)).body).toBe('short:x');
    expect((await curl(`${base}/a/b/c?q=1`)).body).toBe('long:c');
    expect((await curl(`${base}/a/b/exact`)).body).toBe('exact:');
    offs[1]!();
    expect((await curl(`${base}/a/b/c`)).body).toBe('short:b/c');
    offs[0]!();
    offs[2]!();
    expect((await curl(`${base}/a/x`)).status).toBe(404);
  });

  it('answers HEAD on GET routes, 405 with Allow for other methods, 404 elsewhere', async () => {
    const head = await curl(`${base}/health`, '-I');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    const post = await curl(`${base}/health`, '-X', 'POST', '-d', 'x');
    expect(post.status).toBe(405);
    expect(post.headers).toMatch(/^allow: GET$/im);
    expect((await curl(`${base}/nothing-here`)).status).toBe(404);
  });

  it('a handler that throws gets 500 and the message stays inside', async () => {
    const off = http.routes.add('GET', '/boom', () => {
      throw new Error('secret internal detail');
    });
    const r = await curl(`${base}/boom`);
    off();
    expect(r.status).toBe(500);
    expect(r.body).not.toContain('secret');
  });

  it('replaces a route registered again for the same method and path', async () => {
    const a = http.routes.add('GET', '/dup', (_q, s) => sendText(s, 200, 'first'));
    http.routes.add('GET', '/dup', (_q, s) => sendText(s, 200, 'second'));
    expect((await curl(`${base}/dup`)).body).toBe('second');
    a(); // removing the replaced one is harmless
    expect((await curl(`${base}/dup`)).body).toBe('second');
  });
});

describe('HTTPS listener', needs('curl'), () => {
  it('serves the shared route table with the holder certificate, and takes reloads', async () => {
    const config = defaults('/nonexistent', false);
    const holder = new TlsContextHolder(makeSelfSigned('mail.example.test'));
    const http = await startHttp({ config, log: silentLogger }, { port: 0, host: '127.0.0.1' });
    const https = await startHttp({ config, log: silentLogger, tls: holder }, { port: 0, host: '127.0.0.1', secure: true, routes: http.routes });
    try {
      expect(https.name).toBe('https');
      http.routes.add('GET', '/.well-known/mta-sts.txt', (_q, s) => sendText(s, 200, 'version: STSv1\n'));
      const r = await curl(`https://127.0.0.1:${https.port}/.well-known/mta-sts.txt`, '-k');
      expect(r.status).toBe(200);
      expect(r.body).toBe('version: STSv1\n');
      expect(JSON.parse((await curl(`https://127.0.0.1:${https.port}/health`, '-k')).body)).toEqual({ status: 'ok' });

      expect((await probe(https.port)).chain[0]!.serialNumber).toBe(holder.describe().serial);
      holder.setCertificate(makeSelfSigned('mail.example.test'));
      // Clients without SNI (by IP) and with SNI both get the new one.
      expect((await probe(https.port)).chain[0]!.serialNumber).toBe(holder.describe().serial);
      expect((await probe(https.port, { servername: 'mail.example.test' })).chain[0]!.serialNumber).toBe(holder.describe().serial);
    } finally {
      await https.close(0);
      await http.close(0);
    }
  });
});
