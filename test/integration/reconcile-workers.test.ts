import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionIdForRoom } from '../../src/migration/session-id.ts';
import { BIN, runCli } from '../support/cli.ts';
import { createMigrationDatabase, seedDeterministicRooms, targetSnapshot } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

const ROOMS = 600;
const POLL_MS = 20;
// Sessions the test keeps waiting on a lock, above the workers' --max-lock-waiters: they pause.
const LOCK_WAITERS = 3;
const PRESSURE_LOCK = 515151;
// Several CLI processes on a shared 2-core machine: generous, never an assertion on speed.
const WORKERS_TIMEOUT_MS = 180_000;

let reportRoot: string;

interface WorkerResult {
  code: number | null;
  summary: Record<string, any>;
  lines: Record<string, any>[];
}

function startReconcile(env: Db, args: string[]): Promise<WorkerResult> {
  const reportDir = join(reportRoot, crypto.randomUUID());
  const child = spawn(process.execPath, [BIN, 'reconcile', '--json', '--report-dir', reportDir, ...args], {
    env: { ...process.env, DATABASE_URL: env.db.url },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => {
      void readFile(join(reportDir, 'rooms.jsonl'), 'utf8')
        .catch(() => '')
        .then((text) => {
          const lines = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, any>);
          resolve({ code, summary: JSON.parse(stdout) as Record<string, any>, lines });
        }, reject);
    }),
  );
}

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
}

/**
 * Database pressure the test controls: sessions waiting on a lock it holds. Workers started with a
 * lower --max-lock-waiters pause before their first batch, so both have joined the run before either
 * takes a batch.
 */
async function holdPressure(env: Db): Promise<{ release: () => Promise<void> }> {
  const holder = new pg.Client({ connectionString: env.db.url });
  holder.on('error', () => {});
  await holder.connect();
  await holder.query(`select pg_advisory_lock($1)`, [PRESSURE_LOCK]);
  const waiters = await Promise.all(
    Array.from({ length: LOCK_WAITERS }, async () => {
      const client = new pg.Client({ connectionString: env.db.url });
      client.on('error', () => {});
      await client.connect();
      return { client, waiting: client.query(`select pg_advisory_lock($1)`, [PRESSURE_LOCK]) };
    }),
  );
  return {
    release: async () => {
      await holder.end();
      // The lock passes from waiter to waiter in no set order: each lets go as soon as it has it.
      await Promise.all(waiters.map(async (waiter) => {
        await waiter.waiting;
        await waiter.client.end();
      }));
    },
  };
}

/**
 * Two `reconcile --shared` processes, both started (holding their leases) before either takes a batch:
 * with the same flags they join one run. `secondExtra`: other flags for the second one.
 */
async function twoSharedWorkers(env: Db, extra: string[] = [], secondExtra = extra): Promise<WorkerResult[]> {
  const pressure = await holdPressure(env);
  const args = ['--shared', '--batch-size', '5', '--concurrency', '1', '--max-lock-waiters', String(LOCK_WAITERS - 1)];
  const workers = [startReconcile(env, [...args, ...extra]), startReconcile(env, [...args, ...secondExtra])];
  await until(async () => {
    const { rows } = await env.pool
      .query<{ n: number }>(`select count(*)::int as n from recoup_migrate.leases where command = 'reconcile' and expires_at > now()`)
      .catch(() => ({ rows: [{ n: 0 }] }));
    return rows[0]!.n === 2;
  });
  await pressure.release();
  return Promise.all(workers);
}

async function stateRows(env: Db): Promise<number[]> {
  const { rows } = await env.pool.query<{ counts: number[] }>(
    `select array[(select count(*) from recoup_migrate.runs), (select count(*) from recoup_migrate.batches),
                  (select count(*) from recoup_migrate.leases)]::int[] as counts`,
  );
  return rows[0]!.counts;
}

beforeAll(async () => {
  reportRoot = await mkdtemp(join(tmpdir(), 'reconcile-workers-'));
});
afterAll(async () => rm(reportRoot, { recursive: true, force: true }));

