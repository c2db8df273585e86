/**
 * A real DNS server for tests, on a loopback UDP port (and TCP on the same port number,
 * for answers that do not fit in a UDP datagram). Tests point `createResolver({ servers })`
 * or Node's `dns.promises.Resolver#setServers` at it, so SPF, DKIM, DMARC, MX, DNSBL and
 * PTR lookups go over a real socket through c-ares exactly as in production.
 *
 * Wire format: RFC 1035 §4 (header, question, resource records), TCP framing with a
 * two-byte length prefix (RFC 1035 §4.2.2, RFC 7766), TXT character-strings of at most
 * 255 bytes each (RFC 1035 §3.3.14; long values are split, as DKIM keys need),
 * NXDOMAIN vs NODATA (RFC 2308 §2.1/§2.2: the negative answer carries a SOA in the
 * authority section), TC bit when a UDP answer exceeds 512 bytes (or the EDNS0 size,
 * RFC 6891 §6.2.5) so the client retries over TCP.
 *
 * The zone is a plain table that tests change at run time: `set(name, type, values)`,
 * `remove(name, type?)`, and `mode(name, 'timeout' | 'servfail' | 'refused')` to make a
 * name unanswered (c-ares then reports ETIMEOUT) or failed (ESERVFAIL).
 * A name with no records of its own but with names below it is an empty non-terminal:
 * NODATA, not NXDOMAIN (RFC 8020).
 */
import dgram from 'node:dgram';
import net from 'node:net';

export type RecordType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'PTR' | 'CNAME' | 'SRV' | 'NS' | 'SOA';

export interface MxValue { priority: number; exchange: string }
export interface SrvValue { priority: number; weight: number; port: number; name: string }
export interface SoaValue {
  nsname: string; hostmaster: string; serial: number; refresh: number; retry: number; expire: number; minttl: number;
}
/**
 * One record's value. A/AAAA/PTR/CNAME/NS: a string. MX: `{ priority, exchange }` or
 * "10 mx.example.test". TXT: a string (split into 255-byte strings) or a string[] (the
 * character-strings as given). SRV: `{ priority, weight, port, name }` or "0 5 25 host".
 */
export type RecordValue = string | string[] | MxValue | SrvValue | SoaValue;

export type NameMode = 'timeout' | 'servfail' | 'refused';

/** `{ 'example.test': { A: ['127.0.0.1'], TXT: ['v=spf1 -all'] } }` */
export type Zone = Record<string, Partial<Record<RecordType, RecordValue[]>>>;

export interface DnsQueryLog { name: string; type: string; transport: 'udp' | 'tcp' }

export interface TestDnsServer {
  port: number;
  /** For `createResolver({ servers })` / `Resolver#setServers`. */
  servers: string[];
  /** Replaces all records of `type` at `name` (an empty list leaves the name existing with NODATA for that type). */
  set(name: string, type: RecordType, values: RecordValue[]): void;
  /** Removes one type at `name`, or the whole name (then NXDOMAIN unless names exist below it). */
  remove(name: string, type?: RecordType): void;
  /** Makes queries for `name` (exactly, any type) go unanswered or fail; `undefined` restores normal answers. */
  mode(name: string, mode: NameMode | undefined): void;
  /** Every question received, in order (tests may clear it with `queries.length = 0`). */
  queries: DnsQueryLog[];
  close(): Promise<void>;
}

const TYPE_CODES: Record<RecordType, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33 };
const CODE_TYPES = new Map<number, string>(Object.entries(TYPE_CODES).map(([k, v]) => [v, k]));
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, FORMERR: 1 } as const;
const TTL = 60;

function norm(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}

