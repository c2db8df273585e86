// The smtp-server behaviour src/smtp/server.ts relies on, pinned on real sockets, so an
// smtp-server upgrade that changes it fails here first (and one that makes the adapter
// unnecessary says so): a plain SMTPServer puts its table code in front of a hook's
// own enhanced code; connect() is where every accepted socket becomes a connection; the
// EHLO reply is built from the session's disabledCommands (3.21); and the adapted
// server answers as the module note says.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SmtpServer, type ServerAdaptations } from '../../src/smtp/server.js';
import { SmtpTestClient } from '../helpers/smtp-client.js';

const plain = Buffer.from('\0user\0pw').toString('base64');

function refusing(): Partial<SMTPServerOptions> {
  return {
    logger: false,
    hideENHANCEDSTATUSCODES: false, // off by default in smtp-server; on in every listener of ours
    hideSTARTTLS: true,
    authMethods: ['PLAIN'],
    allowInsecureAuth: true,
    authOptional: true,
    onAuth: (_auth, _session, cb) => cb(null, { user: 'user' }),
    onRcptTo: (_address, _session, cb) => cb(Object.assign(new Error('5.7.1 Relay access denied'), { responseCode: 554 })),
  };
}

let servers: SMTPServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  servers = [];
});

async function listen(server: SMTPServer): Promise<number> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.server.address() as { port: number }).port;
}

async function rcptReply(server: SMTPServer): Promise<string> {
  const c = await SmtpTestClient.connect(await listen(server));
  try {
    await c.hello();
    await c.cmd('MAIL FROM:<a@example.test>');
    return (await c.cmd('RCPT TO:<b@other.test>')).text;
  } finally {
    c.close();
  }
}

describe('smtp-server as the adapter finds it', () => {
  it('is 3.x, and its connect() makes, registers and starts one SMTPConnection (what SmtpServer.connect repeats)', () => {
    const require = createRequire(import.meta.url);
    const pkg = JSON.parse(readFileSync(require.resolve('smtp-server/package.json'), 'utf8')) as { version: string };
    expect(pkg.version).toMatch(/^3\./);
    const body = SMTPServer.prototype.connect.toString().replace(/\s+/g, ' ');
    expect(body).toMatch(/new SMTPConnection\(this, socket, socketOptions\)/);
    expect(body).toMatch(/this\.connections\.add\(connection\)/);
    expect(body).toMatch(/connection\.init\(\)/);
    expect(body.match(/connection\.on\('(\w+)'/g)).toEqual(["connection.on('error'", "connection.on('connect'"]);
  });

  it('plain SMTPServer puts its table code in front of a hook text that has its own (the reason for send())', async () => {
    expect(await rcptReply(new SMTPServer(refusing()))).toBe('554 5.6.0 5.7.1 Relay access denied');
  });

  it('plain SMTPServer builds the EHLO list from session.disabledCommands (3.21), which replaces the server list', async () => {
    const server = new SMTPServer({ ...refusing(), disabledCommands: ['STARTTLS'], onConnect: (session, cb) => ((session.disabledCommands = ['AUTH']), cb()) });
    const c = await SmtpTestClient.connect(await listen(server));
    try {
      const ehlo = await c.hello();
      expect(ehlo.lines.filter((l) => /AUTH/.test(l))).toEqual([]);
      expect((await c.cmd(`AUTH PLAIN ${plain}`)).code).toBe(500); // disabled: unknown, not refused
    } finally {
      c.close();
    }
  });
});

describe('SmtpServer (src/smtp/server.ts)', () => {
  it('sends a hook text with its own enhanced code as it is, and keeps smtp-server codes elsewhere', async () => {
    expect(await rcptReply(new SmtpServer(refusing()))).toBe('554 5.7.1 Relay access denied');
    const c = await SmtpTestClient.connect(await listen(new SmtpServer(refusing())));
    try {
      await c.hello();
      expect((await c.cmd('MAIL FROM:<a@example.test>')).text).toBe('250 2.1.0 Accepted');
      expect((await c.cmd('DATA')).text).toBe('503 5.5.1 Error: need RCPT command');
    } finally {
      c.close();
    }
  });

  it('asks authAllowed on every EHLO and AUTH; the EHLO-only change never reaches the next command', async () => {
    let allowed = false;
    const asked: Array<[boolean, string]> = [];
    const adapt: ServerAdaptations = {
      authAllowed: (secure, ip) => {
        asked.push([secure, ip]);
        return allowed;
      },
    };
    const server = new SmtpServer({ ...refusing(), disabledCommands: ['VRFY'] }, adapt);
    const c = await SmtpTestClient.connect(await listen(server));
    try {
      // EHLO and AUTH pipelined in one write: AUTH is judged by itself (530, not 500).
      await c.reply();
      c.write(`EHLO client.example.net\r\nAUTH PLAIN ${plain}\r\nVRFY x\r\n`);
      expect((await c.reply()).lines.filter((l) => /AUTH/.test(l))).toEqual([]);
      expect((await c.reply()).text).toBe('530 5.7.0 Must issue a STARTTLS command first');
      expect((await c.reply()).code).toBe(500); // the server's own disabledCommands still apply
      expect(asked.every(([secure, ip]) => secure === false && /127\.0\.0\.1$/.test(ip))).toBe(true);
      allowed = true;
      expect((await c.cmd('EHLO client.example.net')).lines.filter((l) => /AUTH/.test(l))).toEqual([expect.stringMatching(/^250[- ]AUTH PLAIN$/)]);
      expect((await c.cmd(`AUTH PLAIN ${plain}`)).text).toBe('235 2.7.0 Authentication successful');
    } finally {
      c.close();
    }
  });

  it('closes like SMTPServer: open connections are told 421 and the server reports them closed', async () => {
    const server = new SmtpServer({ ...refusing(), closeTimeout: 50 });
    const connected: unknown[] = [];
    server.on('connect', (d) => connected.push(d));
    const c = await SmtpTestClient.connect(await listen(server));
    await c.hello();
    expect(connected).toHaveLength(1);
    expect(server.connections.size).toBe(1);
    servers = [];
    await new Promise<void>((r) => server.close(() => r()));
    expect((await c.reply()).text).toMatch(/^421 /);
    expect(await c.waitClosed()).toBe(true);
  });
});
