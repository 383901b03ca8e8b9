import { defineProject } from 'vitest/config';
import { workspaceAliases } from '../../vitest.shared.js';

export default defineProject({
  resolve: { alias: workspaceAliases() },
  test: {
    name: 'host',
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    // Embedded PGlite takes seconds to boot, more on a loaded 2-core machine.
    hookTimeout: 60_000,
  },
});
