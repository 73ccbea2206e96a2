import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { backfillRange } from '../../src/commands/backfill/batch.ts';
import type { BeforeCommit } from '../../src/engine/batch-runner.ts';
import { roomKeyset } from '../../src/engine/keysets.ts';
import { inspectDatabase } from '../../src/engine/preflight.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { recordRunEnd, recordRunStart } from '../../src/engine/runs.ts';
import { ensureStateSchema } from '../../src/engine/state-schema.ts';
import { claimBatch, completeBatch, lockClaimedBatch, reassertBatchLease, renewBatchLeases, splitBatch, type ClaimedBatch } from '../../src/engine/work-queue.ts';
import { createMigrationDatabase, seedDeterministicRooms } from '../support/legacy-data.ts';

const STATE = 'recoup_migrate';

// One database for the file: ten rooms and the state schema; each test makes runs of its own.
let pool: pg.Pool;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ pool, close } = await createMigrationDatabase());
  await seedDeterministicRooms(pool, 10, 1);
  await ensureStateSchema(pool, STATE);
});
afterAll(async () => close());

describe('work queue: a lease renewal during a REPEATABLE READ batch', () => {

  async function claim(): Promise<ClaimedBatch> {
    const runId = randomUUID();
    await recordRunStart(pool, STATE, { runId, command: 'backfill', scope: {}, options: {}, converterVersion: 1 });
    const claimed = await claimBatch(pool, STATE, runId, roomKeyset({}), 5);
    if (!('batch' in claimed)) throw new Error('expected a batch');
    return claimed.batch;
  }

  async function leaseOf(batch: ClaimedBatch): Promise<string> {
    const { rows } = await pool.query<{ expires: string }>(
      `select lease_expires_at::text as expires from ${STATE}.batches where run_id = $1 and batch_no = $2`,
      [batch.runId, batch.batchNo],
    );
    return rows[0]!.expires;
  }

  async function completeAfterRenewal(batch: ClaimedBatch, lockFirst: boolean): Promise<unknown> {
    const client = await pool.connect();
    try {
      await client.query('begin isolation level repeatable read');
      await client.query('select 1'); // the snapshot is taken here, before any lock: what the batch's own reads would do without it
      if (lockFirst) await lockClaimedBatch(client, STATE, batch);
      const before = await leaseOf(batch);
      await renewBatchLeases(pool, STATE, batch.runId); // the heartbeat, on another connection
      const renewed = (await leaseOf(batch)) !== before;
      try {
        await completeBatch(client, STATE, batch, { keys: 5, durationMs: 1, stats: {} });
        await client.query('commit');
        return { renewed, completed: true };
      } catch (error) {
        await client.query('rollback');
        return { renewed, completed: false, code: (error as { code?: string }).code };
      }
    } finally {
      client.release();
    }
  }

  it('without the batch lock, the renewal makes completing the batch a serialization failure (the failure the lock prevents)', async () => {
    const batch = await claim();
    await new Promise((resolve) => setTimeout(resolve, 20)); // now() moves, so the renewal changes the row
    expect(await completeAfterRenewal(batch, false)).toEqual({ renewed: true, completed: false, code: '40001' });
  });

  it('with the batch locked first, the renewal skips the row without waiting and the batch completes', async () => {
    const batch = await claim();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await completeAfterRenewal(batch, true)).toEqual({ renewed: false, completed: true });
  });

  it('after a failed batch: its lease is renewed only while it is still ours, and a split of a batch taken over is refused', async () => {
    const mine = await claim();
    await pool.query(`update ${STATE}.batches set lease_expires_at = now() - interval '1 second' where run_id = $1 and batch_no = $2`, [mine.runId, mine.batchNo]);
    await reassertBatchLease(pool, STATE, mine);
    const { rows } = await pool.query<{ live: boolean }>(`select lease_expires_at > now() as live from ${STATE}.batches where run_id = $1 and batch_no = $2`, [mine.runId, mine.batchNo]);
    expect(rows[0]!.live).toBe(true);

    const taken = await claim();
    await pool.query(`update ${STATE}.batches set claimed_by = 'elsewhere:1' where run_id = $1 and batch_no = $2`, [taken.runId, taken.batchNo]);
    await expect(reassertBatchLease(pool, STATE, taken)).rejects.toThrow(/Lost the lease on batch/);
    await expect(splitBatch(pool, STATE, taken, roomKeyset({}))).rejects.toThrow(/Lost the lease on batch/);
    const { rows: batches } = await pool.query<{ n: number }>(`select count(*)::int as n from ${STATE}.batches where run_id = $1`, [taken.runId]);
    expect(batches[0]!.n).toBe(1); // no halves were added for a batch that is not ours
  });

  it('a failing worker does not fail a run that another live worker still holds; its own lease does not count', async () => {
    const runId = randomUUID();
    await recordRunStart(pool, STATE, { runId, command: 'backfill', scope: {}, options: {}, converterVersion: 1 });
    // The failing worker still holds its own lease when it records the end: that one must not keep the run alive.
    await pool.query(
      `insert into ${STATE}.leases (name, run_id, command, holder, expires_at)
       values ('this-worker', $1, 'backfill', $2, now() + interval '30 seconds'),
              ('other-worker', $1, 'backfill', 'elsewhere:1', now() + interval '30 seconds')`,
      [runId, `${hostname()}:${process.pid}`],
    );
    const statusOf = async () => (await pool.query<{ status: string }>(`select status from ${STATE}.runs where run_id = $1`, [runId])).rows[0]!.status;
    await recordRunEnd(pool, STATE, runId, 'failed', { failed: true });
    expect(await statusOf()).toBe('running');
    await pool.query(`delete from ${STATE}.leases where name = 'other-worker'`);
    await recordRunEnd(pool, STATE, runId, 'failed', { failed: true });
    expect(await statusOf()).toBe('failed');
  });

  it('a backfill batch takes its row lock before anything else, and marks itself done last, in one transaction', async () => {
    const calls: string[] = [];
    let lockedBy: number | null = null;
    const mark: BeforeCommit<unknown> = Object.assign(
      async (client: pg.ClientBase) => {
        calls.push('done');
        expect((await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid).toBe(lockedBy);
      },
      {
        lock: async (client: pg.ClientBase) => {
          calls.push('lock');
          // Called before the batch's work: none of its sessions is written yet in this transaction.
          expect((await client.query<{ n: number }>(`select count(*)::int as n from public.sessions`)).rows[0]!.n).toBe(0);
          lockedBy = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
        },
      },
    );
    const results = await backfillRange(
      {
        pool, stateSchema: STATE, runId: randomUUID(), dryRun: true,
        shape: await inspectDatabase(pool, { target: true }), scope: {}, statementTimeoutMs: 30_000, lockTimeoutMs: 10_000,
        logger: createLogger('silent'),
      },
      { after: null, last: 'ffffffff-ffff-ffff-ffff-ffffffffffff' },
      undefined,
      mark,
    );
    expect(results.length).toBe(10);
    expect(calls).toEqual(['lock', 'done']);
  });

  it('refuses to lock a batch another worker took over', async () => {
    const batch = await claim();
    await pool.query(`update ${STATE}.batches set claimed_by = 'elsewhere:1' where run_id = $1 and batch_no = $2`, [batch.runId, batch.batchNo]);
    const client = await pool.connect();
    try {
      await client.query('begin');
      await expect(lockClaimedBatch(client, STATE, batch)).rejects.toThrow(/Lost the lease on batch/);
      await client.query('rollback');
    } finally {
      client.release();
    }
  });
});

