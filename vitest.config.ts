import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Most tests wait on sockets, child processes and fsync, not the CPU: on a 2-core
    // machine the default (cores - 1 = one worker) leaves it idle most of the time.
    maxWorkers: 3,
    setupFiles: ['test/helpers/setup.ts'],
    // peer-reporter: after the summary, the tests skipped for a missing Debian peer and why.
    reporters: ['default', 'json', './test/helpers/peer-reporter.ts'],
    outputFile: { json: 'test-results.json' },
  },
});
