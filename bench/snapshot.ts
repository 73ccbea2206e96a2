/**
 * drop-legacy's snapshot + verify against `pg_dump -Fc` of the same tables. Not part of the tests.
 *
 * `benchSnapshot(url, dir?)`: when the database at `url` has public.rooms, it is measured as it is (read
 * only: the snapshot and its verification change nothing); otherwise a scratch database is created on
 * that server, seeded, measured and dropped.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { applySchema } from '../src/commands/schema.ts';
import { scanDependents } from '../src/db/dependents.ts';
import { TOOL_VERSION } from '../src/db/runs.ts';
import { verifySnapshot } from '../src/db/snapshot-verify.ts';
import { writeSnapshot } from '../src/db/snapshot-write.ts';

const run = promisify(execFile);
const TABLES = ['rooms', 'memories', 'memory_emails', 'segment_rooms'];
// Scratch data when the server has none: enough rows for the COPY rate to dominate fixed costs.
const SCRATCH_ROOMS = 20_000;
const MEMORIES_PER_ROOM = 10;
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
    await seed(scratch.toString());
    return await measure(scratch.toString(), dir);
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

async function seed(url: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    await applySchema(pool, { legacy: true, target: true, withoutArtistId: false });
    await pool.query(`insert into rooms (id, account_id, topic) select gen_random_uuid(), gen_random_uuid(), 'room ' || i from generate_series(1, $1) i`, [SCRATCH_ROOMS]);
    await pool.query(
      `insert into memories (room_id, content, updated_at)
       select r.id, jsonb_build_object('role', case when i % 2 = 0 then 'user' else 'assistant' end, 'content', repeat('words ', 40)), now() - make_interval(secs => i)
         from rooms r cross join generate_series(1, $1) i`,
      [MEMORIES_PER_ROOM],
    );
    await pool.query('analyze');
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
