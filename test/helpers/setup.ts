// Runs before every test file: counts unhandled rejections so a test run that leaves
// one behind fails instead of passing quietly (mox TestMain's panic counter).
import { afterAll } from 'vitest';

const unhandled: unknown[] = [];
process.on('unhandledRejection', (err) => {
  unhandled.push(err);
});

afterAll(() => {
  if (unhandled.length > 0) {
    throw new Error(`unhandled rejections during this file: ${unhandled.map((e) => String((e as Error)?.stack ?? e)).join('\n---\n')}`);
  }
});
