/**
 * Minimal TLS listeners wired to a TlsContextHolder the way the protocol servers are:
 * an implicit-TLS echo server (`tls.createServer` + `attachServer`, like 465/993/995)
 * and a line-based STARTTLS server speaking just enough SMTP to upgrade
 * (`new TLSSocket(..., { secureContext: holder.current(), SNICallback })`, like IMAP
 * and POP3 do). Used where the full server is not needed.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { TlsContextHolder } from '../../src/tls/index.js';

export interface TestListener {
  port: number;
  close(): Promise<void>;
}

export async function startImplicitTlsEcho(holder: TlsContextHolder): Promise<TestListener> {
  const sockets = new Set<net.Socket>();
  const server = tls.createServer(holder.serverOptions(), (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  const detach = holder.attachServer(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        detach();
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export async function startStarttlsSmtpLike(holder: TlsContextHolder): Promise<TestListener> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    sock.write('220 test ESMTP\r\n');
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i).toUpperCase();
        buf = buf.slice(i + 2);
        if (line.startsWith('EHLO')) sock.write('250-test\r\n250 STARTTLS\r\n');
        else if (line === 'STARTTLS') {
          sock.off('data', onData);
          sock.write('220 go ahead\r\n', () => {
            const t = new tls.TLSSocket(sock, {
              isServer: true,
              secureContext: holder.current(),
              SNICallback: holder.sniCallback,
            });
            t.on('error', () => undefined);
            t.pipe(t);
          });
          return;
        } else sock.write('500 what\r\n');
      }
    };
    sock.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
