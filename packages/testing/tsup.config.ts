import { existsSync, readdirSync } from 'node:fs';
import { defineConfig } from 'tsup';

// One entry per provider simulator folder: `@impact-in/testing/providers/<name>`.
const providers = readdirSync('src/providers', { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(`src/providers/${entry.name}/index.ts`))
  .map((entry) => entry.name);

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'server/index': 'src/server/index.ts',
    ...Object.fromEntries(
      providers.map((name) => [`providers/${name}/index`, `src/providers/${name}/index.ts`]),
    ),
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
});
