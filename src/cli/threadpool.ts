/**
 * Imported first by the executable: libuv runs every fsync on its thread pool (4 threads
 * by default), so 4 concurrent deliveries would wait for each other's disk flushes. The
 * pool size is read once, at its first use; this module runs before any other code does
 * file I/O. An operator's own UV_THREADPOOL_SIZE wins.
 */
process.env.UV_THREADPOOL_SIZE ??= '64';
