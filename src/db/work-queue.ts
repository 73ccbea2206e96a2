import { hostname } from 'node:os';
import type pg from 'pg';
import { isDeadLocalHolder, LEASE_TTL_SECONDS } from './leases.ts';
import { scopeFilter, type RoomRange, type RoomScope } from './source-reads.ts';
import { quoteIdent } from './sql-files.ts';
import { recordRunStart } from './runs.ts';

/**
 * The batches of a shared run, coordinated through the state schema only: a run row holds a keyset
 * cursor over rooms, workers take the next range from it (or reclaim an expired one) with
 * FOR UPDATE SKIP LOCKED, and hold it with a lease they renew. No session state, no advisory locks held
 * across transactions: it works through the session pooler and across machines.
 */
export interface ClaimedBatch {
  runId: string;
  batchNo: number;
  range: RoomRange;
  attempts: number;
}

export type Claim = { batch: ClaimedBatch } | { wait: true } | { done: true };

export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

export function workerName(): string {
  return `${hostname()}:${process.pid}`;
}

export interface RunIdentity {
  command: string;
  scope: object;
  options: object;
  converterVersion: number;
}

/**
 * Joins the newest unfinished run of the same command and scope that a live worker still heartbeats,
 * or starts one. A run nobody heartbeats any more (its processes died or were stopped) is marked
 * incomplete rather than joined: its remaining ranges would miss rooms changed in its finished ones,
 * whereas a new run re-walks everything and skips unchanged rooms by their ledger fingerprints.
 */
export async function joinOrStartRun(
  client: pg.ClientBase,
  schema: string,
  proposedRunId: string,
  run: RunIdentity,
): Promise<{ runId: string; joined: boolean }> {
  const state = quoteIdent(schema);
  const { rows: candidates } = await client.query<{ run_id: string; holders: string[] }>(
    `select r.run_id, coalesce(array_agg(l.holder) filter (where l.holder is not null), '{}') as holders
       from ${state}.runs r
       left join ${state}.leases l on l.run_id = r.run_id and l.expires_at > now()
      where r.command = $1 and r.status = 'running' and r.scope = $2::jsonb and r.converter_version = $3
      group by r.run_id, r.started_at
      order by r.started_at desc`,
    [run.command, JSON.stringify(run.scope), run.converterVersion],
  );
  const live = candidates.find((c) => c.holders.some((holder) => !isDeadLocalHolder(holder)));
  const abandoned = candidates.filter((c) => c !== live).map((c) => c.run_id);
  if (abandoned.length > 0) {
    await client.query(
      `update ${state}.runs set status = 'incomplete', finished_at = coalesce(finished_at, heartbeat_at)
        where run_id = any($1::uuid[])`,
      [abandoned],
    );
  }
  if (live) return { runId: live.run_id, joined: true };
  await recordRunStart(client, schema, { runId: proposedRunId, ...run });
  return { runId: proposedRunId, joined: false };
}

/**
 * Claims the next batch: a pending or expired one first (a dead worker's), else the next `size` rooms
 * from the run's cursor. `wait` means every remaining batch is held by a live worker.
 */
