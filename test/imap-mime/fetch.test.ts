/**
 * FETCH of a section reads only that section's bytes from the stored message, at the
 * part offsets cached at delivery (the store's positioned range reads), and answers
 * exactly what reading the message from byte 0 answers (the path of a store without
 * range reads): over the Dovecot corpus, the generated messages and random partials.
 * Bytes are counted where the store hands them to FETCH.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline, Transform, type Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { supportsRangeRead, type MailStore } from '../../src/store/types.js';
import { RawImap } from '../helpers/raw-imap.js';
import { PASS, startImapFixture, USER, type ImapFixture } from '../imap/fixture.js';
import { FIXTURES, fixtureNames, loadRecorded, RANDOM_FIXTURES, rng } from './recorded.js';

interface Meter {
  /** Bytes the store's streams gave out. */
  bytes: number;
  rangeReads: number;
  wholeReads: number;
}

/** The store, counting the bytes it reads; without readMessageRange when `ranges` is false (read from byte 0). */
function metered(store: MailStore, ranges: boolean): { store: MailStore; meter: Meter } {
  const meter: Meter = { bytes: 0, rangeReads: 0, wholeReads: 0 };
  const count = (s: Readable): Readable => {
    const t = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        meter.bytes += chunk.length;
        cb(null, chunk);
      },
    });
    pipeline(s, t, () => undefined); // destroying t (a section cut short) closes the file
    return t;
  };
  const wrapped = new Proxy(store, {
    get(target, prop) {
      if (prop === 'readMessage') {
        return async (...a: Parameters<MailStore['readMessage']>) => {
          meter.wholeReads++;
          const r = await target.readMessage(...a);
          return { ...r, stream: count(r.stream) };
        };
      }
      if (prop === 'readMessageRange') {
        if (!ranges || !supportsRangeRead(target)) return undefined;
        return async (...a: Parameters<typeof target.readMessageRange>) => {
          meter.rangeReads++;
          return count(await target.readMessageRange(...a));
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { store: wrapped, meter };
}

let f: ImapFixture;
let raw: RawImap;
let real: MailStore;

/** Runs `fn` with the server's store swapped for a metered one; returns what was read. */
async function reading<T>(ranges: boolean, fn: () => Promise<T>): Promise<{ value: T; meter: Meter }> {
  const { store, meter } = metered(real, ranges);
  f.ctx.store = store;
  try {
    return { value: await fn(), meter };
  } finally {
    f.ctx.store = real;
  }
}

beforeAll(async () => {
  f = await startImapFixture();
  real = f.ctx.store;
  raw = await RawImap.connect(f.port);
  await raw.cmd(`LOGIN ${USER} ${PASS}`);
});
afterAll(async () => {
  raw.close();
  await f.close();
});

describe('a small last part of a 25 MB message', () => {
  const MB25 = 25 * 1024 * 1024;
  const line = 'x'.repeat(998) + '\r\n';
  const head = 'From: big@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n';
  const part1 = '--B\r\nContent-Type: text/plain\r\n\r\n' + line.repeat(Math.ceil(MB25 / line.length)) + '\r\n';
  const part2 = '--B\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n' + Buffer.from('the end\r\n').toString('base64') + '\r\n--B--\r\n';
  const eml = Buffer.from(head + part1 + part2);

  beforeAll(async () => {
    await f.ctx.store.createMailbox(USER, 'big');
    await f.ctx.store.append(USER, 'big', { data: eml });
    await raw.cmd('EXAMINE big');
  }, 120_000);

  // Bound: the section itself plus one read buffer (64 KiB) of the file; the whole
  // message is 25 MB.
  const BOUND = 64 * 1024;
  it.each([
    ['BODY.PEEK[2]', 'BODY[2] {12}\r\ndGhlIGVuZA0K'],
    ['BINARY.PEEK[2]', 'BINARY[2] ~{9}\r\nthe end\r\n'],
    ['BODY.PEEK[2.MIME]', 'BODY[2.MIME] {63}\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n'],
    ['BODY.PEEK[HEADER.FIELDS (Subject)]', 'BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: big\r\n\r\n'],
    [`BODY.PEEK[]<${eml.length - 9}.100>`, `BODY[]<${eml.length - 9}> {9}\r\n\r\n--B--\r\n`],
    [`BODY.PEEK[TEXT]<${MB25}.5>`, `BODY[TEXT]<${MB25}> {5}\r\nxxxxx`],
  ])('%s reads at most 64 KiB of the file', async (item, want) => {
    const { value, meter } = await reading(true, () => raw.cmd(`FETCH 1 (${item})`));
    expect(value.toString('latin1')).toBe(`* 1 FETCH (${want})\r\n`);
    expect(meter.rangeReads).toBeGreaterThan(0);
    expect(meter.wholeReads).toBe(0);
    expect(meter.bytes).toBeLessThanOrEqual(BOUND);
  });

  it('a store without range reads gives the same bytes, reading the file up to the part', async () => {
    const seek = await reading(true, () => raw.cmd('FETCH 1 (BODY.PEEK[2] BINARY.PEEK[2])'));
    const scan = await reading(false, () => raw.cmd('FETCH 1 (BODY.PEEK[2] BINARY.PEEK[2])'));
    expect(scan.value.equals(seek.value)).toBe(true);
    expect(scan.meter.rangeReads).toBe(0);
    expect(scan.meter.bytes).toBeGreaterThan(MB25); // what the range reads save
  });
});

/** The recorded BODY[...]/BINARY[...] items of a message as one FETCH, plus random partials. */
function fetchItems(items: Iterable<string>, size: number, r: () => number): string {
  const out: string[] = [];
  for (const item of items) {
    const m = /^(BODY|BINARY)\[(.*)\](?:<(\d+)>)?$/s.exec(item);
    if (!m) continue;
    out.push(`${m[1]}.PEEK[${m[2]}]${m[3] ? `<${m[3]}.${1 + Math.floor(r() * 200)}>` : ''}`);
  }
  for (const sec of ['', 'TEXT', '1', 'HEADER']) {
    const origin = Math.floor(r() * (size + 10));
    out.push(`BODY.PEEK[${sec}]<${origin}.${1 + Math.floor(r() * (size + 10))}>`);
  }
  return out.join(' ');
}

describe('range reads answer as reading from byte 0 does', () => {
  const cases = [...fixtureNames().map((n) => [n, FIXTURES] as const), ...fixtureNames(RANDOM_FIXTURES).map((n) => [n, RANDOM_FIXTURES] as const)];

  beforeAll(async () => {
    await f.ctx.store.createMailbox(USER, 'diff');
    for (const [name, dir] of cases) await f.ctx.store.append(USER, 'diff', { data: readFileSync(join(dir, `${name}.eml`)) });
    await raw.cmd('EXAMINE diff');
  }, 120_000);

  it(`on ${cases.length} messages (corpus and generated), byte for byte`, async () => {
    const r = rng(20260715);
    let rangeReads = 0;
    for (let i = 0; i < cases.length; i++) {
      const [name, dir] = cases[i];
      const rec = loadRecorded(name, dir);
      const cmd = `FETCH ${i + 1} (${fetchItems(rec.items.keys(), rec.eml.length, r)})`;
      const seek = await reading(true, () => raw.cmd(cmd));
      const scan = await reading(false, () => raw.cmd(cmd));
      expect(seek.value.toString('latin1'), `${name}: ${cmd}`).toBe(scan.value.toString('latin1'));
      expect(scan.meter.rangeReads).toBe(0);
      rangeReads += seek.meter.rangeReads;
    }
    expect(rangeReads).toBeGreaterThan(cases.length); // the seeking path was the one compared
  }, 120_000);
});

describe('the section grammar on the wire (RFC 9051 §9, the one parser: mime/spec.ts)', () => {
  beforeAll(async () => {
    await f.ctx.store.createMailbox(USER, 'grammar');
    await f.ctx.store.append(USER, 'grammar', { data: Buffer.from('Subject: hi\r\nX Odd: 1\r\nX-Two: 2\r\n\r\nbody\r\n') });
    await raw.cmd('SELECT grammar');
  });

  it('takes field names as atoms, quoted strings and literals, and echoes them as Dovecot does', async () => {
    const got = await raw.cmd('FETCH 1 (BODY.PEEK[HEADER.FIELDS (subject "x-two" {5+}\r\nX-Two)])');
    expect(got.toString('latin1')).toBe('* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT X-TWO X-TWO)] {25}\r\nSubject: hi\r\nX-Two: 2\r\n\r\n)\r\n');
    const quoted = await raw.cmd('FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT ("a b" Subject)])');
    expect(quoted.toString('latin1')).toMatch(/^\* 1 FETCH \(BODY\[HEADER\.FIELDS\.NOT \("A B" SUBJECT\)\] \{\d+\}\r\n/);
  });

  it.each(['BODY[01]', 'BODY[1.0]', 'BODY[4294967296]', 'BODY[1.]', 'BODY[MIME]', 'BINARY[1.HEADER]', 'BINARY[TEXT]', 'BODY[HEADER.FIELDS ()]', 'BODY[HEADERX]'])(
    '%s is a syntax error (BAD)',
    async (item) => {
      expect((await raw.cmd(`FETCH 1 (${item})`, true)).toString()).toMatch(/^BAD /);
    },
  );
});

describe('BINARY (RFC 3516): advertised, and APPEND takes a literal8', () => {
  it('lists BINARY in CAPABILITY', async () => {
    expect((await raw.cmd('CAPABILITY')).toString()).toMatch(/^\* CAPABILITY .* BINARY[ \r]/);
  });

  it('stores a literal8 with NUL bytes as sent; BINARY[] gives them back, BODY[] shows them as 0x80', async () => {
    const msg = Buffer.from('Subject: nul\r\nContent-Transfer-Encoding: binary\r\n\r\na\0b\r\n', 'latin1');
    const append = Buffer.concat([Buffer.from(`APPEND grammar ~{${msg.length}+}\r\n`), msg]);
    await raw.cmd(append);
    await raw.cmd('NOOP');
    const bin = await raw.cmd('FETCH 2 (BINARY.PEEK[])');
    expect(bin.equals(Buffer.concat([Buffer.from(`* 2 FETCH (BINARY[] ~{${msg.length}}\r\n`), msg, Buffer.from(')\r\n')]))).toBe(true);
    const body = await raw.cmd('FETCH 2 (BODY.PEEK[TEXT])');
    expect(body.toString('latin1')).toBe('* 2 FETCH (BODY[TEXT] {5}\r\na\x80b\r\n)\r\n');
  });
});
