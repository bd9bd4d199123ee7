import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Finds (or installs) the Chromium the Bull Board browser test drives.
    globalSetup: ['test/setup/chromium.ts'],
    // Integration tests talk to real Redis, PostgreSQL and an S3 server; each file isolates itself
    // with its own queue prefix, database and folders, so files may run in parallel.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', LOG_LEVEL: 'warn' },
  },
});
