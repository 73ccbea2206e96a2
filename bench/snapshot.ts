/**
 * drop-legacy's snapshot + verify against `pg_dump -Fc` of the same tables. Not part of the tests.
 *
 * `benchSnapshot(url, dir?)`: when the database at `url` has public.rooms, it is measured as it is (read
 * only: the snapshot and its verification change nothing); otherwise a scratch database is created on
 * that server, seeded like the one `npm run bench` measures this on (seedLikeTheBench), measured and
 * dropped.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { seedDatabase } from '../src/commands/seed/database.ts';
import { scanDependents } from '../src/commands/drop-legacy/dependents.ts';
import { TOOL_VERSION } from '../src/engine/runs.ts';
import { verifySnapshot } from '../src/commands/drop-legacy/snapshot/verify.ts';
import { writeSnapshot } from '../src/commands/drop-legacy/snapshot/write.ts';
import { createLogger } from '../src/engine/logger.ts';
import { createProgress } from '../src/engine/progress.ts';
import { inDatabaseBaseline } from './baselines.ts';

const run = promisify(execFile);
const TABLES = ['rooms', 'memories', 'memory_emails', 'segment_rooms'];
// What `npm run bench` measures the snapshot on (bench/run.ts: its small database, seed 42).
const BENCH_ROOMS = 2_000;
const BENCH_MESSAGES_PER_ROOM = 10;
const BENCH_SEED = 42;
const TIMEOUTS = { statementTimeoutMs: 600_000, lockTimeoutMs: 10_000 };

export interface SnapshotBench {
  toolMs: number;
  /** null when no pg_dump of at least the server's major version is on PATH (it would refuse). */
  pgDumpMs: number | null;
  rows: number;
  rowsPerSecond: number;
}

export async function benchSnapshot(url: string, dir: string = mkdtempSync(join(tmpdir(), 'bench-snapshot-'))): Promise<SnapshotBench> {
  const probe = new pg.Pool({ connectionString: url, max: 1 });
  const hasRooms = (await probe.query<{ ok: boolean }>(`select to_regclass('public.rooms') is not null as ok`)).rows[0]?.ok === true;
  await probe.end();
  if (hasRooms) return measure(url, dir);
  const name = `recoup_bench_snapshot_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const scratch = new URL(url);
  scratch.pathname = `/${name}`;
  try {
    await seedLikeTheBench(scratch.toString());
    return await measure(scratch.toString(), dir);
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

/**
 * Seeds an empty database as `npm run bench` seeds the one it measures this on (seed 42, 2,000 rooms ×
 * ~10 memories), and migrates it (there by a backfill run; here by the same mapping as one INSERT …
 * SELECT): drop-legacy only gets to its snapshot on a migrated database, whose unmigrated.jsonl is short.
 */
export async function seedLikeTheBench(url: string, rooms: number = BENCH_ROOMS): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  try {
    await seedDatabase(
      pool,
      { rooms, seed: BENCH_SEED, messagesPerRoom: BENCH_MESSAGES_PER_ROOM, dropArtistFk: false, concurrency: 2 },
      { logger: createLogger('warn'), progress: createProgress('seed', false, 'rooms') },
    );
    await inDatabaseBaseline(pool);
    await pool.query('vacuum analyze');
  } finally {
    await pool.end();
  }
}

async function measure(url: string, dir: string): Promise<SnapshotBench> {
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  try {
    const scan = await scanDependents(pool, TABLES.map((name) => ({ schema: 'public', name })));
    const started = performance.now();
    const snapshotDir = join(dir, 'tool');
    const manifest = await writeSnapshot(pool, snapshotDir, { ...TIMEOUTS, tables: scan.tables, keptForeignKeys: scan.keptForeignKeys, dropOrder: scan.dropOrder, toolVersion: TOOL_VERSION });
    const checks = await verifySnapshot(pool, snapshotDir, manifest, { live: true, ...TIMEOUTS });
    const toolMs = performance.now() - started;
    if (checks.some((c) => !c.ok)) throw new Error(`bench snapshot did not verify: ${JSON.stringify(checks.filter((c) => !c.ok))}`);
    const rows = manifest.tables.reduce((sum, t) => sum + t.data.rows, 0);
    const serverMajor = Number((await pool.query<{ v: string }>(`select current_setting('server_version_num') as v`)).rows[0]?.v) / 10_000;
    const pgDumpMs = await timePgDump(url, join(dir, 'pg_dump.dump'), scan.tables.map((t) => t.printed), Math.floor(serverMajor));
    return { toolMs, pgDumpMs, rows, rowsPerSecond: rows / (toolMs / 1000) };
  } finally {
    await pool.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function timePgDump(url: string, file: string, tables: string[], serverMajor: number): Promise<number | null> {
  try {
    const { stdout } = await run('pg_dump', ['--version']);
    const major = Number(/(\d+)(?:\.\d+)?/.exec(stdout)?.[1]);
    if (!(major >= serverMajor)) return null;
  } catch {
    return null;
  }
  const started = performance.now();
  await run('pg_dump', ['-Fc', ...tables.flatMap((t) => ['-t', t]), '-f', file, url]);
  return performance.now() - started;
}
