import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stateSchemaDdl } from '../../src/engine/state-schema.ts';
import { BIN, runCli } from '../support/cli.ts';
import { createMigrationDatabase, seedDeterministicRooms, targetDigest } from '../support/legacy-data.ts';
import { startProxy } from '../support/tcp-proxy.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

const ROOMS = 300;
const MEMORIES_PER_ROOM = 3;
const POLL_MS = 10;

/** Makes every chat_messages insert take `ms`, so runs last long enough to interrupt. */
async function slowDownMessageInserts(env: Db, ms: number): Promise<void> {
  await env.pool.query(`create or replace function test_slow_insert() returns trigger language plpgsql as $$
    begin perform pg_sleep(${ms / 1000}); return new; end $$`);
  await env.pool.query(`create trigger test_slow_insert before insert on chat_messages for each row execute function test_slow_insert()`);
}

async function dropSlowDown(env: Db): Promise<void> {
  await env.pool.query(`drop trigger if exists test_slow_insert on chat_messages`);
}

function startBackfill(env: Db, args: string[], url = env.db.url): { child: ChildProcess; result: Promise<{ code: number | null; signal: string | null; stdout: string }> } {
  const child = spawn(process.execPath, [BIN, 'backfill', '--json', ...args], {
    env: { ...process.env, DATABASE_URL: url },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const result = new Promise<{ code: number | null; signal: string | null; stdout: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout })),
  );
  return { child, result };
}

