#!/usr/bin/env node
// Runs the bundle that `npm ci` builds (scripts/build.mjs) when it is up to date with src/, else the
// TypeScript sources through tsx's loader. Either way there is no build step to remember.
import { readdirSync, statSync } from 'node:fs';

const bundle = new URL('../dist/cli.mjs', import.meta.url);

function newestSourceMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const url = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir);
    newest = Math.max(newest, entry.isDirectory() ? newestSourceMtime(url) : statSync(url).mtimeMs);
  }
  return newest;
}

function bundleIsFresh() {
  try {
    return statSync(bundle).mtimeMs >= newestSourceMtime(new URL('../src/', import.meta.url));
  } catch {
    return false;
  }
}

// `recoup-migrate … | head`: a reader that goes away is not an error. stdout only carries help and the
// final summary, so exit quietly; a closed stderr only loses log lines, so keep working.
process.stdout.on('error', (error) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});
process.stderr.on('error', (error) => {
  if (error.code !== 'EPIPE') throw error;
});

let main;
if (bundleIsFresh()) {
  ({ main } = await import(bundle.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/main.ts'));
}
process.exitCode = await main(process.argv);