describe('work queue: --limit when two workers claim at the same moment', () => {

  it('a worker that waited for the run row counts the batch the worker before it just took', async () => {
    const runId = randomUUID();
    const keys = roomKeyset({ limit: 6 });
    await recordRunStart(pool, STATE, { runId, command: 'backfill', scope: { limit: 6 }, options: {}, converterVersion: 1 });
    // Worker A takes the first 6 rooms (all the limit allows) as claimBatch does, and has not committed yet.
    const a = await pool.connect();
    try {
      await a.query('begin');
      await a.query(`select 1 from ${STATE}.runs where run_id = $1 for update`, [runId]);
      const page = await keys.page(a, null, 6);
      await a.query(
        `insert into ${STATE}.batches (run_id, batch_no, after_id, last_id, status, claimed_by, lease_expires_at, attempts, rooms)
         values ($1, 1, null, $2, 'running', 'elsewhere:1', now() + interval '30 seconds', 1, $3)`,
        [runId, page!.last, page!.count],
      );
      await a.query(`update ${STATE}.runs set cursor_after = $2 where run_id = $1`, [runId, page!.last]);
      // Worker B asks for a batch meanwhile, and waits for the run row.
      const b = claimBatch(pool, STATE, runId, keys, 5);
      for (;;) {
        const { rows } = await pool.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`);
        if (rows[0].n > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await a.query('commit');
      // The limit is taken: B waits for A's batch instead of taking rooms 7 to 10.
      expect(await b).toEqual({ wait: true });
      const { rows } = await pool.query(`select count(*)::int as n, sum(rooms)::int as keys from ${STATE}.batches where run_id = $1`, [runId]);
      expect(rows[0]).toEqual({ n: 1, keys: 6 });
    } finally {
      a.release();
    }
  });
});
