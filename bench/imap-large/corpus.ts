/**
 * The benchmark's mailbox: N small messages written once into a cache directory (kept
 * between runs) and hard-linked into each server's INBOX `cur/`, as another delivery
 * tool or a migration would leave them. Names follow the Maildir convention with
 * `,S=<size>` and flags after `:2,`; three in four are \Seen. The file times are the
 * messages' dates. Message N-7 has "needleword" in its body, message N-13 "quasar" in
 * its subject: the search figures look for one message among N.
 */
import { chownSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf'];
const T0 = 1_700_000_000;

export function corpusDir(n: number): string {
  return process.env.BENCH_LARGE_CORPUS ?? path.join(tmpdir(), `mailserver-bench-large-${n}`);
}

export function messageText(i: number, n: number): string {
  const date = new Date((T0 + i * 60) * 1000).toUTCString().replace('GMT', '+0000');
  const subject = `bench ${i}${i === n - 13 ? ' quasar' : ''}`;
  const body = `Hello ${WORDS[i % WORDS.length]} ${i}.\r\n` + 'lorem ipsum dolor sit amet '.repeat(8) + (i === n - 7 ? ' needleword' : '') + '\r\n';
  return `From: Sender ${i % 97} <sender${i % 97}@example.org>\r\nTo: big@bench.test\r\nSubject: ${subject}\r\nDate: ${date}\r\nMessage-ID: <${i}@bench.example>\r\n\r\n${body}`;
}

/** Writes the corpus unless a complete one is there already; returns the file names in order. */
export function buildCorpus(n: number): { dir: string; names: string[]; built: boolean } {
  const dir = corpusDir(n);
  const done = path.join(dir, '.complete');
  if (existsSync(done) && Number(readFileSync(done, 'utf8')) === n) {
    const names = readdirSync(dir).filter((x) => !x.startsWith('.'));
    names.sort((a, b) => Number(a.split('.')[0]) - Number(b.split('.')[0]));
    return { dir, names, built: false };
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const data = Buffer.from(messageText(i, n));
    const name = `${T0 + i * 60}.M${i}P1.bench,S=${data.length}:2,${i % 4 === 0 ? '' : 'S'}`;
    const file = path.join(dir, name);
    writeFileSync(file, data);
    utimesSync(file, T0 + i * 60, T0 + i * 60);
    names.push(name);
  }
  writeFileSync(done, String(n));
  return { dir, names, built: true };
}

/** A Maildir with the first `count` corpus messages hard-linked into cur/ (owned by `owner` when given). */
export function linkInto(corpus: { dir: string; names: string[] }, maildir: string, count: number, owner?: { uid: number; gid: number }): void {
  for (const d of ['', 'cur', 'new', 'tmp']) {
    mkdirSync(path.join(maildir, d), { recursive: true });
    if (owner) chownSync(path.join(maildir, d), owner.uid, owner.gid);
  }
  const cur = path.join(maildir, 'cur');
  for (let i = 0; i < Math.min(count, corpus.names.length); i++) linkSync(path.join(corpus.dir, corpus.names[i]!), path.join(cur, corpus.names[i]!));
}
