import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 600_000, // the first end-to-end run builds the Asterisk root
    // End-to-end files share one Asterisk and one SIP port: run files one at a time there,
    // which also keeps a 2-core machine from timing out SIP transactions.
    fileParallelism: false,
    // Stops the local Asterisk after the run if the run started it.
    globalSetup: ['./test/support/global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
