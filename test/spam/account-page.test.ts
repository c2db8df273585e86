// The spam filter on the user's own web page (/account, HTTPS, curl with a cookie jar):
// what it learned from the user's IMAP moves, how often it was right, and the junk
// threshold and greylisting the user picks for themselves, which port 25 then applies.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getSpamSettings } from '../../src/spam/settings.js';
import { needs } from '../helpers/peers.js';
import type { TestServer } from '../helpers/servers.js';
import { PW, send, smtp, spamServer } from './env.js';

const exec = promisify(execFile);
const U = 'page@example.test';
let t: TestServer;
let jar: string;

async function curl(pathname: string, form?: Record<string, string>): Promise<{ status: number; body: string; location?: string }> {
  const args = ['-s', '-k', '-i', '--max-time', '20', '-b', jar, '-c', jar];
  for (const [k, v] of Object.entries(form ?? {})) args.push('--data-urlencode', `${k}=${v}`);
  const { stdout } = await exec('curl', [...args, `https://127.0.0.1:${t.port('https')}${pathname}`]);
  const sep = stdout.indexOf('\r\n\r\n');
  const head = stdout.slice(0, sep);
  return { status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(head)![1]), body: stdout.slice(sep + 4), location: /^location: (.*)$/im.exec(head)?.[1]?.trim() };
}

const token = (body: string) => /name="_csrf" value="([^"]+)"/.exec(body)![1]!;

describe('the spam section of /account', needs('curl'), () => {
  beforeAll(async () => {
    jar = path.join(mkdtempSync(path.join(os.tmpdir(), 'mailserver-spam-page-')), 'jar');
    t = await spamServer((c) => {
      c.admin.enabled = true;
    });
    await t.addAccount(U, PW);
    const login = await curl('/account/login');
    const r = await curl('/account/login', { _csrf: token(login.body), username: U, password: PW, next: '/account' });
    expect(r.status).toBe(303);
  });
  afterAll(async () => {
    await t?.close();
    rmSync(path.dirname(jar), { recursive: true, force: true });
  });

  it('shows nothing trained, then what a MOVE into Junk taught it', async () => {
    expect((await curl('/account')).body).toContain('nothing yet: move spam into Junk');
    const uid = (await t.ctx.store.deliver([{ account: U }], { data: Buffer.from('From: x@remote.example\r\nSubject: cheap pills\r\n\r\nbuy now\r\n') }))[0]!.uid;
    const inbox = await t.ctx.store.getMailbox(U, 'INBOX');
    await t.ctx.store.move(U, inbox.id, [uid], 'Junk');
    await t.ctx.spam!.idle();
    expect((await curl('/account')).body).toMatch(/<th>Trained<\/th><td>1 spam, 0 not spam/);
  });

  it('the threshold the user picks is stored for the account and port 25 files by it; "default" takes it back', async () => {
    const page = await curl('/account');
    expect(page.body).toContain('<option value="default" selected>server default (0.9)</option>');
    let r = await curl('/account/spam', { _csrf: token(page.body), junk: '0.7', greylist: 'on' });
    expect(r.status).toBe(303);
    expect(getSpamSettings(t.ctx.db, t.ctx.config, U)).toMatchObject({ junkThreshold: 0.7, greylist: true });
    const after = await curl('/account');
    expect(after.body).toContain('<option value="0.7" selected>0.7</option>');
    expect(after.body).toContain('Spam settings saved.');
    // Greylisting on: port 25 answers the first attempt of a new sender with 451.
    const tr = smtp(t);
    try {
      const res = await send(tr, U, Buffer.from(`From: new@remote.example\r\nTo: ${U}\r\nSubject: hi\r\n\r\nhello\r\n`), 'new@remote.example');
      expect(res.code).toBe(451);
      expect(res.response).toMatch(/Greylisted/);
    } finally {
      tr.close();
    }
    // Values not offered are refused; nothing changes.
    r = await curl('/account/spam', { _csrf: token(after.body), junk: '0.01', greylist: 'on' });
    expect(r.status).toBe(303);
    expect((await curl(r.location!)).body).toContain('choose one of the junk thresholds offered');
    expect(getSpamSettings(t.ctx.db, t.ctx.config, U).junkThreshold).toBe(0.7);
    await curl('/account/spam', { _csrf: token(after.body), junk: 'default', greylist: 'default' });
    expect(getSpamSettings(t.ctx.db, t.ctx.config, U)).toMatchObject({ junkThreshold: 0.9, greylist: false, overridden: [] });
  });
});