/** Starts the server on 127.0.0.1, a random port free for both UDP and TCP. */
export async function startDnsServer(zone: Zone = {}, opts: { host?: string } = {}): Promise<TestDnsServer> {
  const host = opts.host ?? '127.0.0.1';
  const records = new Map<string, Map<RecordType, RecordValue[]>>();
  const modes = new Map<string, NameMode>();
  const queries: DnsQueryLog[] = [];

  const set = (name: string, type: RecordType, values: RecordValue[]) => {
    const n = norm(name);
    let m = records.get(n);
    if (!m) records.set(n, (m = new Map()));
    m.set(type, [...values]);
  };
  const remove = (name: string, type?: RecordType) => {
    const n = norm(name);
    if (type === undefined) records.delete(n);
    else records.get(n)?.delete(type);
  };
  for (const [name, types] of Object.entries(zone)) {
    for (const [type, values] of Object.entries(types)) set(name, type as RecordType, values ?? []);
  }

  const nameExists = (n: string) => {
    if (records.has(n)) return true;
    const suffix = `.${n}`;
    for (const k of records.keys()) if (k.endsWith(suffix)) return true; // RFC 8020 empty non-terminal
    return false;
  };

  const answer = (query: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined => {
    let q: ParsedQuery;
    try {
      q = parseQuery(query);
    } catch {
      if (query.length < 2) return undefined;
      return encodeResponse({ id: query.readUInt16BE(0), rd: false, opcode: 0 }, undefined, RCODE.FORMERR, [], []);
    }
    const qname = norm(q.name);
    queries.push({ name: qname, type: CODE_TYPES.get(q.type) ?? String(q.type), transport });
    const mode = modes.get(qname);
    if (mode === 'timeout') return undefined;
    if (mode === 'servfail') return encodeResponse(q, q, RCODE.SERVFAIL, [], []);
    if (mode === 'refused') return encodeResponse(q, q, RCODE.REFUSED, [], []);
    if (q.opcode !== 0) return encodeResponse(q, q, RCODE.NOTIMP, [], []);

    const wanted = CODE_TYPES.get(q.type) as RecordType | undefined;
    const ans: Rr[] = [];
    let cur = qname;
    // Follow CNAMEs inside the zone (RFC 1034 §4.3.2 step 3a), bounded against loops.
    for (let hops = 0; hops < 8; hops++) {
      const rrs = records.get(cur);
      const cname = rrs?.get('CNAME');
      if (cname && cname.length > 0 && wanted !== 'CNAME') {
        ans.push({ name: cur, type: 'CNAME', value: cname[0]! });
        cur = norm(cname[0] as string);
        continue;
      }
      if (!nameExists(cur)) {
        return encodeResponse(q, q, RCODE.NXDOMAIN, ans, [soaFor(cur)]); // RFC 2308 §2.1
      }
      const vals = wanted ? rrs?.get(wanted) : undefined;
      if (vals && vals.length > 0) {
        for (const v of vals) ans.push({ name: cur, type: wanted!, value: v });
        return encodeResponse(q, q, RCODE.NOERROR, ans, []);
      }
      return encodeResponse(q, q, RCODE.NOERROR, ans, ans.length ? [] : [soaFor(cur)]); // NODATA, RFC 2308 §2.2
    }
    return encodeResponse(q, q, RCODE.SERVFAIL, [], []);
  };

  // Bind UDP first on port 0, then TCP on the same number; retry if TCP's is taken.
  let udp: dgram.Socket | undefined;
  let tcp: net.Server | undefined;
  for (let attempt = 0; attempt < 20 && !tcp; attempt++) {
    const u = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      u.once('error', reject);
      u.bind(0, host, () => resolve());
    });
    const p = u.address().port;
    const t = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      t.once('error', () => resolve(false));
      t.listen(p, host, () => resolve(true));
    });
    if (ok) {
      udp = u;
      tcp = t;
    } else {
      u.close();
    }
  }
  if (!udp || !tcp) throw new Error('test DNS server: could not bind a UDP+TCP port pair');
  const port = udp.address().port;

  udp.on('message', (msg, rinfo) => {
    const res = answer(msg, 'udp');
    if (!res) return;
    const limit = Math.max(512, ednsSize(msg));
    const out = res.length > limit ? truncated(res) : res; // RFC 1035 §4.2.1, RFC 6891 §6.2.5
    udp!.send(out, rinfo.port, rinfo.address);
  });
  udp.on('error', () => {});

  const sockets = new Set<net.Socket>();
  tcp.on('connection', (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0); // RFC 1035 §4.2.2 length prefix
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const res = answer(msg, 'tcp');
        if (!res) continue;
        const hdr = Buffer.alloc(2);
        hdr.writeUInt16BE(res.length);
        sock.write(Buffer.concat([hdr, res]));
      }
    });
  });

  return {
    port,
    servers: [`${host.includes(':') ? `[${host}]` : host}:${port}`],
    set,
    remove,
    mode(name, m) {
      if (m === undefined) modes.delete(norm(name));
      else modes.set(norm(name), m);
    },
    queries,
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([
        new Promise<void>((resolve) => udp!.close(() => resolve())),
        new Promise<void>((resolve) => tcp!.close(() => resolve())),
      ]);
    },
  };
}