const totalsOf = (summary: Record<string, any>) => ({ rooms: summary.rooms, messages: summary.messages, reasons: summary.reasons });

describe('reconcile --shared', () => {
  let env: Db;
  let plain: WorkerResult;
  beforeAll(async () => {
    env = await createMigrationDatabase();
    await seedDeterministicRooms(env.pool, ROOMS, 1);
    await env.pool.query(`update rooms set account_id = null where id = md5('room7')::uuid`); // an expected skip
    expect((await runCli(['backfill', '--json'], { databaseUrl: env.db.url })).code).toBe(0);
  });
  afterAll(async () => env.close());

  it('without the flag, writes nothing to the state schema: no run, no batch, no lease', async () => {
    const before = await stateRows(env);
    const snapshot = await targetSnapshot(env.pool);
    plain = await startReconcile(env, ['--batch-size', '50']);
    expect(plain.code).toBe(0);
    expect(plain.summary.rooms).toMatchObject({ total: ROOMS, clean: ROOMS - 1, skipped: 1, drift: 0 });
    expect(await stateRows(env)).toEqual(before);
    expect(await targetSnapshot(env.pool)).toEqual(snapshot);
  });

  it('pauses while sessions wait on locks (stopped here by --time-budget), and not at all with --no-throttle', { timeout: WORKERS_TIMEOUT_MS }, async () => {
    const pressure = await holdPressure(env);
    try {
      const limit = ['--batch-size', '50', '--max-lock-waiters', String(LOCK_WAITERS - 1)];
      const paused = await startReconcile(env, [...limit, '--time-budget', '2s']);
      expect(paused.code).toBe(0);
      expect(paused.summary).toMatchObject({ complete: false, stoppedBy: 'time_budget' });
      expect(paused.lines).toEqual([]);
      const unthrottled = await startReconcile(env, [...limit, '--no-throttle']);
      expect(unthrottled.code).toBe(0);
      expect(unthrottled.summary).toMatchObject({ complete: true });
      expect(unthrottled.summary.rooms.total).toBe(ROOMS);
    } finally {
      await pressure.release();
    }
  });

  it('two processes join one run and split the rooms: the run totals equal one plain reconcile', { timeout: WORKERS_TIMEOUT_MS }, async () => {
    const snapshot = await targetSnapshot(env.pool);
    const workers = await twoSharedWorkers(env);
    expect(new Set(workers.map((w) => w.summary.runId)).size).toBe(1);
    expect(workers.some((w) => w.summary.joinedRun === true)).toBe(true);
    for (const worker of workers) {
      expect(worker.code).toBe(0);
      expect(worker.summary).toMatchObject({ complete: true, exitCode: 0, shared: true });
      expect(totalsOf(worker.summary.runTotals)).toEqual(totalsOf(plain.summary));
    }
    // Each worker reports the rooms of its own batches: together, every room exactly once.
    const walked = workers.flatMap((w) => w.lines.map((l) => l.roomId as string)).sort();
    expect(walked).toEqual(plain.lines.map((l) => l.roomId as string).sort());
    const { rows: batches } = await env.pool.query<{ status: string; claimed_by: string }>(
      `select status, claimed_by from recoup_migrate.batches where run_id = $1`,
      [workers[0]!.summary.runId],
    );
    expect(new Set(batches.map((b) => b.status))).toEqual(new Set(['done']));
    expect(new Set(batches.map((b) => b.claimed_by)).size).toBe(2);
    const { rows: runs } = await env.pool.query(`select command, status from recoup_migrate.runs where run_id = $1`, [workers[0]!.summary.runId]);
    expect(runs[0]).toEqual({ command: 'reconcile', status: 'completed' });
    // The target is only read.
    expect(await targetSnapshot(env.pool)).toEqual(snapshot);
    const status = await runCli(['status', '--json'], { databaseUrl: env.db.url });
    expect(status.json!.runs[0]).toMatchObject({ command: 'reconcile', status: 'completed', unit: 'rooms', done: ROOMS, total: ROOMS });
  });

  it('a drifted room makes both workers exit 1, whichever one walked it; with a baseline that lists it, both pass', { timeout: WORKERS_TIMEOUT_MS }, async () => {
    const victim = await env.pool.query<{ id: string }>(`delete from chat_messages where chat_id = md5('room321')::uuid::text returning id`);
    expect(victim.rows).toHaveLength(1);
    const reference = await startReconcile(env, ['--batch-size', '50']);
    expect(reference.code).toBe(1);
    const workers = await twoSharedWorkers(env);
    for (const worker of workers) {
      expect(worker.code).toBe(1);
      expect(worker.summary.runTotals).toMatchObject({ driftItems: 1, rooms: { drift: 1 } });
      expect(totalsOf(worker.summary.runTotals)).toEqual(totalsOf(reference.summary));
      expect(worker.summary.problems).toEqual([expect.stringContaining('1 drift item(s) in 1 room(s)')]);
    }
    const drifted = workers.flatMap((w) => w.lines.filter((l) => l.status === 'drift'));
    expect(drifted.map((l) => [l.roomId, l.drift.map((d: { code: string; id: string }) => `${d.code}:${d.id}`)])).toEqual([
      [roomIdOf('room321'), [`message_missing:${victim.rows[0]!.id}`]],
    ]);

    // With the plain run's rooms.jsonl as the baseline, the drift is known: both pass, on the run's totals.
    const baselined = await twoSharedWorkers(env, ['--baseline', join(reference.summary.reportDir as string, 'rooms.jsonl')]);
    for (const worker of baselined) {
      expect(worker.code).toBe(0);
      expect(worker.summary.runTotals).toMatchObject({ driftItems: 1, baseline: { known: 1, new: 0, fixed: 0 } });
    }

    // A worker with the baseline and one without, started together, never share a run: the one without
    // still fails on the drift, never passes on the other's baseline.
    const [withoutBaseline, withBaseline] = await twoSharedWorkers(env, [], ['--baseline', join(reference.summary.reportDir as string, 'rooms.jsonl')]);
    expect(withoutBaseline!.code).toBe(1);
    expect(withoutBaseline!.summary.runTotals).toMatchObject({ driftItems: 1 });
    expect(withBaseline!.code).toBe(0);
    expect(withBaseline!.summary.runId).not.toBe(withoutBaseline!.summary.runId);
  });
});

