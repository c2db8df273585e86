/**
 * Connects to a TLS listener (implicit TLS, or STARTTLS for SMTP/IMAP/POP3/ManageSieve) and reports
 * the certificate chain it serves, as a real client sees it. Certificate verification is
 * left to the tests (`verifyChain`), so they can check the serial, the issuer and that
 * the whole chain up to a given root was sent.
 */
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

export type Starttls = 'smtp' | 'imap' | 'pop3' | 'managesieve';

export interface Served {
  /** Leaf first, as sent by the server. */
  chain: X509Certificate[];
  protocol: string | null;
  cipher: string;
}

/** Reads lines until one matches `done`; rejects on a line matching `fail` or on close. */
function readUntil(sock: net.Socket, done: RegExp, fail?: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const lines = buf.split('\r\n');
      buf = lines.pop()!;
      for (const line of lines) {
        if (fail?.test(line)) return finish(new Error(`server said: ${line}`));
        if (done.test(line)) return finish(undefined, line);
      }
    };
    const onEnd = () => finish(new Error('connection closed during STARTTLS'));
    const finish = (err?: Error, line?: string) => {
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('error', finish);
      if (err) reject(err);
      else resolve(line!);
    };
    sock.on('data', onData);
    sock.on('end', onEnd);
    sock.on('error', finish);
  });
}

async function starttls(sock: net.Socket, proto: Starttls): Promise<void> {
  if (proto === 'smtp') {
    await readUntil(sock, /^220 /, /^[45]\d\d /);
    sock.write('EHLO probe.test\r\n');
    await readUntil(sock, /^250 /, /^[45]\d\d /);
    sock.write('STARTTLS\r\n');
    await readUntil(sock, /^220 /, /^[45]\d\d /);
  } else if (proto === 'imap') {
    await readUntil(sock, /^\* (OK|PREAUTH)/, /^\* BYE/);
    sock.write('a1 STARTTLS\r\n');
    await readUntil(sock, /^a1 OK/, /^a1 (NO|BAD)/);
  } else if (proto === 'managesieve') {
    // RFC 5804 §2.2: the capability listing ends with OK; STARTTLS is answered OK.
    await readUntil(sock, /^OK/, /^(NO|BYE)/);
    sock.write('STARTTLS\r\n');
    await readUntil(sock, /^OK/, /^(NO|BYE)/);
  } else {
    await readUntil(sock, /^\+OK/, /^-ERR/);
    sock.write('STLS\r\n');
    await readUntil(sock, /^\+OK/, /^-ERR/);
  }
}

export interface ProbeOptions {
  host?: string;
  starttls?: Starttls;
  /** SNI name; omitted → no SNI (as clients connecting by IP address do). */
  servername?: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  ciphers?: string;
}

/** How a client reaches TLS on each named listener of the server (every one that speaks TLS). */
export const TLS_LISTENERS: Record<string, Pick<ProbeOptions, 'starttls'>> = {
  smtp: { starttls: 'smtp' },
  submission: { starttls: 'smtp' },
  submissions: {},
  imap: { starttls: 'imap' },
  imaps: {},
  pop3: { starttls: 'pop3' },
  pop3s: {},
  https: {},
  managesieve: { starttls: 'managesieve' },
};

/** Opens a TLS connection, returns what was served, and closes it. */
export async function probe(port: number, opts: ProbeOptions = {}): Promise<Served> {
  const { socket, served } = await connectTls(port, opts);
  socket.destroy();
  return served;
}

/** Like probe, but leaves the TLS socket open for the caller. */
export async function connectTls(port: number, opts: ProbeOptions = {}): Promise<{ socket: tls.TLSSocket; served: Served }> {
  const host = opts.host ?? '127.0.0.1';
  let raw: net.Socket | undefined;
  if (opts.starttls) {
    raw = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(port, host, () => resolve(s));
      s.once('error', reject);
    });
    await starttls(raw, opts.starttls);
  }
  const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({
      ...(raw ? { socket: raw } : { host, port }),
      servername: opts.servername,
      rejectUnauthorized: false,
      minVersion: opts.minVersion,
      maxVersion: opts.maxVersion,
      ciphers: opts.ciphers,
    });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
  const chain: X509Certificate[] = [];
  let c = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  const seen = new Set<string>();
  while (c && c.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    chain.push(new X509Certificate(c.raw));
    c = c.issuerCertificate;
  }
  return { socket, served: { chain, protocol: socket.getProtocol(), cipher: socket.getCipher().name } };
}

/**
 * True when every certificate in `chain` is signed by the next and the last one is
 * signed by `rootPem` (so the server sent the full chain up to, not including, the root).
 */
export function chainsTo(chain: X509Certificate[], rootPem: string): boolean {
  const root = new X509Certificate(rootPem);
  const sent = chain.filter((c) => c.fingerprint256 !== root.fingerprint256);
  if (sent.length < 2) return false;
  for (let i = 0; i < sent.length - 1; i++) {
    if (!sent[i]!.verify(sent[i + 1]!.publicKey)) return false;
  }
  return sent[sent.length - 1]!.verify(root.publicKey);
}