// ---- codec (pure) -------------------------------------------------------------------

interface QueryHeader { id: number; rd: boolean; opcode: number }
interface ParsedQuery extends QueryHeader { name: string; type: number; qclass: number; end: number }
interface Rr { name: string; type: RecordType; value: RecordValue }

function readName(buf: Buffer, off: number): { name: string; end: number } {
  const labels: string[] = [];
  let end = -1;
  let jumps = 0;
  for (;;) {
    if (off >= buf.length) throw new Error('name past end');
    const len = buf[off]!;
    if ((len & 0xc0) === 0xc0) {
      // RFC 1035 §4.1.4 compression pointer
      if (end < 0) end = off + 2;
      off = ((len & 0x3f) << 8) | buf[off + 1]!;
      if (++jumps > 16) throw new Error('pointer loop');
      continue;
    }
    if (len === 0) {
      if (end < 0) end = off + 1;
      break;
    }
    labels.push(buf.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  return { name: labels.join('.'), end };
}

function parseQuery(buf: Buffer): ParsedQuery {
  if (buf.length < 12) throw new Error('short header');
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if (flags & 0x8000) throw new Error('not a query');
  const qd = buf.readUInt16BE(4);
  if (qd !== 1) throw new Error('one question expected');
  const { name, end } = readName(buf, 12);
  if (end + 4 > buf.length) throw new Error('short question');
  return { id, rd: (flags & 0x0100) !== 0, opcode: (flags >> 11) & 0xf, name, type: buf.readUInt16BE(end), qclass: buf.readUInt16BE(end + 2), end: end + 4 };
}

/** The EDNS0 requestor's UDP payload size (RFC 6891 §6.1.2), or 0 without an OPT record. */
function ednsSize(buf: Buffer): number {
  try {
    const q = parseQuery(buf);
    const an = buf.readUInt16BE(6);
    const ns = buf.readUInt16BE(8);
    const ar = buf.readUInt16BE(10);
    let off = q.end;
    for (let i = 0; i < an + ns + ar; i++) {
      const { end } = readName(buf, off);
      const type = buf.readUInt16BE(end);
      const cls = buf.readUInt16BE(end + 2);
      const rdlen = buf.readUInt16BE(end + 8);
      if (type === 41) return cls; // OPT: CLASS holds the payload size
      off = end + 10 + rdlen;
    }
  } catch {
    // fall through
  }
  return 0;
}

function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of norm(name).split('.').filter(Boolean)) {
    const b = Buffer.from(label, 'latin1');
    if (b.length > 63) throw new Error(`label too long: ${label}`); // RFC 1035 §2.3.4
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function ipv4(s: string): Buffer {
  const parts = s.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 ${s}`);
  return Buffer.from(parts);
}

function ipv6(s: string): Buffer {
  let str = s;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(str);
  if (v4) {
    // ::ffff:1.2.3.4 → the dotted quad becomes the last two 16-bit words
    const b = ipv4(v4[1]!);
    str = `${str.slice(0, v4.index)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = str.split('::');
  if (halves.length > 2) throw new Error(`bad IPv6 ${s}`);
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const words = halves.length === 2 ? [...head, ...new Array<string>(8 - head.length - rest.length).fill('0'), ...rest] : head;
  const nums = words.map((w) => (/^[0-9a-f]{1,4}$/i.test(w) ? parseInt(w, 16) : NaN));
  if (nums.length !== 8 || nums.some((w) => Number.isNaN(w))) throw new Error(`bad IPv6 ${s}`);
  const b = Buffer.alloc(16);
  nums.forEach((w, i) => b.writeUInt16BE(w, i * 2));
  return b;
}

function txtStrings(v: RecordValue): Buffer {
  const chunks: Buffer[] = [];
  if (Array.isArray(v)) {
    for (const s of v) chunks.push(Buffer.from(s, 'utf8'));
  } else {
    const b = Buffer.from(v as string, 'utf8');
    if (b.length === 0) chunks.push(b);
    for (let i = 0; i < b.length; i += 255) chunks.push(b.subarray(i, i + 255)); // RFC 1035 §3.3.14
  }
  const out: Buffer[] = [];
  for (const c of chunks) {
    if (c.length > 255) throw new Error('TXT character-string over 255 bytes');
    out.push(Buffer.from([c.length]), c);
  }
  return Buffer.concat(out);
}

function rdata(type: RecordType, v: RecordValue): Buffer {
  switch (type) {
    case 'A':
      return ipv4(v as string);
    case 'AAAA':
      return ipv6(v as string);
    case 'CNAME':
    case 'PTR':
    case 'NS':
      return encodeName(v as string);
    case 'MX': {
      const mx = typeof v === 'string' ? parseMx(v) : (v as MxValue);
      return Buffer.concat([u16(mx.priority), encodeName(mx.exchange)]);
    }
    case 'SRV': {
      const s = typeof v === 'string' ? parseSrv(v) : (v as SrvValue);
      return Buffer.concat([u16(s.priority), u16(s.weight), u16(s.port), encodeName(s.name)]);
    }
    case 'TXT':
      return txtStrings(v);
    case 'SOA': {
      const s = v as SoaValue;
      return Buffer.concat([encodeName(s.nsname), encodeName(s.hostmaster), u32(s.serial), u32(s.refresh), u32(s.retry), u32(s.expire), u32(s.minttl)]);
    }
  }
}

function parseMx(s: string): MxValue {
  const [p, ex] = s.trim().split(/\s+/);
  return { priority: Number(p), exchange: ex ?? '' };
}
function parseSrv(s: string): SrvValue {
  const [p, w, port, name] = s.trim().split(/\s+/);
  return { priority: Number(p), weight: Number(w), port: Number(port), name: name ?? '' };
}

/** A synthetic SOA for negative answers: owner is the last two labels of the name. */
function soaFor(name: string): Rr {
  const apex = name.split('.').slice(-2).join('.') || '.';
  return {
    name: apex,
    type: 'SOA',
    value: { nsname: `ns.${apex}`, hostmaster: `hostmaster.${apex}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minttl: TTL },
  };
}

function encodeRr(rr: Rr): Buffer {
  const data = rdata(rr.type, rr.value);
  return Buffer.concat([encodeName(rr.name), u16(TYPE_CODES[rr.type]), u16(1), u32(TTL), u16(data.length), data]);
}

function encodeResponse(h: QueryHeader, q: ParsedQuery | undefined, rcode: number, answers: Rr[], authority: Rr[]): Buffer {
  // RFC 1035 §4.1.1: QR=1, opcode echoed, AA=1, RD echoed, RA=1.
  const flags = 0x8000 | ((h.opcode & 0xf) << 11) | 0x0400 | (h.rd ? 0x0100 : 0) | 0x0080 | (rcode & 0xf);
  const header = Buffer.concat([u16(h.id), u16(flags), u16(q ? 1 : 0), u16(answers.length), u16(authority.length), u16(0)]);
  const question = q ? Buffer.concat([encodeName(q.name), u16(q.type), u16(q.qclass)]) : Buffer.alloc(0);
  return Buffer.concat([header, question, ...answers.map(encodeRr), ...authority.map(encodeRr)]);
}

/** Header + question only, with TC set (RFC 1035 §4.1.1), so the client retries over TCP. */
function truncated(res: Buffer): Buffer {
  const { end } = readName(res, 12);
  const out = Buffer.from(res.subarray(0, end + 4));
  out.writeUInt16BE(out.readUInt16BE(2) | 0x0200, 2);
  out.writeUInt16BE(0, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(0, 10);
  return out;
}
