import type pg from 'pg';
import type { Logger } from '../runtime/logger.ts';
import { planRoomRanges, type RoomRange, type RoomScope } from '../db/source-reads.ts';
import { databasePressure, type ThrottleLimits } from '../db/throttle.ts';
import { inTransaction, isConnectionLoss, withTransientRetry } from '../db/transactions.ts';
import { LEASE_HEARTBEAT_MS } from '../db/leases.ts';
import {
  claimBatch,
  completeBatch,
  expireDeadLocalWorkers,
  LeaseLostError,
  releaseBatches,
  renewBatchLeases,
  splitBatch,
  type ClaimedBatch,
} from '../db/work-queue.ts';
import { errorMessage } from '../runtime/errors.ts';
import { relieveMemoryPressure } from '../runtime/memory.ts';

// Adaptive batch sizes grow at most ×1.2 per batch and shrink at most ×0.5 (GitLab's rule), within these rooms.
const ADAPT_MAX_GROWTH = 1.2;
const ADAPT_MAX_SHRINK = 0.5;
const ADAPT_MIN_ROOMS = 1;
const ADAPT_MAX_ROOMS = 10_000;
// Weight of the newest batch in the duration estimate used by --time-budget.
const DURATION_EWMA_WEIGHT = 0.3;
// How long a worker waits before looking again when every remaining batch is held by a live worker.
const WAIT_FOR_OTHERS_MS = 500;
// Pauses while the database is under pressure: first wait, doubling up to the cap.
const THROTTLE_FIRST_PAUSE_MS = 500;
const THROTTLE_MAX_PAUSE_MS = 10_000;
const STATEMENT_TIMEOUT_SQLSTATE = '57014';

export interface BatchRunnerConfig {
  pool: pg.Pool;
  stateSchema: string;
  runId: string;
  scope: RoomScope;
  dryRun: boolean;
  concurrency: number;
  batchSize: number;
  /** Adapt the batch size toward this duration; off (fixed --batch-size) when undefined. */
  targetBatchMs?: number | undefined;
  /** Stop claiming new batches so the run ends before this many ms from `startedAt`. */
  timeBudgetMs?: number | undefined;
  startedAt: Date;
  throttle: ThrottleLimits;
  stopSignal: AbortSignal;
  logger: Logger;
  onPause?: (reason: string | null) => void;
}

export interface BatchHandlers<R> {
  /** Processes one range in one transaction, calling `beforeCommit` inside it (to mark the batch done). */
  run(range: RoomRange, beforeCommit?: (client: pg.ClientBase, results: R[]) => Promise<void>): Promise<R[]>;
  /** After the database rejected the batch: room by room, reporting the rooms that fail. */
  isolate(range: RoomRange): Promise<R[]>;
  /** The batch's counters, stored with the batch for run-wide totals. */
  stats(results: R[]): object;
  /** Called once per finished batch, in this process: tally, report lines, progress. */
  onResults(results: R[]): Promise<void>;
}

export type StopReason = 'done' | 'signal' | 'time_budget';

/**
 * Runs the batches of a run with `concurrency` workers in this process. Real runs claim batches from
 * the state schema (shared with other processes of the same run); dry runs plan ranges in memory,
 * because recording batches would be a write. Returns why it stopped; throws what it could not handle.
 */
