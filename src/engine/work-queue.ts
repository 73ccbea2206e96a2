import type pg from 'pg';
import type { Keyset, KeyRange } from './keysets.ts';
import { isDeadLocalHolder, LEASE_TTL_SECONDS, workerName } from './leases.ts';
import { quoteIdent } from './sql-files.ts';
import { recordRunStart } from './runs.ts';
import { applyStateDdl, stateSchemaDdl } from './state-schema.ts';
import { BOOKKEEPING_TIMEOUTS, inTransaction } from './transactions.ts';

/**
 * The batches of a shared run, coordinated through the state schema only: a run row holds a keyset
 * cursor over the command's keys (rooms, or chat_messages for fix-parts), workers take the next range
 * from it (or reclaim an expired one) with FOR UPDATE SKIP LOCKED, and hold it with a lease they renew.
 * No session state, no advisory locks held across transactions: it works through the session pooler and
 * across machines. Keys are stored as text; the keyset casts them back to its column's type.
 */
export interface ClaimedBatch {
  runId: string;
  batchNo: number;
  range: KeyRange;
  attempts: number;
}

export type Claim = { batch: ClaimedBatch } | { wait: true } | { done: true };

export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
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
 * Brings a state schema created by an earlier version up to this one (text batch keys, the run's key
 * count), by re-running the idempotent DDL of sql/state.sql. One catalog read when nothing is to do.
 */
export async function ensureWorkQueueSchema(pool: pg.Pool, schema: string): Promise<void> {
  const { rows } = await pool.query<{ current: boolean }>(
    `select exists (select 1 from pg_attribute
                     where attrelid = to_regclass($1) and attname = 'after_id' and atttypid = 'text'::regtype)
        and exists (select 1 from pg_attribute
                     where attrelid = to_regclass($2) and attname = 'keys_total' and not attisdropped)
        and exists (select 1 from pg_attribute
                     where attrelid = to_regclass($3) and attname = 'row_xmin' and not attisdropped) as current`,
    [`${quoteIdent(schema)}.batches`, `${quoteIdent(schema)}.runs`, `${quoteIdent(schema)}.target_ledger`],
  );
  if (rows[0]?.current) return;
  await applyStateDdl(pool, `recoup-migrate:state-schema:${schema}`, await stateSchemaDdl(pool, schema));
}

/** Records how many keys the run walks, for status' ETA (the first worker's count). */
export async function recordRunKeysTotal(pool: pg.Pool, schema: string, runId: string, total: number): Promise<void> {
  await pool.query(`update ${quoteIdent(schema)}.runs set keys_total = $2 where run_id = $1 and keys_total is null`, [runId, total]);
}

/**
 * Claims the next batch: a pending or expired one first (a dead worker's), else the next `size` keys
 * from the run's cursor. `wait` means every remaining batch is held by a live worker.
 */
export async function claimBatch(pool: pg.Pool, schema: string, runId: string, keys: Keyset, size: number): Promise<Claim> {
  const state = quoteIdent(schema);
  const me = workerName();
  return await inTransaction(pool, { isolation: 'read committed', ...BOOKKEEPING_TIMEOUTS }, async (client) => {
    const { rows: open } = await client.query<{ batch_no: number; after_id: string | null; last_id: string; attempts: number }>(
      `update ${state}.batches b
          set status = 'running', claimed_by = $2, lease_expires_at = now() + make_interval(secs => $3),
              attempts = b.attempts + 1
        where (b.run_id, b.batch_no) = (
          select run_id, batch_no from ${state}.batches
           where run_id = $1 and (status = 'pending' or (status = 'running' and lease_expires_at < now()))
           order by batch_no limit 1 for update skip locked)
        returning b.batch_no, b.after_id, b.last_id, b.attempts`,
      [runId, me, LEASE_TTL_SECONDS],
    );
    const reclaimed = open[0];
    if (!reclaimed) return await takeFromCursor(client, state, runId, keys, size, me);
    return { batch: { runId, batchNo: reclaimed.batch_no, range: { after: reclaimed.after_id, last: reclaimed.last_id }, attempts: reclaimed.attempts } };
  });
}

