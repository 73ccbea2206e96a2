import pLimit from 'p-limit';
import { acquireLease, type HeldLease } from '../db/leases.ts';
import { inspectDatabase } from '../db/preflight.ts';
import { recordRunEnd, recordRunStart } from '../db/runs.ts';
import { countRoomsInScope, planRoomRanges, type RoomRange, type RoomScope } from '../db/source-reads.ts';
import { ensureStateSchema, stateSchemaExists } from '../db/state-schema.ts';
import { isTransient, withTransientRetry } from '../db/transactions.ts';
import { CONVERTER_VERSION } from '../migration/convert.ts';
import { countReason, type ReasonCounts } from '../migration/reasons.ts';
import { ReportWriter } from '../report/report-writer.ts';
import type { BackfillRoomResult } from '../report/room-result.ts';
import { emptyMessageCounters, emptyRoomCounters, type ExitCode, type RunSummary } from '../report/summary.ts';
import { errorMessage, scrubSecrets } from '../runtime/errors.ts';
import { createProgress } from '../runtime/progress.ts';
import { backfillRange, type BackfillBatchContext } from './backfill-batch.ts';
import type { CommandContext } from './context.ts';
import { isolateFailingRooms } from './backfill-isolate.ts';

export interface BackfillOptions {
  scope: RoomScope;
  batchSize: number;
  concurrency: number;
  dryRun: boolean;
  maxSkippedRatio?: number | undefined;
  maxSkippedRooms?: number | undefined;
  maxFailed?: number | undefined;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

/** rooms → sessions + chats, memories → chat_messages: plan → read → convert → write → report. */
export async function backfill(options: BackfillOptions, context: CommandContext): Promise<RunSummary> {
  const { pool, logger, stateSchema, runId } = context;
  const shape = await inspectDatabase(pool, { target: true });
  let createStateSchemaInTransaction = false;
  let lease: HeldLease | null = null;
  if (options.dryRun) {
    createStateSchemaInTransaction = !(await stateSchemaExists(pool, stateSchema));
  } else {
    await ensureStateSchema(pool, stateSchema);
    lease = await acquireLease(pool, stateSchema, { command: 'backfill', runId });
    await recordRunStart(pool, stateSchema, {
      runId,
      command: 'backfill',
      scope: options.scope,
      options: { batchSize: options.batchSize, concurrency: options.concurrency },
      converterVersion: CONVERTER_VERSION,
    });
  }

  const report = await ReportWriter.open(context.reportDir);
  const tally = new BackfillTally();
  const progress = createProgress(options.dryRun ? 'backfill (dry run)' : 'backfill', context.progress);
  const batchContext: BackfillBatchContext = {
    pool,
    stateSchema,
    runId,
    dryRun: options.dryRun,
    createStateSchemaInTransaction,
    shape,
    scope: options.scope,
    statementTimeoutMs: options.statementTimeoutMs,
    lockTimeoutMs: options.lockTimeoutMs,
    logger,
  };
  let runError: unknown = null;
  try {
    const total = await countRoomsInScope(pool, options.scope);
    logger.info({ rooms: total, database: context.connection.display, dryRun: options.dryRun }, 'Backfill starting');
    progress.start(total);
    const limit = pLimit(options.concurrency);
    const inFlight = new Set<Promise<void>>();
    const runBatch = async (range: RoomRange): Promise<void> => {
      const started = Date.now();
      const results = await migrateRangeIsolated(batchContext, range, context.connection.secrets);
      for (const result of results) {
        tally.add(result);
        await report.writeRoom(result);
      }
      progress.increment(results.length);
      logger.debug({ batch: range, rooms: results.length, durationMs: Date.now() - started }, 'Batch done');
    };
    for await (const range of planRoomRanges(pool, options.scope, options.batchSize)) {
      if (context.stopSignal.aborted) break;
      const task = limit(() => runBatch(range));
      inFlight.add(task);
      task.finally(() => inFlight.delete(task)).catch(() => {});
      // Plan only a little ahead of the workers, so memory stays flat on any database size.
      if (inFlight.size >= options.concurrency * 2) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  } catch (error) {
    runError = error;
  } finally {
    progress.stop();
  }

  const complete = runError === null && !context.stopSignal.aborted;
  const problems = tally.budgetProblems(options);
  let exitCode: ExitCode = problems.length > 0 ? 1 : 0;
  if (runError !== null || context.stopSignal.aborted) exitCode = 3;
  const summary: RunSummary = {
    command: 'backfill',
    runId,
    dryRun: options.dryRun,
    complete,
    startedAt: context.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    exitCode,
    rooms: tally.rooms,
    messages: tally.messages,
    reasons: tally.reasons,
    reportDir: report.dir,
    ...(problems.length > 0 ? { problems } : {}),
    ...(runError !== null ? { error: scrubSecrets(errorMessage(runError), context.connection.secrets) } : {}),
  };
  await report.finish(summary);
  if (!options.dryRun) {
    await recordRunEnd(pool, stateSchema, runId, complete ? 'completed' : runError ? 'failed' : 'incomplete', summary).catch(
      (error: unknown) => logger.warn({ error: errorMessage(error) }, 'Could not record the end of the run'),
    );
  }
  await lease?.release();
  return summary;
}

/**
 * Runs one batch; transient errors are retried. If the database still rejects it, the batch's rooms are
 * retried one by one so that only the failing room is reported `failed` and the rest commit.
 */
async function migrateRangeIsolated(
  context: BackfillBatchContext,
  range: RoomRange,
  secrets: readonly string[],
): Promise<BackfillRoomResult[]> {
  try {
    return await withTransientRetry(() => backfillRange(context, range), (error, attempt) =>
      context.logger.warn({ batch: range, attempt, error: errorMessage(error) }, 'Transient error; retrying the batch'),
    );
  } catch (error) {
    if (isTransient(error)) throw error;
    context.logger.warn({ batch: range, error: scrubSecrets(errorMessage(error), secrets) }, 'Batch rejected; isolating the failing room');
    return await isolateFailingRooms(context, range, secrets);
  }
}

class BackfillTally {
  readonly rooms = emptyRoomCounters();
  readonly messages = { ...emptyMessageCounters(), failed: 0 };
  readonly reasons: ReasonCounts = {};
  /** Memories of rooms that were migrated (or unchanged), and how many of them were skipped. */
  private memoriesOfMigratedRooms = 0;
  private skippedOfMigratedRooms = 0;

  add(result: BackfillRoomResult): void {
    this.rooms.total += 1;
    this.messages.total += result.memories.total;
    this.messages.converted += result.converted ?? 0;
    switch (result.status) {
      case 'migrated':
      case 'unchanged':
        this.rooms[result.status] += 1;
        this.memoriesOfMigratedRooms += result.memories.total;
        this.skippedOfMigratedRooms += result.memories.skipped;
        this.messages.written += result.written?.messages ?? 0;
        this.messages.unchanged += result.memories.migrated - (result.written?.messages ?? 0);
        this.messages.skipped += result.memories.skipped;
        for (const skipped of result.skipped) countReason(this.reasons, skipped.reason);
        for (const note of result.notes ?? []) countReason(this.reasons, note.reason);
        if (result.reasons.includes('artist_missing')) countReason(this.reasons, 'artist_missing');
        break;
      case 'skipped':
      case 'target_deleted':
        if (result.status === 'skipped') this.rooms.skipped += 1;
        else this.rooms.targetDeleted = (this.rooms.targetDeleted ?? 0) + 1;
        this.messages.skipped += result.memories.total;
        for (const code of result.reasons) countReason(this.reasons, code);
        break;
      case 'failed':
        this.rooms.failed += 1;
        this.messages.failed += result.memories.total;
        countReason(this.reasons, 'room_failed');
        break;
    }
  }

  budgetProblems(options: BackfillOptions): string[] {
    const problems: string[] = [];
    const maxFailed = options.maxFailed ?? 0;
    if (this.rooms.failed > maxFailed) {
      problems.push(`${this.rooms.failed} room(s) failed (allowed: ${maxFailed}); see rooms.jsonl lines with "status":"failed".`);
    }
    if (options.maxSkippedRooms !== undefined && this.rooms.skipped > options.maxSkippedRooms) {
      problems.push(`${this.rooms.skipped} rooms were skipped, over --max-skipped-rooms ${options.maxSkippedRooms}.`);
    }
    if (options.maxSkippedRatio !== undefined && this.memoriesOfMigratedRooms > 0) {
      const ratio = this.skippedOfMigratedRooms / this.memoriesOfMigratedRooms;
      if (ratio > options.maxSkippedRatio) {
        problems.push(
          `${(ratio * 100).toFixed(2)}% of the memories of migrated rooms were skipped, over --max-skipped-ratio ${options.maxSkippedRatio}.`,
        );
      }
    }
    return problems;
  }
}
