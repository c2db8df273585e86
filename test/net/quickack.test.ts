// TCP_QUICKACK on the sockets our listeners hand out (src/util/quickack.ts): after a
// quick reply the kernel delays its ACKs (reads 0); quickAck() must turn that off (1)
// on a plain socket, on a TLS server's socket and on a socket upgraded by STARTTLS,
// or Nagle-bound clients (python imaplib's APPEND) wait 40 ms per command again.
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { quickAck, quickAckState } from '../../src/util/quickack.js';
import { makeSelfSigned } from '../../src/tls/index.js';

const pair = makeSelfSigned('quickack.test');
const servers: net.Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

type Mode = 'plain' | 'tls server' | 'starttls';

/** Server side of one connection: answers the client's first bytes at once, then reads the flag before and after quickAck(). */
function probe(mode: Mode): Promise<{ before?: number; after?: number }> {
  return new Promise((resolve) => {
    const onConn = (s: net.Socket): void => {
      s.once('data', () => {
        s.write('+ go\r\n');
        const before = quickAckState(s);
        quickAck(s);
        resolve({ before, after: quickAckState(s) });
        s.destroy();
      });
    };
    const srv =
      mode === 'tls server'
        ? tls.createServer({ key: pair.key, cert: pair.cert }, onConn)
        : net.createServer((raw) => onConn(mode === 'plain' ? raw : new tls.TLSSocket(raw, { isServer: true, key: pair.key, cert: pair.cert })));
    servers.push(srv);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      const c = mode === 'plain' ? net.connect(port, '127.0.0.1') : tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
      c.on('error', () => undefined);
      c.on(mode === 'plain' ? 'connect' : 'secureConnect', () => c.write('a APPEND INBOX {5}\r\n'));
    });
  });
}

describe.skipIf(process.platform !== 'linux')('TCP_QUICKACK', () => {
  for (const mode of ['plain', 'tls server', 'starttls'] as const) {
    it(`is set on a ${mode} socket`, async () => {
      const r = await probe(mode);
      // 0 on kernels that enter their delayed mode at the first quick reply (tcp_pingpong_thresh 1, the default)
      expect(r.before, 'the optional sockopt addon must load on Linux').toBeTypeOf('number');
      expect(r.after).toBe(1);
    });
  }
});
