// Bundles the CLI into dist/cli.mjs on `npm ci` / `npm install` (the "prepare" script), so the binary
// starts without a TypeScript loader: faster, and ~40 MB less memory. Dependencies stay external.
// bin/recoup-migrate.js uses the bundle only while it is newer than every file in src/; otherwise it
// runs the sources through tsx, so an edited checkout never runs stale code.
import { fileURLToPath } from 'node:url';

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.warn('recoup-migrate: esbuild is not installed; the CLI will run its TypeScript through tsx.');
  process.exit(0);
}

try {
  await esbuild.build({
    entryPoints: [fileURLToPath(new URL('../src/main.ts', import.meta.url))],
    outfile: fileURLToPath(new URL('../dist/cli.mjs', import.meta.url)),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    logLevel: 'silent',
  });
} catch (error) {
  // Not fatal for `npm ci`: the binary then runs the sources through tsx, where the same error shows.
  console.warn(`recoup-migrate: could not bundle the CLI (${error.message.split('\n')[0]}); it will run through tsx.`);
}