export async function claimBatch(
  pool: pg.Pool,
  schema: string,
  runId: string,
  scope: RoomScope,
  size: number,
): Promise<Claim> {
  const state = quoteIdent(schema);
  const me = workerName();
  const client = await pool.connect();
  try {
    await client.query('begin');
    const { rows: open } = await client.query<{ batch_no: number; after_id: string | null; last_id: string; attempts: number }>(
      `update ${state}.batches b
          set status = 'running', claimed_by = $2, lease_expires_at = now() + make_interval(secs => $3),
              attempts = b.attempts + 1
        where (b.run_id, b.batch_no) = (
          select run_id, batch_no from ${state}.batches
           where run_id = $1 and (status = 'pending' or (status = 'running' and lease_expires_at < now()))
           order by batch_no limit 1 for update skip locked)
        returning b.batch_no, b.after_id::text, b.last_id::text, b.attempts`,
      [runId, me, LEASE_TTL_SECONDS],
    );
    let claim: Claim;
    const reclaimed = open[0];
    if (reclaimed) {
      claim = { batch: { runId, batchNo: reclaimed.batch_no, range: { after: reclaimed.after_id, last: reclaimed.last_id }, attempts: reclaimed.attempts } };
    } else {
      claim = await takeFromCursor(client, state, runId, scope, size, me);
    }
    await client.query('commit');
    return claim;
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

async function takeFromCursor(
  client: pg.PoolClient,
  state: string,
  runId: string,
  scope: RoomScope,
  size: number,
  me: string,
): Promise<Claim> {
  // The run row's lock makes taking a range and moving the cursor one step for all workers.
  const { rows: runs } = await client.query<{ cursor_after: string | null; cursor_done: boolean; limit_left: number | null }>(
    `select cursor_after::text, cursor_done,
            (scope->>'limit')::int - coalesce((select sum(rooms) from ${state}.batches where run_id = $1 and status <> 'split'), 0)::int as limit_left
       from ${state}.runs where run_id = $1 for update`,
    [runId],
  );
  const run = runs[0];
  if (!run) throw new Error(`Run ${runId} vanished from the state schema while it was running.`);
  const take = run.limit_left === null ? size : Math.min(size, Math.max(0, run.limit_left));
  if (!run.cursor_done && take > 0) {
    const filter = scopeFilter(scope, 3);
    const { rows: pages } = await client.query<{ last: string | null; count: number }>(
      `select (array_agg(id order by id desc))[1]::text as last, count(*)::int as count from (
         select r.id from public.rooms r
          where ($1::uuid is null or r.id > $1::uuid) and ${filter.sql}
          order by r.id limit $2) page`,
      [run.cursor_after, take, ...filter.params],
    );
    const page = pages[0];
    if (page && page.last !== null) {
      const { rows: inserted } = await client.query<{ batch_no: number }>(
        `insert into ${state}.batches (run_id, batch_no, after_id, last_id, status, claimed_by, lease_expires_at, attempts, rooms)
         select $1, coalesce(max(batch_no), 0) + 1, $2, $3, 'running', $4, now() + make_interval(secs => $5), 1, $6
           from ${state}.batches where run_id = $1
         returning batch_no`,
        [runId, run.cursor_after, page.last, me, LEASE_TTL_SECONDS, page.count],
      );
      await client.query(`update ${state}.runs set cursor_after = $2, cursor_done = $3 where run_id = $1`, [
        runId,
        page.last,
        page.count < take,
      ]);
      return { batch: { runId, batchNo: inserted[0]!.batch_no, range: { after: run.cursor_after, last: page.last }, attempts: 1 } };
    }
  }
  await client.query(`update ${state}.runs set cursor_done = true where run_id = $1 and not cursor_done`, [runId]);
  const { rows: held } = await client.query<{ n: number }>(
    `select count(*)::int as n from ${state}.batches where run_id = $1 and status in ('pending', 'running')`,
    [runId],
  );
  return (held[0]?.n ?? 0) > 0 ? { wait: true } : { done: true };
}

/** Marks a batch done inside the transaction that committed its work: done ⇔ its writes are committed. */
export async function completeBatch(
  client: pg.ClientBase,
  schema: string,
  batch: ClaimedBatch,
  outcome: { rooms: number; durationMs: number; stats: object },
): Promise<void> {
  const { rowCount } = await client.query(
    `update ${quoteIdent(schema)}.batches
        set status = 'done', rooms = $4, duration_ms = $5, stats = $6::jsonb, finished_at = now(), lease_expires_at = null
      where run_id = $1 and batch_no = $2 and claimed_by = $3 and status = 'running'`,
    [batch.runId, batch.batchNo, workerName(), outcome.rooms, outcome.durationMs, JSON.stringify(outcome.stats)],
  );
  if (rowCount === 0) {
    throw new LeaseLostError(`Lost the lease on batch ${batch.batchNo} of run ${batch.runId}: another worker took it over.`);
  }
}

/** Replaces a batch that is too big to finish (statement timeout) by its two halves. */
export async function splitBatch(pool: pg.Pool, schema: string, batch: ClaimedBatch, scope: RoomScope): Promise<boolean> {
  const state = quoteIdent(schema);
  const filter = scopeFilter(scope, 3);
  const { rows } = await pool.query<{ mid: string | null }>(
    `select id::text as mid from public.rooms r
      where ($1::uuid is null or r.id > $1::uuid) and r.id <= $2::uuid and ${filter.sql}
      order by r.id offset greatest((select count(*) from public.rooms r
        where ($1::uuid is null or r.id > $1::uuid) and r.id <= $2::uuid and ${filter.sql}) / 2 - 1, 0) limit 1`,
    [batch.range.after, batch.range.last, ...filter.params],
  );
  const mid = rows[0]?.mid;
  if (!mid || mid === batch.range.last) return false;
  await pool.query(
    `with gone as (
       update ${state}.batches set status = 'split', lease_expires_at = null, finished_at = now()
        where run_id = $1 and batch_no = $2 returning run_id)
     insert into ${state}.batches (run_id, batch_no, after_id, last_id, status, rooms)
     select $1, m + n, (array[$3::uuid, $4::uuid])[n], (array[$4::uuid, $5::uuid])[n], 'pending', 0
       from gone, (select coalesce(max(batch_no), 0) as m from ${state}.batches where run_id = $1) mx, generate_series(1, 2) n`,
    [batch.runId, batch.batchNo, batch.range.after, mid, batch.range.last],
  );
  return true;
}

/** Renews this worker's batch leases and the run's heartbeat. */
export async function renewBatchLeases(pool: pg.Pool, schema: string, runId: string): Promise<void> {
  const state = quoteIdent(schema);
  await pool.query(
    `update ${state}.batches set lease_expires_at = now() + make_interval(secs => $3)
      where run_id = $1 and claimed_by = $2 and status = 'running'`,
    [runId, workerName(), LEASE_TTL_SECONDS],
  );
  await pool.query(`update ${state}.runs set heartbeat_at = now() where run_id = $1`, [runId]);
}

/** Hands this worker's unfinished batches back (on a clean stop), so others need not wait out the lease. */
export async function releaseBatches(pool: pg.Pool, schema: string, runId: string): Promise<void> {
  await pool.query(
    `update ${quoteIdent(schema)}.batches set status = 'pending', claimed_by = null, lease_expires_at = null
      where run_id = $1 and claimed_by = $2 and status = 'running'`,
    [runId, workerName()],
  );
}

/** The per-batch stats of every finished batch of the run, for run-wide totals. */
export async function finishedBatchStats(pool: pg.Pool, schema: string, runId: string): Promise<object[]> {
  const { rows } = await pool.query<{ stats: object }>(
    `select stats from ${quoteIdent(schema)}.batches where run_id = $1 and status = 'done' and stats is not null`,
    [runId],
  );
  return rows.map((r) => r.stats);
}

/** Expires the batch leases of workers on this machine that died (kill -9): no need to wait them out. */
export async function expireDeadLocalWorkers(pool: pg.Pool, schema: string, runId: string): Promise<void> {
  const state = quoteIdent(schema);
  const { rows } = await pool.query<{ claimed_by: string }>(
    `select distinct claimed_by from ${state}.batches
      where run_id = $1 and status = 'running' and lease_expires_at > now() and claimed_by is not null`,
    [runId],
  );
  const dead = rows.map((r) => r.claimed_by).filter(isDeadLocalHolder);
  if (dead.length === 0) return;
  await pool.query(
    `update ${state}.batches set lease_expires_at = now() - interval '1 second'
      where run_id = $1 and status = 'running' and claimed_by = any($2::text[])`,
    [runId, dead],
  );
}
