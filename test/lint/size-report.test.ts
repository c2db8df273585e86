// scripts/size-report.ts measures what the house rule says: files over 600 lines,
// functions over 80, a parser's constant table not counted, nested functions on their own.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { measure } from '../../scripts/size-report.js';

const lines = (n: number, s: string) => Array.from({ length: n }, (_, i) => s.replaceAll('$i', String(i))).join('\n');

describe('size report', () => {
  it('flags a function over 80 lines and a file over 600, by name and line', () => {
    const src = `export function long(): number {\n  let x = 0;\n${lines(80, '  x += $i;')}\n  return x;\n}\n${lines(600, '// filler')}\n`;
    expect(measure('a.ts', src)).toEqual([
      { file: 'a.ts', line: 1, lines: 684 },
      { file: 'a.ts', name: 'long', line: 1, lines: 84 },
    ]);
  });
  it('does not count a constant table, but counts an object of code', () => {
    const table = `export function parse(s: string): number {\n  const T = {\n${lines(40, '    k$i: $i,')}\n  };\n${lines(50, '  s = s.trim();')}\n  return (T as Record<string, number>)[s] ?? 0;\n}\n`;
    expect(measure('t.ts', table)).toEqual([]);
    const code = table.replace(/k(\d+): \1,/g, 'k$1: s.length,');
    expect(measure('t.ts', code)).toEqual([{ file: 't.ts', name: 'parse', line: 1, lines: 95 }]);
  });
  it('measures a nested function on its own', () => {
    const src = `const outer = () => {\n  function inner() {\n${lines(85, '    void 0;')}\n  }\n  return inner;\n};\n`;
    expect(measure('n.ts', src).map((o) => [o.name, o.lines])).toEqual([['outer', 90], ['inner', 87]]);
  });

  it('holds in the whole of src (issue 15)', { timeout: 30_000 }, () => {
    const files = (readdirSync('src', { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).map((f) => path.join('src', f));
    expect(files.length).toBeGreaterThan(250);
    expect(files.flatMap((f) => measure(f))).toEqual([]);
  });
});
