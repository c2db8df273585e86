/**
 * How to start a worker thread whose module lies beside the caller's: dist/'s `.js`, or
 * under tsx or vitest the `.ts`, started through tsx's loader (registered in the worker
 * first: Node 20 applies no `--import` given in a worker's execArgv to its entry module).
 *
 *   new Worker(entry.code, { eval: entry.eval, … }) with entry = workerEntry(import.meta.url, 'fts-worker')
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

export function workerEntry(callerUrl: string, name: string): { code: string | URL; eval: boolean } {
  if (!callerUrl.endsWith('.ts')) return { code: new URL(`./${name}.js`, callerUrl), eval: false };
  const tsx = pathToFileURL(createRequire(callerUrl).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const entry = new URL(`./${name}.ts`, callerUrl).href;
  return { code: `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`, eval: true };
}
