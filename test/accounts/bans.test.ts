// Temporary bans over real sockets (src/accounts/bans.ts, throttle.ts): after
// auth.ban_failures failed logins a client is refused at login and at connect on IMAP,
// POP3 and submission alike, the ban survives a restart, and `mailserver ban` shows and
// lifts it while the server runs.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountsRepo } from '../../src/accounts/repo.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { run } from '../cli/run.js';
import { captureLog } from '../helpers/log-capture.js';
import { makeTestConfig } from '../helpers/servers.js';
import { loginOnce, PROTOCOLS } from './login-clients.js';
import { from, RIGHT, throttled, VICTIM } from './throttle-suite.js';

describe('temporary bans', () => {
  const captured = captureLog('info');
  let server: RunningServer;
  let dataRoot: string;
  const ports = (s: RunningServer) => ({ port: (n: string) => s.listeners.get(n)!.port });

  const start = async (): Promise<RunningServer> => {
    const config = await makeTestConfig(dataRoot);
    throttled(config);
    config.auth.penaltyBaseMs = 20;
    config.auth.penaltyMaxMs = 40;
    config.auth.banFailures = 3;
    config.auth.banWindowSeconds = 60;
    config.auth.banSeconds = 600;
    return startServer({ dataRoot, config, log: captured.log });
  };

  beforeAll(async () => {
    dataRoot = await mkdtemp(path.join(tmpdir(), 'mailserver-bans-'));
    server = await start();
    const repo = server.ctx.accounts as AccountsRepo;
    repo.addDomain('example.test');
    await repo.addAccount(VICTIM, RIGHT);
  });
  afterAll(async () => {
    await server?.close(0);
    await rm(dataRoot, { recursive: true, force: true });
  });

  it.each(PROTOCOLS)('bans after auth.ban_failures failures on $name: refused at login and at connect on every listener', async (p) => {
    const a = from(21, p);
    const before = await p.open(ports(server).port(p.name), a); // opened before the ban
    for (let i = 0; i < 3; i++) expect(await loginOnce(p, ports(server).port(p.name), a, VICTIM, `wrong ${i}`)).toBe('failed');
    // The right password on the connection opened before: refused without a check, closed.
    expect(await before.login(VICTIM, RIGHT)).toBe('banned');
    await before.closed();
    for (const q of PROTOCOLS) {
      const s = await q.open(ports(server).port(q.name), a);
      expect(s.refused, `${q.name} greeting: ${s.greeting}`).toBe(true);
      expect(s.greeting).toMatch(/Too many failed logins from your address/);
      await s.closed();
    }
    const line = captured.lines.find((l) => l.msg === 'client banned after failed logins' && l.client === a);
    expect(line).toMatchObject({ level: 40, failures: 3 });
  }, 30_000);

  it('keeps bans across a restart; `mailserver ban list|remove` shows and lifts them while the server runs', async () => {
    await server.close(0);
    server = await start();
    const banned = from(21, PROTOCOLS[0]!);
    expect((await PROTOCOLS[0]!.open(ports(server).port('imap'), banned)).refused).toBe(true);

    const list = await run(['--data', dataRoot, 'ban', 'list', '--json']);
    expect(list.code).toBe(0);
    const rows = JSON.parse(list.stdout) as Array<{ client: string; failures: number }>;
    expect(rows.map((r) => r.client).sort()).toEqual(PROTOCOLS.map((q) => from(21, q)).sort());
    expect(rows.every((r) => r.failures === 3)).toBe(true);

    const removed = await run(['--data', dataRoot, 'ban', 'remove', banned]);
    expect(removed).toMatchObject({ code: 0, stdout: `lifted the ban of ${banned}\n` });
    // The server notices the other process's change within a fraction of a second.
    let reply = '';
    for (let i = 0; i < 20 && reply !== 'ok'; i++) {
      reply = await loginOnce(PROTOCOLS[0]!, ports(server).port('imap'), banned, VICTIM, RIGHT);
      if (reply !== 'ok') await new Promise((r) => setTimeout(r, 100));
    }
    expect(reply).toBe('ok');
    // The others stay banned; one added by hand applies at once too.
    expect((await PROTOCOLS[1]!.open(ports(server).port('pop3'), from(21, PROTOCOLS[1]!))).refused).toBe(true);
    expect(await run(['--data', dataRoot, 'ban', 'add', '127.0.22.1', '--seconds', '60'])).toMatchObject({ code: 0 });
    await new Promise((r) => setTimeout(r, 400));
    expect((await PROTOCOLS[2]!.open(ports(server).port('submission'), '127.0.22.1')).refused).toBe(true);
    expect(await run(['--data', dataRoot, 'ban', 'remove', 'not-an-ip'])).toMatchObject({ code: 2 });
  }, 60_000);
});
