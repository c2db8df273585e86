/**
 * Reads the answers recorded from Dovecot by scripts/record-dovecot-mime.py:
 * records of `<item> <length>\n<value bytes>\n`; and a seeded generator for tests that
 * draw random cases.
 */
import { createReadStream, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { RangeReader } from '../../src/imap/mime/index.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/mime/', import.meta.url));

export interface Recorded {
  name: string;
  eml: Buffer;
  items: Map<string, Buffer>;
}

export const RANDOM_FIXTURES = join(FIXTURES, 'random');

export function fixtureNames(dir = FIXTURES): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => f.slice(0, -4))
    .sort();
}

export function loadRecorded(name: string, dir = FIXTURES): Recorded {
  const eml = readFileSync(join(dir, name + '.eml'));
  const data = readFileSync(join(dir, name + '.dovecot.txt'));
  const items = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    const nl = data.indexOf(10, pos);
    const head = data.subarray(pos, nl).toString('latin1');
    const sp = head.lastIndexOf(' ');
    const item = head.slice(0, sp);
    const len = Number(head.slice(sp + 1));
    items.set(item, data.subarray(nl + 1, nl + 1 + len));
    pos = nl + 1 + len + 1;
  }
  return { name, eml, items };
}

/** xorshift32: a seeded generator, so that failures reproduce. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

/** A RangeReader over a file (positioned reads), as the store's readMessageRange reads a message file. */
export function fileRangeReader(path: string): RangeReader {
  return (start, end) => (end > start ? createReadStream(path, { start, end: end - 1 }) : Readable.from([]));
}
