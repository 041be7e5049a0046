import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The package's own name (`import ... from 'ctrlora-ts'`, as the docs write it) resolves
  // through package.json's exports to the TypeScript sources, not to a build in dist/.
  ssr: { resolve: { conditions: ['ctrlora-source', ...defaultServerConditions] } },
  test: {
    include: ['tests/**/*.test.ts'],
    // No test may depend on wall-clock time: work is bounded by steps and cases, never by a
    // clock. The timeout only catches a hang, so it is far above any test's run time on a
    // loaded 2-core machine (the slowest take about a minute there).
    testTimeout: 30 * 60_000,
    hookTimeout: 30 * 60_000,
    pool: 'forks',
    // mode-summary: one closing line naming the gpu.js modes skipped here, and why.
    reporters: ['default', './tests/gpu/mode-summary.ts'],
  },
});