async function waitForLedgeredRooms(env: Db, rooms: number): Promise<void> {
  for (;;) {
    const { rows } = await env.pool
      .query(`select count(*)::int as n from recoup_migrate.room_ledger`)
      .catch(() => ({ rows: [{ n: 0 }] }));
    if (rows[0].n >= rooms) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

let reference: Awaited<ReturnType<typeof targetDigest>>;
beforeAll(async () => {
  const env = await createMigrationDatabase();
  try {
    await seedDeterministicRooms(env.pool, ROOMS, MEMORIES_PER_ROOM);
    expect((await runCli(['backfill', '--json'], { databaseUrl: env.db.url })).code).toBe(0);
    reference = await targetDigest(env.pool);
  } finally {
    await env.close();
  }
});

describe('several workers on one run', () => {
  let env: Db;
  beforeAll(async () => {
    env = await createMigrationDatabase();
    await seedDeterministicRooms(env.pool, ROOMS, MEMORIES_PER_ROOM);
    await slowDownMessageInserts(env, 2);
  });
  afterAll(async () => env.close());

  it('three processes share the batches; one killed with -9 mid-batch; the target equals a single-worker run', async () => {
    const workers = [0, 1, 2].map(() => startBackfill(env, ['--batch-size', '10', '--concurrency', '1']));
    await waitForLedgeredRooms(env, 40);
    workers[1]!.child.kill('SIGKILL');
    const results = await Promise.all(workers.map((w) => w.result));
    expect(results[1]!.signal).toBe('SIGKILL');
    const survivors = [results[0]!, results[2]!].map((r) => JSON.parse(r.stdout));
    for (const summary of survivors) expect(summary.exitCode).toBe(0);
    // They joined one run, and each did part of it.
    expect(new Set(survivors.map((s) => s.runId)).size).toBe(1);
    expect(survivors.some((s) => s.joinedRun === true)).toBe(true);
    const { rows: batches } = await env.pool.query(
      `select status, count(*)::int as n, max(attempts) as max_attempts, count(distinct claimed_by)::int as workers
         from recoup_migrate.batches where run_id = $1 group by status`,
      [survivors[0].runId],
    );
    expect(batches.map((b) => b.status)).toEqual(['done']);
    expect(batches[0].workers).toBeGreaterThanOrEqual(2);
    await dropSlowDown(env);
    expect(await targetDigest(env.pool)).toEqual(reference);
  });

  it('records the scope with its room list as a set, so workers naming the rooms in another order join one run', async () => {
    const { rows } = await env.pool.query<{ id: string }>(`select id::text from rooms order by id desc limit 3`);
    const [c, b, a] = rows.map((r) => r.id) as [string, string, string];
    const run = await runCli(['backfill', '--json', '--room', c, '--room', a, '--room', b, '--room', a], { databaseUrl: env.db.url });
    expect(run.code, run.stderr).toBe(0);
    const { rows: runs } = await env.pool.query<{ scope: { rooms: string[] } }>(`select scope from recoup_migrate.runs where run_id = $1`, [run.json?.runId]);
    expect(runs[0]?.scope.rooms).toEqual([a, b, c]);
  });
});

describe('faults', () => {
  it('a connection cut mid-batch ends in a consistent target, and a re-run completes it', async () => {
    const env = await createMigrationDatabase();
    const target = new URL(env.db.url);
    const proxy = await startProxy(target.hostname, Number(target.port || 5432));
    try {
      await seedDeterministicRooms(env.pool, ROOMS, MEMORIES_PER_ROOM);
      await slowDownMessageInserts(env, 2);
      const viaProxy = new URL(env.db.url);
      viaProxy.port = String(proxy.port);
      const run = startBackfill(env, ['--batch-size', '10'], viaProxy.toString());
      await waitForLedgeredRooms(env, 20);
      proxy.cutAll();
      const cut = await run.result;
      // It either recovers through retries on new connections (0) or stops resumable (3); never a crash.
      const summary = JSON.parse(cut.stdout);
      expect([0, 3]).toContain(cut.code);
      expect(summary.exitCode).toBe(cut.code);
      if (cut.code === 3) expect(summary.complete).toBe(false);
      const partial = await targetDigest(env.pool);
      expect(partial.counts[2]).toBe(partial.counts[1]! * MEMORIES_PER_ROOM);
      await dropSlowDown(env);
      expect((await runCli(['backfill', '--json'], { databaseUrl: env.db.url })).code).toBe(0);
      expect(await targetDigest(env.pool)).toEqual(reference);
    } finally {
      await proxy.close();
      await env.close();
    }
  });

  it('a table lock held by another session: the run waits, retries, and ends consistent', async () => {
    const env = await createMigrationDatabase();
    try {
      await seedDeterministicRooms(env.pool, 40, MEMORIES_PER_ROOM);
      const locker = await env.pool.connect();
      await locker.query('begin');
      await locker.query('lock table chat_messages in access exclusive mode');
      const run = startBackfill(env, ['--batch-size', '10', '--lock-timeout', '200']);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await locker.query('rollback');
      locker.release();
      const result = await run.result;
      const summary = JSON.parse(result.stdout);
      // Either the retries outlasted the lock, or the rooms that kept timing out are reported failed.
      expect([0, 1]).toContain(summary.exitCode);
      expect(summary.rooms.migrated + summary.rooms.failed).toBe(40);
      const rerun = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
      expect(rerun.code).toBe(0);
      expect((await targetDigest(env.pool)).counts).toEqual([40, 40, 40 * MEMORIES_PER_ROOM]);
    } finally {
      await env.close();
    }
  });

  it('a batch that hits statement_timeout is split and retried until it fits', async () => {
    const env = await createMigrationDatabase();
    try {
      await seedDeterministicRooms(env.pool, 60, 1);
      await slowDownMessageInserts(env, 30); // 60 rooms × 30 ms ≈ 1.8 s > the 1 s statement timeout
      const result = await runCli(['backfill', '--json', '--batch-size', '60', '--statement-timeout', '1000'], { databaseUrl: env.db.url });
      expect(result.code).toBe(0);
      expect(result.json!.rooms.migrated).toBe(60);
      const { rows } = await env.pool.query(`select count(*)::int as n from recoup_migrate.batches where status = 'split'`);
      expect(rows[0].n).toBeGreaterThan(0);
    } finally {
      await env.close();
    }
  });
});

describe('stopping cleanly', () => {
  it('stops at --time-budget with exit 0 and complete: false; the next run finishes', async () => {
    const env = await createMigrationDatabase();
    try {
      await seedDeterministicRooms(env.pool, ROOMS, MEMORIES_PER_ROOM);
      await slowDownMessageInserts(env, 3);
      const stopped = await runCli(['backfill', '--json', '--batch-size', '10', '--time-budget', '2s'], { databaseUrl: env.db.url });
      expect(stopped.code).toBe(0);
      expect(stopped.json).toMatchObject({ complete: false, stoppedBy: 'time_budget' });
      expect(stopped.json!.rooms.total).toBeLessThan(ROOMS);
      await dropSlowDown(env);
      const rest = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
      expect(rest.json).toMatchObject({ exitCode: 0, complete: true });
      expect(await targetDigest(env.pool)).toEqual(reference);
    } finally {
      await env.close();
    }
  });

  it('SIGTERM finishes the batches in flight, writes the report, exits 3, and leaves a consistent state', async () => {
    const env = await createMigrationDatabase();
    try {
      await seedDeterministicRooms(env.pool, ROOMS, MEMORIES_PER_ROOM);
      await slowDownMessageInserts(env, 3);
      const run = startBackfill(env, ['--batch-size', '10']);
      await waitForLedgeredRooms(env, 20);
      run.child.kill('SIGTERM');
      const result = await run.result;
      expect(result.code).toBe(3);
      const summary = JSON.parse(result.stdout);
      expect(summary).toMatchObject({ exitCode: 3, complete: false, stoppedBy: 'signal' });
      const digest = await targetDigest(env.pool);
      expect(digest.counts[1]).toBe(summary.rooms.migrated + 0);
      const { rows } = await env.pool.query(`select status from recoup_migrate.runs where run_id = $1`, [summary.runId]);
      expect(rows[0].status).toBe('incomplete');
      await dropSlowDown(env);
      expect((await runCli(['backfill', '--json'], { databaseUrl: env.db.url })).code).toBe(0);
      expect(await targetDigest(env.pool)).toEqual(reference);
    } finally {
      await env.close();
    }
  });
});

describe('a state schema from an earlier version', () => {
  it('is upgraded in place (uuid batch keys become text) by re-runnable DDL, and its runs keep working', async () => {
    const env = await createMigrationDatabase();
    try {
      await seedDeterministicRooms(env.pool, 30, 1);
      expect((await runCli(['backfill', '--json', '--batch-size', '10'], { databaseUrl: env.db.url })).code).toBe(0);
      // Put the schema back as the previous version created it.
      await env.pool.query(`alter table recoup_migrate.runs drop column keys_total, alter column cursor_after type uuid using cursor_after::uuid`);
      await env.pool.query(`alter table recoup_migrate.batches alter column after_id type uuid using after_id::uuid, alter column last_id type uuid using last_id::uuid`);
      await env.pool.query(`insert into rooms (id, account_id, topic) values (md5('late room')::uuid, 'aaaaaaaa-0000-4000-8000-000000000001', 'late')`);
      const rerun = await runCli(['backfill', '--json', '--batch-size', '10'], { databaseUrl: env.db.url });
      expect(rerun.json).toMatchObject({ exitCode: 0, complete: true, rooms: { total: 31, migrated: 1, unchanged: 30 } });
      const { rows } = await env.pool.query<{ table_name: string; column_name: string; data_type: string }>(
        `select table_name, column_name, data_type from information_schema.columns
          where table_schema = 'recoup_migrate' and column_name in ('after_id', 'last_id', 'cursor_after', 'keys_total')
          order by table_name, column_name`,
      );
      expect(rows.map((r) => `${r.table_name}.${r.column_name}:${r.data_type}`)).toEqual([
        'batches.after_id:text', 'batches.last_id:text', 'runs.cursor_after:text', 'runs.keys_total:integer',
      ]);
      // The DDL is idempotent: running it again on the upgraded schema changes nothing and fails nothing.
      await env.pool.query(await stateSchemaDdl(env.pool, 'recoup_migrate'));
      const { rows: keys } = await env.pool.query(`select keys_total from recoup_migrate.runs where run_id = $1`, [rerun.json!.runId]);
      expect(keys[0].keys_total).toBe(31);
    } finally {
      await env.close();
    }
  });
});
