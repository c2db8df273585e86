// The store's analysis of a message file (envelope and structure cached in its row):
// a file that is gone before it is read (expunged by another session, renamed by a flag
// change) is an ordinary race, not a warning; a real failure still warns.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeMessage } from '../../src/imap/mime/analyze.js';
import { analyze, type StoreCtx } from '../../src/store/maildir/context.js';
import { captureLog } from '../helpers/log-capture.js';

const dir = mkdtempSync(path.join(tmpdir(), 'analyze-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ctxWith(analyzer: StoreCtx['analyzer']) {
  const { log, lines } = captureLog('debug');
  return { ctx: { analyzer, log } as unknown as StoreCtx, lines };
}

describe('analysis of a message file', () => {
  it('caches envelope and structure of a file that is there', async () => {
    const file = path.join(dir, 'present');
    writeFileSync(file, 'Subject: here\r\n\r\nbody\r\n');
    const { ctx, lines } = ctxWith(analyzeMessage);
    const r = await analyze(ctx, { path: file } as never);
    expect(r.envelope).toContain('here');
    expect(lines.filter((l) => (l.level as number) >= 40)).toEqual([]);
  });

  it('a file gone before it is read: debug, not warn, and no cached structure', async () => {
    const { ctx, lines } = ctxWith(analyzeMessage);
    const r = await analyze(ctx, { path: path.join(dir, 'expunged-meanwhile') } as never);
    expect(r).toEqual({});
    expect(lines.filter((l) => (l.level as number) >= 40)).toEqual([]);
    expect(lines.some((l) => l.msg === 'message file gone before its analysis')).toBe(true);
  });

  it('an analyzer that fails still warns', async () => {
    const file = path.join(dir, 'odd');
    writeFileSync(file, 'x');
    const { ctx, lines } = ctxWith(async (src) => {
      if (!Buffer.isBuffer(src)) for await (const _chunk of src) void _chunk; // reads the file, then fails
      throw new Error('analyzer broke');
    });
    expect(await analyze(ctx, { path: file } as never)).toEqual({});
    expect(lines.some((l) => l.level === 40 && l.msg === 'message analysis failed; stored without cached structure')).toBe(true);
  });
});
