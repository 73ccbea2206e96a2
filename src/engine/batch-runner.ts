import type pg from 'pg';
import { z } from 'zod';
import type { Logger } from './logger.ts';
import { planRanges, type KeyRange, type Keyset } from './keysets.ts';
import { databasePressure, type ThrottleLimits } from './throttle.ts';
import { BOOKKEEPING_TIMEOUTS, inTransaction, isConnectionLoss, withTransientRetry } from './transactions.ts';
import { LEASE_HEARTBEAT_MS } from './leases.ts';
import {
  claimBatch,
  completeBatch,
  lockClaimedBatch,
  reassertBatchLease,
  ensureWorkQueueSchema,
  expireDeadLocalWorkers,
  LeaseLostError,
  recordRunKeysTotal,
  releaseBatches,
  renewBatchLeases,
  splitBatch,
  type ClaimedBatch,
} from './work-queue.ts';
import { errorMessage, STATEMENT_TIMEOUT_SQLSTATE } from './errors.ts';
import { pacingFlags } from './config.ts';
import { relieveMemoryPressure } from './memory.ts';
import type { Progress } from './progress.ts';
import type { CommandContext } from './context.ts';

// Adaptive batch sizes grow at most ×1.2 per batch and shrink at most ×0.5 (GitLab's rule), within these keys.
const ADAPT_MAX_GROWTH = 1.2;
const ADAPT_MAX_SHRINK = 0.5;
const ADAPT_MIN_KEYS = 1;
const ADAPT_MAX_KEYS = 10_000;
// Weight of the newest batch in the duration estimate used by --time-budget.
const DURATION_EWMA_WEIGHT = 0.3;
// How long a worker waits before looking again when every remaining batch is held by a live worker.
const WAIT_FOR_OTHERS_MS = 500;
// Pauses while the database is under pressure: first wait, doubling up to the cap.
const THROTTLE_FIRST_PAUSE_MS = 500;
const THROTTLE_MAX_PAUSE_MS = 10_000;

export interface BatchRunnerConfig {
  pool: pg.Pool;
  stateSchema: string;
  runId: string;
  /** The keys walked: rooms (backfill, reconcile) or chat_messages (fix-parts), within the command's scope. */
  keyset: Keyset;
  /**
   * Claim batches from the state schema, shared with the other processes of the run. Off for dry runs
   * and plain reconcile, which plan ranges in memory, because recording batches is a write.
   */
  shared: boolean;
  /** The keys in scope, recorded with a shared run for status' ETA. */
  total?: number | undefined;
  concurrency: number;
  batchSize: number;
  /** Adapt the batch size toward this duration; off (fixed --batch-size) when undefined. Shared runs only. */
  targetBatchMs?: number | undefined;
  /** Stop claiming new batches so the run ends before this many ms from `startedAt`. */
  timeBudgetMs?: number | undefined;
  startedAt: Date;
  /** null: never pause (--no-throttle), and skip the check. */
  throttle: ThrottleLimits | null;
  stopSignal: AbortSignal;
  logger: Logger;
  onPause?: (reason: string | null) => void;
}

/** Marks the batch done, in the transaction given: the one that commits the batch's writes, or one of its own. */
export interface BeforeCommit<B> {
  (client: pg.ClientBase, batch: B): Promise<void>;
  /**
   * Locks the batch's row. A REPEATABLE READ transaction that ends by marking the batch done calls it
   * first, so the lease heartbeat cannot change the row under its snapshot.
   */
  lock(client: pg.ClientBase): Promise<void>;
}

export interface BatchHandlers<B> {
  /**
   * Processes one range, calling `beforeCommit` (when given) inside the transaction that commits its
   * writes, or in a transaction of its own when it has nothing to write (to mark the batch done).
   */
  run(range: KeyRange, beforeCommit?: BeforeCommit<B>): Promise<B>;
  /** After the database rejected the batch: key by key, reporting the ones that fail. Without it, the run fails. */
  isolate?(range: KeyRange): Promise<B>;
  /** How many keys the batch walked. */
  keys(batch: B): number;
  /** The batch's counters, stored with the batch for run-wide totals. */
  stats(batch: B): object;
  /** Called once per finished batch, in this process: tally, report lines, progress. */
  onResults(batch: B): Promise<void>;
}

