import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));

/**
 * Resolves every workspace package to its TypeScript source, so tests run against the code
 * as it is, without a build. (Published packages resolve to dist/ through `exports`.)
 */
export function workspaceAliases(): Array<{ find: RegExp; replacement: string }> {
  const aliases: Array<{ find: RegExp; replacement: string }> = [];
  for (const dir of readdirSync(packagesDir)) {
    let manifest: { name: string; exports?: Record<string, unknown> };
    try {
      manifest = JSON.parse(readFileSync(`${packagesDir}${dir}/package.json`, 'utf8'));
    } catch {
      continue;
    }
    for (const subpath of Object.keys(manifest.exports ?? { '.': {} })) {
      if (subpath === './package.json') continue;
      const name = subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`;
      const file = subpath === '.' ? 'index.ts' : `${subpath.slice(2)}/index.ts`;
      aliases.push({
        find: new RegExp(`^${name.replace('/', '\\/')}$`),
        replacement: `${packagesDir}${dir}/src/${file}`,
      });
    }
  }
  // Longest names first so `@impact-in/host/postgres` wins over `@impact-in/host`.
  return aliases.sort((a, b) => b.find.source.length - a.find.source.length);
}
