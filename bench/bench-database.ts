/**
 * Where the benchmark runs: a fresh database `recoup_bench_<random>` on the server of BENCH_DATABASE_URL
 * or TEST_DATABASE_URL (dropped at the end), else an embedded Postgres. Not run by the tests' suite
 * except through the tiny smoke run.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface BenchServer {
  /** A URL on which databases may be created (the server's admin database). */
  readonly serverUrl: string;
  createDatabase(): Promise<{ url: string; drop: () => Promise<void> }>;
  stop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function openBenchServer(): Promise<BenchServer> {
  const fromEnv = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL;
  let serverUrl: string;
  let stop = async () => {};
  if (fromEnv) {
    serverUrl = fromEnv;
  } else {
    const { startEmbeddedPostgres } = await import('../src/engine/embedded.ts');
    const embedded = await startEmbeddedPostgres();
    serverUrl = embedded.url;
    stop = () => embedded.stop();
  }
  return {
    serverUrl,
    async createDatabase() {
      // Generated here from hex digits only, so it is safe to splice into CREATE/DROP DATABASE.
      const name = `recoup_bench_${randomBytes(6).toString('hex')}`;
      await adminQuery(serverUrl, `create database ${name}`);
      return {
        url: withDatabase(serverUrl, name),
        drop: () => adminQuery(serverUrl, `drop database if exists ${name} with (force)`),
      };
    },
    stop,
  };
}

/** Empties the target and the tool's state, so the next run starts from the seeded source only. */
export async function resetTarget(pool: pg.Pool): Promise<void> {
  await pool.query('truncate public.sessions, public.chats, public.chat_messages, public.chat_reads, public.workflow_runs cascade');
  await pool.query('drop schema if exists recoup_migrate cascade');
}

export async function serverVersion(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ version: string }>("select current_setting('server_version') as version");
  return rows[0]?.version ?? 'unknown';
}
