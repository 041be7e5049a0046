import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The package's own name (`import ... from 'ctrlora-ts'`, as the docs write it) resolves
  // through package.json's exports to the TypeScript sources, not to a build in dist/.
  ssr: { resolve: { conditions: ['ctrlora-source', ...defaultServerConditions] } },
  test: {
    include: ['tests/**/*.test.ts'],
    // Property tests run many cases; give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
