/**
 * What every protocol listener does the same way: bind (a bind error rejects, so the
 * start fails with EADDRINUSE or EACCES and the port in the message), and close
 * gracefully (stop accepting, shut each connection down, wait for them up to the grace,
 * destroy the rest).
 */
import type net from 'node:net';
import type { Logger } from '../log.js';

/** Binds `server` and resolves with its port; later errors are logged as `what listener error`. */
export async function listen(server: net.Server, port: number, host: string, log: Logger, what: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, `${what} listener error`));
  const bound = (server.address() as net.AddressInfo).port;
  log.info({ port: bound }, `${what} listening`);
  return bound;
}

export interface ClosableConnection {
  /** Ends the connection at once when idle between commands, else after the running one. */
  shutdown(): void;
  whenClosed(): Promise<void>;
  destroy(): void;
}

/** Stops accepting, shuts `conns` down, waits up to `graceMs` for them to close, then destroys what is left. */
export async function closeGracefully(server: net.Server, conns: ReadonlySet<ClosableConnection>, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const all = [...conns];
  for (const c of all) c.shutdown();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(all.map((c) => c.whenClosed())), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
  for (const c of conns) c.destroy();
  await closed;
}
