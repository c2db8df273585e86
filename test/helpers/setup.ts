// Runs before every test file: counts unhandled rejections so a test run that leaves
// one behind fails instead of passing quietly (mox TestMain's panic counter).
import { afterAll, afterEach } from 'vitest';
import { ImapTestClient } from './imap-client.js';

const unhandled: unknown[] = [];
process.on('unhandledRejection', (err) => {
  unhandled.push(err);
});

afterAll(() => {
  if (unhandled.length > 0) {
    throw new Error(`unhandled rejections during this file: ${unhandled.map((e) => String((e as Error)?.stack ?? e)).join('\n---\n')}`);
  }
});

// Every strict IMAP test client (imap-client.ts) is checked after the test that
// connected it: a test does not pass with untagged responses it did not expect.
afterEach(() => {
  ImapTestClient.checkAll();
});