export async function runBatches<R>(config: BatchRunnerConfig, handlers: BatchHandlers<R>): Promise<StopReason> {
  const memoryPlan = config.dryRun ? planRoomRanges(config.pool, config.scope, config.batchSize) : null;
  let stopReason: StopReason = 'done';
  let durationEstimate = 0;
  const heartbeat = config.dryRun
    ? null
    : setInterval(() => {
        renewBatchLeases(config.pool, config.stateSchema, config.runId).catch((error: unknown) =>
          config.logger.warn({ error: errorMessage(error) }, 'Could not renew batch leases'),
        );
      }, LEASE_HEARTBEAT_MS);
  heartbeat?.unref();

  const worker = async (): Promise<void> => {
    let size = config.batchSize;
    let pause = THROTTLE_FIRST_PAUSE_MS;
    for (;;) {
      if (config.stopSignal.aborted) {
        stopReason = 'signal';
        return;
      }
      if (config.timeBudgetMs !== undefined && Date.now() - config.startedAt.getTime() + durationEstimate > config.timeBudgetMs) {
        stopReason = 'time_budget';
        return;
      }
      const pressure = await databasePressure(config.pool, config.throttle);
      config.onPause?.(pressure);
      if (pressure) {
        config.logger.info({ reason: pressure, pauseMs: pause }, 'Database under pressure; pausing');
        await sleep(pause);
        pause = Math.min(pause * 2, THROTTLE_MAX_PAUSE_MS);
        continue;
      }
      pause = THROTTLE_FIRST_PAUSE_MS;

      let batch: ClaimedBatch | null = null;
      let range: RoomRange;
      if (memoryPlan) {
        const next = await memoryPlan.next();
        if (next.done) return;
        range = next.value;
      } else {
        const claim = await claimBatch(config.pool, config.stateSchema, config.runId, config.scope, size);
        if ('done' in claim) return;
        if ('wait' in claim) {
          await expireDeadLocalWorkers(config.pool, config.stateSchema, config.runId);
          await sleep(WAIT_FOR_OTHERS_MS);
          continue;
        }
        batch = claim.batch;
        range = batch.range;
      }

      const started = Date.now();
      const results = await runOne(config, handlers, range, batch);
      if (results === null) continue;
      const duration = Date.now() - started;
      durationEstimate = durationEstimate === 0 ? duration : DURATION_EWMA_WEIGHT * duration + (1 - DURATION_EWMA_WEIGHT) * durationEstimate;
      await handlers.onResults(results);
      relieveMemoryPressure();
      config.logger.debug({ batch: batch?.batchNo, range, rooms: results.length, size, durationMs: duration }, 'Batch done');
      if (config.targetBatchMs !== undefined && duration > 0) size = adaptSize(size, duration, config.targetBatchMs);
    }
  };

  try {
    await Promise.all(Array.from({ length: config.concurrency }, () => worker()));
  } finally {
    if (heartbeat) clearInterval(heartbeat);
    if (!config.dryRun) await releaseBatches(config.pool, config.stateSchema, config.runId).catch(() => {});
  }
  return stopReason;
}

/** One batch: retried when transient, split when it times out, isolated room by room when rejected. */
async function runOne<R>(config: BatchRunnerConfig, handlers: BatchHandlers<R>, range: RoomRange, batch: ClaimedBatch | null): Promise<R[] | null> {
  const started = Date.now();
  const markDone = batch
    ? async (client: pg.ClientBase, results: R[]) =>
        completeBatch(client, config.stateSchema, batch, { rooms: results.length, durationMs: Date.now() - started, stats: handlers.stats(results) })
    : undefined;
  try {
    return await withTransientRetry(
      () => handlers.run(range, markDone),
      (error, attempt) => config.logger.warn({ range, attempt, error: errorMessage(error) }, 'Transient error; retrying the batch'),
    );
  } catch (error) {
    if (error instanceof LeaseLostError) {
      config.logger.warn({ batch: batch?.batchNo }, error.message);
      return null;
    }
    const code = (error as { code?: string }).code;
    if (code === STATEMENT_TIMEOUT_SQLSTATE && batch && (await splitBatch(config.pool, config.stateSchema, batch, config.scope))) {
      config.logger.warn({ batch: batch.batchNo, range }, 'Batch hit statement_timeout; split in two and retried');
      return null;
    }
    // A lost connection ends the run (exit 3; a re-run continues). Lock timeouts, deadlocks and
    // serialization failures that outlived their retries isolate the room instead of failing forever.
    if (isConnectionLoss(error)) throw error;
    config.logger.warn({ range, error: errorMessage(error) }, 'Batch rejected; isolating the failing room');
    const results = await handlers.isolate(range);
    if (markDone) {
      await inTransaction(config.pool, { isolation: 'read committed', statementTimeoutMs: 30_000, lockTimeoutMs: 10_000 }, (client) =>
        markDone(client, results),
      );
    }
    return results;
  }
}

export function adaptSize(size: number, durationMs: number, targetMs: number): number {
  const factor = Math.min(ADAPT_MAX_GROWTH, Math.max(ADAPT_MAX_SHRINK, targetMs / durationMs));
  return Math.min(ADAPT_MAX_ROOMS, Math.max(ADAPT_MIN_ROOMS, Math.round(size * factor)));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
