// LIST pattern matching (RFC 9051 §6.3.9): the linear glob walk agrees with a plain
// regular expression on every small case, and stays linear on the patterns that froze
// the server when they were turned into backtracking regular expressions.
import { describe, expect, it } from 'vitest';
import { compilePattern, ListBudget, matchPattern } from '../../src/imap/commands/list-match.js';

function reference(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.*+?^${}()|[\]\\%]/g, (c) => (c === '*' ? '.*' : c === '%' ? '[^/]*' : '\\' + c));
  return new RegExp(`^${re}$`, 's').test(name);
}

const m = (pattern: string, name: string): boolean => matchPattern(compilePattern(pattern), name, new ListBudget(1e9));

describe('LIST pattern matching', () => {
  it.each([
    ['*', 'a/b/c', true],
    ['%', 'a/b', false],
    ['%', 'abc', true],
    ['a/%', 'a/b', true],
    ['a/%', 'a/b/c', false],
    ['a/*', 'a/b/c', true],
    ['*/%', 'a/b/c', true],
    ['%/%', 'a/b/c', false],
    ['*b*', 'abc', true],
    ['%c', 'ab/c', false],
    ['a%%%c', 'abbbc', true],
    ['', '', true],
    ['inbox', 'INBOX', true],
    ['InBoX/%', 'INBOX/sub', true],
    ['in%', 'INBOX', true],
    ['inboxes', 'INBOX', false],
  ])('%s ~ %s → %s', (p, n, want) => {
    expect(m(p, n)).toBe(want);
  });

  it('agrees with a regular expression on 20 000 random small cases', () => {
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const pick = (alphabet: string, len: number): string => Array.from({ length: rnd(len + 1) }, () => alphabet[rnd(alphabet.length)]).join('');
    for (let i = 0; i < 20_000; i++) {
      const pattern = pick('ab/*%', 7);
      const name = pick('ab/', 8);
      // (reference is case-sensitive; the names here never start with "inbox")
      expect(m(pattern, name), `${pattern} ~ ${name}`).toBe(reference(pattern, name));
    }
  });

  it('is linear on the patterns that froze the regex version', () => {
    const name = Array.from({ length: 200 }, () => 'a').join('/'); // 200 levels
    const budget = new ListBudget(1e9);
    for (const p of ['*'.repeat(70) + 'Z', '%'.repeat(500), '%/'.repeat(200) + 'Z', '*a'.repeat(100) + 'Z']) {
      const before = budget.used;
      expect(matchPattern(compilePattern(p), name, budget)).toBe(false);
      // (name length + 1) × (collapsed pattern length + 1) at most
      expect(budget.used - before).toBeLessThanOrEqual((name.length + 1) * (compilePattern(p).text.length + 1));
    }
  });

  it('stops when the budget of the command is spent', () => {
    const budget = new ListBudget(10_000);
    const name = 'a'.repeat(400);
    const p = compilePattern('*' + 'a'.repeat(150) + 'Z'); // ~400 × 150 steps
    expect(matchPattern(p, name, budget)).toBe(false);
    expect(budget.exhausted).toBe(true);
  });
});
