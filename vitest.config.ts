import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Each test file's own working directory and TMPDIR, removed after it unless a test failed.
    setupFiles: ['test/support/scratch.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests each get their own database; two cores, so keep the fan-out modest.
    maxWorkers: 2,
  },
});
