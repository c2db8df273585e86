import { it, expect } from 'vitest';
import { LineEndNormalizer, normalizeLineEnds } from '../../src/smtp/line-ends.js';
const cases: Array<[string, string, boolean]> = [
  ['A: b\r\n\r\nbody\r\n', 'A: b\r\n\r\nbody\r\n', false],
  ['A: b\n\nbody\n', 'A: b\r\n\r\nbody\r\n', false],
  ['A: b\r\r\n\r\nbody\r\r\n', 'A: b\r\n\r\nbody\r\n', false],
  ['A: b\rFrom: x\r\n\r\nbody\r\n', 'A: b\r\nFrom: x\r\n\r\nbody\r\n', true],
  ['A: b\r\n\r\nbo\rdy\r\n', 'A: b\r\n\r\nbo\r\ndy\r\n', false],
  ['A: b\r\n\r\nbody\r', 'A: b\r\n\r\nbody\r\n', false],
  ['A: b\r\n\n\r\nbody', 'A: b\r\n\r\n\r\nbody', false],
];
it.each(cases)('%j', (input, want, bare) => {
  for (let split = 0; split <= input.length; split++) for (let split2 = split; split2 <= input.length; split2++) {
    const n = new LineEndNormalizer();
    const b = Buffer.from(input, 'latin1');
    const out = Buffer.concat([n.push(b.subarray(0, split)), n.push(b.subarray(split, split2)), n.push(b.subarray(split2)), n.end()]).toString('latin1');
    expect([out, n.bareCrInHeader, split, split2]).toEqual([want, bare, split, split2]);
  }
  expect(normalizeLineEnds(Buffer.from(input)).data.toString()).toBe(want);
});
