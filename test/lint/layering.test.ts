// The layering rule of eslint.config.js (issue 15 item 8) refuses what it should and
// lets the store and accounts interfaces through: linted as if the code were in src/.
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: path.join(import.meta.dirname, '../..') });

async function restricted(file: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: file });
  return r!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message.split(' ')[0]!);
}

describe('layering', () => {
  it('protocol engines may not import the Maildir implementation, the database or better-sqlite3', { timeout: 30_000 }, async () => {
    for (const dir of ['imap', 'imap/commands', 'pop3', 'smtp', 'managesieve']) {
      const up = '../'.repeat(dir.split('/').length);
      const code = [
        `import Database from 'better-sqlite3';`,
        `import { MaildirStore } from '${up}store/maildir/store.js';`,
        `export * from '${up}store/maildir/index.js';`,
        `import { openDb } from '${up}db/index.js';`,
        `import type { Store } from '${up}store/types.js';`,
        `import { createStore } from '${up}store/index.js';`,
        `import { authenticate } from '${up}accounts/login.js';`,
        `export const x = [Database, MaildirStore, openDb, createStore, authenticate] as unknown as Store;`,
      ].join('\n');
      expect(await restricted(`src/${dir}/probe.ts`, code)).toEqual(["'better-sqlite3'", `'${up}store/maildir/store.js'`, `'${up}store/maildir/index.js'`, `'${up}db/index.js'`]);
    }
  });

  it('quota may not import SMTP; SMTP may import quota', { timeout: 30_000 }, async () => {
    expect(await restricted('src/quota/probe.ts', `import { Reply } from '../smtp/reply.js';\nexport const r = Reply;`)).toEqual(["'../smtp/reply.js'"]);
    expect(await restricted('src/smtp/quota.ts', `import { quotaFor } from '../quota/index.js';\nexport const q = quotaFor;`)).toEqual([]);
  });
});