async function takeFromCursor(
  client: pg.PoolClient,
  state: string,
  runId: string,
  keys: Keyset,
  size: number,
  me: string,
): Promise<Claim> {
  // The run row's lock makes taking a range and moving the cursor one step for all workers.
  const { rows: runs } = await client.query<{ cursor_after: string | null; cursor_done: boolean }>(
    `select cursor_after, cursor_done from ${state}.runs where run_id = $1 for update`,
    [runId],
  );
  const cursor = runs[0];
  if (!cursor) throw new Error(`Run ${runId} vanished from the state schema while it was running.`);
  // Counted in a statement of its own, after the lock: a statement that waited for the lock sees the
  // locked row as the worker before it left it, but every other table as of its own start, so a count
  // in the same statement missed that worker's batch and --limit let a second page through.
  // `batches.rooms` counts keys (rooms, or messages for fix-parts); split batches' halves carry theirs.
  const { rows: counted } = await client.query<{ taken: number }>(
    `select coalesce(sum(rooms), 0)::int as taken from ${state}.batches where run_id = $1 and status <> 'split'`,
    [runId],
  );
  const run = { ...cursor, taken: counted[0]?.taken ?? 0 };
  const take = keys.limit === undefined ? size : Math.min(size, Math.max(0, keys.limit - run.taken));
  if (!run.cursor_done && take > 0) {
    const page = await keys.page(client, run.cursor_after, take);
    if (page) {
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
  outcome: { keys: number; durationMs: number; stats: object },
): Promise<void> {
  const { rowCount } = await client.query(
    `update ${quoteIdent(schema)}.batches
        set status = 'done', rooms = $4, duration_ms = $5, stats = $6::jsonb, finished_at = now(), lease_expires_at = null
      where run_id = $1 and batch_no = $2 and claimed_by = $3 and status = 'running'`,
    [batch.runId, batch.batchNo, workerName(), outcome.keys, outcome.durationMs, JSON.stringify(outcome.stats)],
  );
  if (rowCount === 0) {
    throw new LeaseLostError(`Lost the lease on batch ${batch.batchNo} of run ${batch.runId}: another worker took it over.`);
  }
}

/**
 * Locks the claimed batch's row, as the first statement of a REPEATABLE READ batch transaction that will
 * mark it done. While the lock is held nobody else can claim the batch (claims skip locked rows) and
 * the heartbeat leaves the row alone; without it, a lease renewal committed during the batch made its
 * final completeBatch a serialization failure, and the whole batch was redone.
 */
export async function lockClaimedBatch(client: pg.ClientBase, schema: string, batch: ClaimedBatch): Promise<void> {
  const { rowCount } = await client.query(
    `select 1 from ${quoteIdent(schema)}.batches
      where run_id = $1 and batch_no = $2 and claimed_by = $3 and status = 'running'
      for update`,
    [batch.runId, batch.batchNo, workerName()],
  );
  if (rowCount === 0) {
    throw new LeaseLostError(`Lost the lease on batch ${batch.batchNo} of run ${batch.runId}: another worker took it over.`);
  }
}

/**
 * Renews the lease of one claimed batch, outside its (rolled back) transaction, before more work on it;
 * throws LeaseLostError when another worker took it over meanwhile. While a batch transaction held the
 * row lock the heartbeat skipped the row, so a long batch comes back with an expired lease.
 */
export async function reassertBatchLease(pool: pg.Pool, schema: string, batch: ClaimedBatch): Promise<void> {
  const { rowCount } = await pool.query(
    `update ${quoteIdent(schema)}.batches set lease_expires_at = now() + make_interval(secs => $4)
      where run_id = $1 and batch_no = $2 and claimed_by = $3 and status = 'running'`,
    [batch.runId, batch.batchNo, workerName(), LEASE_TTL_SECONDS],
  );
  if (rowCount === 0) {
    throw new LeaseLostError(`Lost the lease on batch ${batch.batchNo} of run ${batch.runId}: another worker took it over.`);
  }
}

/**
 * Replaces a batch that is too big to finish (statement timeout) by its two halves. False when the range
 * cannot be halved; LeaseLostError when another worker took the batch over.
 */
export async function splitBatch(pool: pg.Pool, schema: string, batch: ClaimedBatch, keys: Keyset): Promise<boolean> {
  const state = quoteIdent(schema);
  const halves = await keys.halve(pool, batch.range);
  if (!halves) return false;
  const { rowCount } = await pool.query(
    `with gone as (
       update ${state}.batches set status = 'split', lease_expires_at = null, finished_at = now()
        where run_id = $1 and batch_no = $2 and claimed_by = $6 and status = 'running' returning run_id)
     insert into ${state}.batches (run_id, batch_no, after_id, last_id, status, rooms)
     select $1, m + n, (array[$3::text, $4::text])[n], (array[$4::text, $5::text])[n], 'pending', (array[$7::int, $8::int])[n]
       from gone, (select coalesce(max(batch_no), 0) as m from ${state}.batches where run_id = $1) mx, generate_series(1, 2) n`,
    [batch.runId, batch.batchNo, batch.range.after, halves.mid, batch.range.last, workerName(), halves.first, halves.second],
  );
  if (rowCount === 0) {
    throw new LeaseLostError(`Lost the lease on batch ${batch.batchNo} of run ${batch.runId}: another worker took it over.`);
  }
  return true;
}

/**
 * Renews this worker's batch leases and the run's heartbeat. Rows locked by a batch transaction
 * (lockClaimedBatch) are skipped: the lock protects them for as long as it is held.
 */
export async function renewBatchLeases(pool: pg.Pool, schema: string, runId: string): Promise<void> {
  const state = quoteIdent(schema);
  await pool.query(
    `update ${state}.batches set lease_expires_at = now() + make_interval(secs => $3)
      where (run_id, batch_no) in (
        select run_id, batch_no from ${state}.batches
         where run_id = $1 and claimed_by = $2 and status = 'running'
         for update skip locked)`,
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

/**
 * After a clean stop (signal, time budget): a run no live worker holds any more is incomplete. Call it
 * once this worker's lease is released, so that only the others' leases count.
 */
export async function markRunIncompleteIfAbandoned(pool: pg.Pool, schema: string, runId: string): Promise<void> {
  const state = quoteIdent(schema);
  await pool.query(
    `update ${state}.runs set status = 'incomplete', finished_at = now()
      where run_id = $1 and status = 'running'
        and not exists (select 1 from ${state}.leases where run_id = $1 and expires_at > now())`,
    [runId],
  );
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
