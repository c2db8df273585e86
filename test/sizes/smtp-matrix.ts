/**
 * The size matrix on the SMTP paths into local mailboxes (issue 12), defined once and
 * run per listener by test/sizes/port25.test.ts and submission.test.ts (two files: two
 * workers). Every size (empty body, 1 KB, both sides of the spill threshold, 5 MB,
 * 25 MB, the configured maximum) is answered 250 and stored byte-identical behind our
 * trace fields; the maximum + 1 gets 552 5.3.4 after the data and leaves nothing
 * behind. Inbound checks run (SPF, DKIM, DMARC over a loopback DNS server) and
 * submission signs with DKIM, as in production. swaks sends a 700 KB attachment that
 * decodes to the same bytes from the Maildir file.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDomainKey } from '../../src/dkim/keys.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { needs, peer } from '../helpers/peers.js';
import { startTestServer, type TestServer } from '../helpers/servers.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';
import { buildMessage, KiB, leftovers, MAX, sendRaw, SIZES, smtpTransport, storedMessage, traceOnlyDifference } from './messages.js';

const run = promisify(execFile);
export const PASS = 'size-matrix-pw';
const TO = 'bob@example.test';

export interface SmtpPath {
  name: string;
  /** The listener: 'smtp', 'submission' (587, STARTTLS) or 'submissions' (465). */
  listener: 'smtp' | 'submission' | 'submissions';
}

/** Defines the server (beforeAll/afterAll) and the matrix for each path given. */
export function smtpMatrix(paths: SmtpPath[]): void {
  let dns: TestDnsServer;
  let t: TestServer;

  beforeAll(async () => {
    dns = await startDnsServer({});
    t = await startTestServer({ configure: (c) => (c.dns.servers = dns.servers) });
    await t.addAccount('alice@example.test', PASS);
    await t.addAccount(TO, PASS);
    ensureDomainKey(t.ctx.db, 'example.test');
  });

  afterAll(async () => {
    await t?.close();
    await dns?.close();
  });

  const from = (p: SmtpPath) => (p.listener === 'smtp' ? 'someone@remote.example' : 'alice@example.test');
  const transport = (p: SmtpPath) =>
    p.listener === 'smtp'
      ? smtpTransport(t.host, t.port('smtp'))
      : smtpTransport(t.host, t.port(p.listener), { tls: p.listener === 'submission' ? 'starttls' : 'implicit', user: 'alice@example.test', pass: PASS });

  for (const p of paths) {
    describe(p.name, () => {
      for (const s of SIZES) {
        it(`${s.label}: 250, stored byte-identical`, { timeout: 180_000 }, async () => {
          const tag = `${p.listener}-${s.bytes}`;
          const raw = await buildMessage(s.bytes, { from: from(p), to: TO, tag });
          expect(await sendRaw(transport(p), from(p), [TO], raw)).toMatch(/^250 /);
          const stored = storedMessage(t.dataRoot, TO, tag);
          expect(stored, 'stored in the Maildir').toBeDefined();
          expect(traceOnlyDifference(stored!, raw)).toBeUndefined();
          expect(leftovers(t.dataRoot)).toEqual([]);
        });
      }

      it('max + 1: 552 5.3.4 after the data, nothing stored or left behind', { timeout: 180_000 }, async () => {
        const tag = `${p.listener}-over`;
        const raw = await buildMessage(MAX + 1, { from: from(p), to: TO, tag });
        // nodemailer declares no SIZE for a raw message: the whole of it is sent.
        expect(await sendRaw(transport(p), from(p), [TO], raw)).toMatch(/^552 5\.3\.4 /);
        expect(storedMessage(t.dataRoot, TO, tag)).toBeUndefined();
        expect(leftovers(t.dataRoot)).toEqual([]);
      });

      if (p.listener !== 'submissions') {
        it('swaks --attach of 700 KB: 250, and the attachment decodes to the same bytes from the Maildir file', { ...needs('swaks'), timeout: 60_000 }, async () => {
          const dir = await mkdtemp(path.join(tmpdir(), 'sizes-swaks-'));
          try {
            const file = path.join(dir, 'photo-700k.bin');
            const bytes = randomBytes(700 * KiB);
            await writeFile(file, bytes);
            const tag = `swaks-${p.listener}`;
            const auth = p.listener === 'smtp' ? [] : ['--tls', '--auth', 'PLAIN', '--auth-user', 'alice@example.test', '--auth-password', PASS];
            const { stdout } = await run(peer('swaks'), [
              '--server', t.host, '--port', String(t.port(p.listener)), '--helo', 'swaks.example.net', ...auth,
              '--from', from(p), '--to', TO, '--header', `Message-Id: <${tag}@sizes.test>`, '--header', 'Subject: swaks 700 KB',
              '--attach-type', 'application/octet-stream', '--attach', `@${file}`,
            ], { maxBuffer: 64 * 1024 * 1024 });
            expect(stdout).toMatch(/<[-~] {1,2}250 2\.6\.0 Ok: queued as/); // <~ once TLS is on
            const stored = storedMessage(t.dataRoot, TO, tag);
            expect(stored).toBeDefined();
            const parsed = await simpleParser(stored!);
            const att = parsed.attachments.find((x) => x.filename === 'photo-700k.bin');
            expect(att?.content.equals(bytes)).toBe(true);
          } finally {
            await rm(dir, { recursive: true, force: true });
          }
        });
      }
    });
  }

  if (paths.some((p) => p.listener === 'smtp')) {
    it('SIZE= over the maximum is refused at MAIL FROM with 552 5.3.4; the maximum itself is accepted (RFC 1870)', async () => {
      const c = await SmtpTestClient.connect(t.port('smtp'));
      expect((await c.hello()).text).toContain(`SIZE ${MAX}`);
      expect((await c.cmd(`MAIL FROM:<someone@remote.example> SIZE=${MAX + 1}`)).text).toMatch(/^552 5\.3\.4 /);
      expect((await c.cmd(`MAIL FROM:<someone@remote.example> SIZE=${MAX}`)).code).toBe(250);
      c.close();
    });
  }
}
