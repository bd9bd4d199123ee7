import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Tests run the TypeScript sources: workspace packages resolve to src/ under this export condition
// (their default is the build in dist/). Vitest also hands the conditions to its test processes as
// --conditions flags. 'module' is left out as Vitest's own default does (it breaks the AWS SDK).
const conditions = ['@musicflow/source', ...defaultServerConditions.filter((c) => c !== 'module')];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['test/**/*.test.ts'],
    // Compiles the workspaces (tests that start the CLI as a process run the build), then finds
    // (or installs) the Chromium the Bull Board browser test drives.
    globalSetup: ['test/setup/build.ts', 'test/setup/chromium.ts'],
    // Integration tests talk to real Redis, PostgreSQL and an S3 server; each file isolates itself
    // with its own queue prefix, database and folders, so files may run in parallel.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', LOG_LEVEL: 'warn' },
  },
});
