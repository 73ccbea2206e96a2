import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeEach, expect } from 'vitest';

/**
 * Every test file works in a scratch folder of its own: the working directory (so the default report
 * folders of the tool land there, not in the checkout) and TMPDIR (so every temporary folder the tests,
 * the tool and embedded Postgres make lands there). It is removed when the file's tests pass, and kept,
 * with a line saying where, when one failed.
 */
const checkout = process.cwd();
const scratch = mkdtempSync(join(tmpdir(), 'recoup-migrate-test-'));
// Embedded Postgres runs as another user when the tests run as root: it must be able to enter the folder.
chmodSync(scratch, 0o755);
process.env.TMPDIR = scratch;
process.chdir(scratch);

let failed = false;
beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    failed = true;
  });
});

afterAll(() => {
  process.chdir(checkout);
  const file = basename(expect.getState().testPath ?? 'this file');
  if (failed) {
    process.stderr.write(`\n${file}: a test failed; its files are kept in ${scratch}\n`);
  } else {
    rmSync(scratch, { recursive: true, force: true });
  }
});