/** The pacing every walking command (backfill, fix-parts, reconcile) takes from its flags. */
export interface WalkSettings {
  batchSize: number;
  concurrency: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  /** Adapt the batch size toward this duration (shared runs); fixed --batch-size when absent. */
  targetBatchMs?: number | undefined;
  timeBudgetMs?: number | undefined;
  /** Absent: the defaults; null: no throttle (--no-throttle). */
  throttle?: ThrottleLimits | null | undefined;
}

// The throttle a caller gets without asking: the CLI's own flag defaults, so the two cannot drift apart.
const PACING_DEFAULTS = z.object(pacingFlags).parse({});
const DEFAULT_THROTTLE: ThrottleLimits = { maxLockWaiters: PACING_DEFAULTS.maxLockWaiters, maxReplicationLagSeconds: PACING_DEFAULTS.maxReplicationLag };

/** A runner configuration from the command's context, its run and its flags; pauses show on `progress`. */
export function runnerConfig(
  context: CommandContext,
  run: { runId: string; keyset: Keyset; shared: boolean; total: number },
  settings: WalkSettings,
  progress: Progress,
): BatchRunnerConfig {
  return {
    pool: context.pool,
    stateSchema: context.stateSchema,
    ...run,
    concurrency: settings.concurrency,
    batchSize: settings.batchSize,
    targetBatchMs: settings.targetBatchMs,
    timeBudgetMs: settings.timeBudgetMs,
    startedAt: context.startedAt,
    throttle: settings.throttle === undefined ? DEFAULT_THROTTLE : settings.throttle,
    stopSignal: context.stopSignal,
    logger: context.logger,
    onPause: (reason) => progress.pause(reason),
  };
}

export type StopReason = 'done' | 'signal' | 'time_budget';

/**
 * Runs the batches of a run with `concurrency` workers in this process. Shared runs claim batches from
 * the state schema (with the other processes of the same run); the others plan ranges in memory.
 * Returns why it stopped; throws what it could not handle, once every batch in flight has finished.
 */