describe('reconcile without --shared on a database the tool never wrote to', () => {
  it('creates no state schema and changes nothing', async () => {
    const env = await createMigrationDatabase();
    try {
      await seedDeterministicRooms(env.pool, 20, 2);
      // The target as the original script would have written it, without the tool's state.
      const { rows: rooms } = await env.pool.query<{ id: string }>(`select id::text from rooms`);
      await env.pool.query(
        `insert into sessions (id, account_id, title, created_at, updated_at)
         select x.session_id, r.account_id, r.topic, r.updated_at, r.updated_at
           from unnest($1::uuid[], $2::text[]) as x(room_id, session_id) join rooms r on r.id = x.room_id`,
        [rooms.map((r) => r.id), rooms.map((r) => sessionIdForRoom(r.id))],
      );
      const snapshot = await targetSnapshot(env.pool);
      const result = await runCli(['reconcile', '--json', '--report-dir', join(reportRoot, crypto.randomUUID())], { databaseUrl: env.db.url });
      // Sessions without their chats: migrated before, chats deleted in the app since (info, not drift).
      expect(result.code).toBe(0);
      expect(result.json).toMatchObject({ ledger: false, complete: true, rooms: { total: 20, info: 20 } });
      expect((await env.pool.query(`select to_regnamespace('recoup_migrate') as ns`)).rows[0].ns).toBeNull();
      expect(await targetSnapshot(env.pool)).toEqual(snapshot);
    } finally {
      await env.close();
    }
  });
});

/** seedDeterministicRooms' room ids: md5 of 'room<n>' as a uuid. */
function roomIdOf(seed: string): string {
  const hex = createHash('md5').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
