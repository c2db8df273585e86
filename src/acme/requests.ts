/**
 * Renewal requests from `mailserver tls renew`, which runs in another process: it writes
 * `certs/acme-renew-request` (a JSON `{id}`); the server polls for the file, removes it,
 * and hands the id to the manager, which records the outcome in `acme-state.json`
 * (`handledRequest`), where the CLI waits for it. Only the server process ever talks to
 * the CA or writes certificates, so two orders never race.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { Logger } from '../log.js';

/** Polls `file` every `pollMs`; one request is handled at a time. Returns the stop function. */
export function watchRenewRequests(file: string, pollMs: number, log: Logger, handle: (id: string) => Promise<void>): () => void {
  let stopped = false;
  let polling = false;
  const take = async (): Promise<void> => {
    if (stopped || !existsSync(file)) return;
    let id = '';
    try {
      id = (JSON.parse(readFileSync(file, 'utf8')) as { id?: string }).id ?? '';
    } catch {
      // A half-written or foreign file still counts as a request.
    }
    rmSync(file, { force: true });
    log.info({ id }, 'renewal requested by the CLI');
    await handle(id);
  };
  const timer = setInterval(() => {
    if (polling) return;
    polling = true;
    take()
      .catch((err) => log.error({ err: (err as Error).message }, 'renew request handling failed'))
      .finally(() => {
        polling = false;
      });
  }, pollMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