export async function runBatches<B>(config: BatchRunnerConfig, handlers: BatchHandlers<B>): Promise<StopReason> {
  const memoryPlan = config.shared ? null : planRanges(config.pool, config.keyset, config.batchSize);
  if (config.shared) {
    await ensureWorkQueueSchema(config.pool, config.stateSchema);
    if (config.total !== undefined) await recordRunKeysTotal(config.pool, config.stateSchema, config.runId, config.total);
  }
  let stopReason: StopReason = 'done';
  let failure: { error: unknown } | null = null;
  let durationEstimate = 0;
  const heartbeat = config.shared
    ? setInterval(() => {
        renewBatchLeases(config.pool, config.stateSchema, config.runId).catch((error: unknown) =>
          config.logger.warn({ error: errorMessage(error) }, 'Could not renew batch leases'),
        );
      }, LEASE_HEARTBEAT_MS)
    : null;
  heartbeat?.unref();
  // A worker told to wait (every remaining batch is held) looks again after WAIT_FOR_OTHERS_MS, or as
  // soon as a worker of this process finishes a batch or stops: otherwise the run's end would wait out
  // the rest of that pause after the last batch, for nothing.
  const localProgress = new LocalProgress();

  const worker = async (): Promise<void> => {
    let size = config.batchSize;
    let pause = THROTTLE_FIRST_PAUSE_MS;
    for (;;) {
      if (failure !== null) return;
      if (config.stopSignal.aborted) {
        stopReason = 'signal';
        return;
      }
      if (config.timeBudgetMs !== undefined && Date.now() - config.startedAt.getTime() + durationEstimate > config.timeBudgetMs) {
        stopReason = 'time_budget';
        return;
      }
      const pressure = config.throttle ? await databasePressure(config.pool, config.throttle) : null;
      config.onPause?.(pressure);
      if (pressure) {
        config.logger.info({ reason: pressure, pauseMs: pause }, 'Database under pressure; pausing');
        await sleep(pause);
        pause = Math.min(pause * 2, THROTTLE_MAX_PAUSE_MS);
        continue;
      }
      pause = THROTTLE_FIRST_PAUSE_MS;

      let batch: ClaimedBatch | null = null;
      let range: KeyRange;
      if (memoryPlan) {
        const next = await memoryPlan.next();
        if (next.done) return;
        range = next.value;
      } else {
        const seen = localProgress.generation;
        const claim = await claimBatch(config.pool, config.stateSchema, config.runId, config.keyset, size);
        if ('done' in claim) return;
        if ('wait' in claim) {
          await expireDeadLocalWorkers(config.pool, config.stateSchema, config.runId);
          await localProgress.waitForSignal(seen, WAIT_FOR_OTHERS_MS);
          continue;
        }
        batch = claim.batch;
        range = batch.range;
      }

      const started = Date.now();
      const result = await runOne(config, handlers, range, batch);
      localProgress.signal();
      if (result === null) continue;
      const duration = Date.now() - started;
      durationEstimate = durationEstimate === 0 ? duration : DURATION_EWMA_WEIGHT * duration + (1 - DURATION_EWMA_WEIGHT) * durationEstimate;
      await handlers.onResults(result);
      relieveMemoryPressure();
      const keys = handlers.keys(result);
      config.logger.debug({ batch: batch?.batchNo, range, [config.keyset.unit]: keys, size, durationMs: duration }, 'Batch done');
      if (config.targetBatchMs !== undefined && duration > 0) size = adaptSize(size, duration, config.targetBatchMs);
    }
  };

  try {
    // A failing worker stops the others from taking new batches; the ones in flight still finish.
    await Promise.all(
      Array.from({ length: config.concurrency }, () =>
        worker()
          .catch((error: unknown) => {
            failure ??= { error };
          })
          .finally(() => localProgress.signal()),
      ),
    );
  } finally {
    if (heartbeat) clearInterval(heartbeat);
    if (config.shared) await releaseBatches(config.pool, config.stateSchema, config.runId).catch(() => {});
  }
  if (failure !== null) throw (failure as { error: unknown }).error;
  return stopReason;
}

/** One batch: retried when transient, split when it times out, isolated key by key when rejected. */
async function runOne<B>(config: BatchRunnerConfig, handlers: BatchHandlers<B>, range: KeyRange, batch: ClaimedBatch | null): Promise<B | null> {
  const started = Date.now();
  const markDone: BeforeCommit<B> | undefined = batch
    ? Object.assign(
        async (client: pg.ClientBase, result: B) =>
          completeBatch(client, config.stateSchema, batch, { keys: handlers.keys(result), durationMs: Date.now() - started, stats: handlers.stats(result) }),
        { lock: (client: pg.ClientBase) => lockClaimedBatch(client, config.stateSchema, batch) },
      )
    : undefined;
  try {
    return await withTransientRetry(
      () => handlers.run(range, markDone),
      (error, attempt) => config.logger.warn({ range, attempt, error: errorMessage(error) }, 'Transient error; retrying the batch'),
    );
  } catch (error) {
    try {
      return await recover(config, handlers, range, batch, markDone, error);
    } catch (recoveryError) {
      // Another worker owns the batch now: it does the work (again; every write is idempotent).
      if (!(recoveryError instanceof LeaseLostError)) throw recoveryError;
      config.logger.warn({ batch: batch?.batchNo }, recoveryError.message);
      return null;
    }
  }
}

/**
 * After a batch failed: split it (statement timeout), or isolate the key that fails, or rethrow. A
 * shared batch is split in the state schema and its halves claimed again; a range planned in memory
 * (plain reconcile, dry runs) is halved here and each half run in turn, down to one key.
 */
async function recover<B>(
  config: BatchRunnerConfig,
  handlers: BatchHandlers<B>,
  range: KeyRange,
  batch: ClaimedBatch | null,
  markDone: BeforeCommit<B> | undefined,
  error: unknown,
): Promise<B | null> {
  if (error instanceof LeaseLostError) throw error;
  const timedOut = (error as { code?: string }).code === STATEMENT_TIMEOUT_SQLSTATE;
  if (timedOut && batch && (await splitBatch(config.pool, config.stateSchema, batch, config.keyset))) {
    config.logger.warn({ batch: batch.batchNo, range }, 'Batch hit statement_timeout; split in two and retried');
    return null;
  }
  if (timedOut && !batch) {
    const halves = await config.keyset.halve(config.pool, range);
    if (halves) {
      config.logger.warn({ range }, 'Batch hit statement_timeout; split in two and retried');
      for (const half of [{ after: range.after, last: halves.mid }, { after: halves.mid, last: range.last }]) {
        // Stopping (Ctrl-C): the half not run is not walked, as any range the plan had not reached.
        if (config.stopSignal.aborted) break;
        const result = await runOne(config, handlers, half, null);
        if (result !== null) await handlers.onResults(result);
      }
      return null;
    }
  }
  if (timedOut && !handlers.isolate) {
    // One key alone outlasts the timeout: nothing smaller to split it into.
    throw Object.assign(
      new Error(`${config.keyset.unit === 'rooms' ? 'Room' : 'Message'} ${range.last} alone takes longer than the statement timeout (${errorMessage(error)}). Raise --statement-timeout and run again.`),
      { code: STATEMENT_TIMEOUT_SQLSTATE },
    );
  }
  // A lost connection ends the run (exit 3; a re-run continues). Lock timeouts, deadlocks and
  // serialization failures that outlived their retries isolate the key instead of failing forever.
  if (isConnectionLoss(error) || !handlers.isolate) throw error;
  if (batch) await reassertBatchLease(config.pool, config.stateSchema, batch);
  config.logger.warn({ range, error: errorMessage(error) }, 'Batch rejected; isolating the failing key');
  const result = await handlers.isolate(range);
  if (markDone) {
    try {
      await markDoneAlone(config.pool, (client) => markDone(client, result));
    } catch (markError) {
      // Its keys are committed all the same: report them; the worker that took the batch over redoes it.
      if (!(markError instanceof LeaseLostError)) throw markError;
      config.logger.warn({ batch: batch?.batchNo }, markError.message);
    }
  }
  return result;
}

/** Marks a batch done in a transaction of its own: for batches that have nothing to commit with it. */
export async function markDoneAlone(pool: pg.Pool, mark: (client: pg.ClientBase) => Promise<void>): Promise<void> {
  await inTransaction(pool, { isolation: 'read committed', ...BOOKKEEPING_TIMEOUTS }, mark);
}

export function adaptSize(size: number, durationMs: number, targetMs: number): number {
  const factor = Math.min(ADAPT_MAX_GROWTH, Math.max(ADAPT_MAX_SHRINK, targetMs / durationMs));
  return Math.min(ADAPT_MAX_KEYS, Math.max(ADAPT_MIN_KEYS, Math.round(size * factor)));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Batches ending (or workers stopping) in this process, for the workers waiting on them. A worker reads
 * `generation` before it asks for a batch, so a signal that comes while it asks is not missed.
 */
class LocalProgress {
  #generation = 0;
  #waiters = new Set<() => void>();

  get generation(): number {
    return this.#generation;
  }

  signal(): void {
    this.#generation += 1;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  /** Waits up to `ms` for a signal after generation `since`; at once if there has been one. */
  async waitForSignal(since: number, ms: number): Promise<void> {
    if (this.#generation !== since) return;
    let timer: NodeJS.Timeout | undefined;
    let wake: (() => void) | undefined;
    try {
      await new Promise<void>((resolve) => {
        wake = resolve;
        this.#waiters.add(resolve);
        timer = setTimeout(resolve, ms);
      });
    } finally {
      clearTimeout(timer);
      if (wake) this.#waiters.delete(wake);
    }
  }
}
