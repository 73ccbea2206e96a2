import { inspectDatabase } from '../../engine/preflight.ts';
import { recordRunEndOrWarn } from '../../engine/runs.ts';
import type { RoomScope } from '../../engine/source-reads.ts';
import type { DatabaseShape } from '../../engine/preflight.ts';
import { analyzeLedgers } from '../../engine/state-schema.ts';
import { ensurePartsBackupTable } from '../../engine/parts-backup.ts';
import { roomKeyset } from '../../engine/keysets.ts';
import { finishedBatchStats } from '../../engine/work-queue.ts';
import { ReportWriter } from '../../report/report-writer.ts';
import type { BackfillRoomResult } from '../../report/room-result.ts';
import { errorField, summaryHead, type ExitCode, type RunSummary } from '../../report/summary.ts';
import { createProgress } from '../../engine/progress.ts';
import { backfillRange, type BackfillBatchContext } from './batch.ts';
import { isolateFailingRooms } from './isolate.ts';
import { BackfillTally, type BackfillBudgets, type BackfillStats } from './tally.ts';
import { runBatches, runnerConfig, type StopReason, type WalkSettings } from '../../engine/batch-runner.ts';
import { withSharedRun, type CommandContext, type SharedRun } from '../../engine/context.ts';
import { reportMemoriesWithoutRoom } from '../../engine/memories-without-room.ts';

export interface BackfillOptions extends BackfillBudgets, WalkSettings {
  scope: RoomScope;
  dryRun: boolean;
}

/**
 * rooms → sessions + chats, memories → chat_messages: plan → read → convert → write → report.
 * Several processes started with the same scope join one run and share its batches.
 */
export async function backfill(options: BackfillOptions, context: CommandContext): Promise<RunSummary> {
  const { pool, stateSchema } = context;
  const shape = await inspectDatabase(pool, { target: true, writes: { sessions: ['INSERT', 'UPDATE'], chats: ['INSERT', 'UPDATE'], chat_messages: ['INSERT', 'UPDATE'] }, state: { schema: stateSchema, write: true } });
  if (options.dryRun) {
    // A dry run records no run and takes no lease (both are writes); it may not even create the schema
    // (its batches run the state DDL they need in their rolled-back transactions).
    return walkAndReport(options, context, { runId: context.runId, joined: false, reportDir: context.reportDir, shape });
  }
  const identity = { command: 'backfill', scope: options.scope, options: { batchSize: options.batchSize, concurrency: options.concurrency } };
  return withSharedRun(context, identity, async (run) => {
    await ensurePartsBackupTable(pool, stateSchema);
    return walkAndReport(options, context, { ...run, shape });
  });
}

interface RunChoice extends SharedRun {
  shape: DatabaseShape;
}

async function walkAndReport(options: BackfillOptions, context: CommandContext, run: RunChoice): Promise<RunSummary> {
  const { pool, logger, stateSchema } = context;
  const { runId, joined, reportDir, shape } = run;
  const report = await ReportWriter.open(reportDir);
  const tally = new BackfillTally();
  const progress = createProgress(options.dryRun ? 'backfill (dry run)' : 'backfill', context.progress, 'rooms');
  const batchContext: BackfillBatchContext = {
    pool,
    stateSchema,
    runId,
    dryRun: options.dryRun,
    shape,
    scope: options.scope,
    statementTimeoutMs: options.statementTimeoutMs,
    lockTimeoutMs: options.lockTimeoutMs,
    logger,
  };
  let runError: unknown = null;
  // The keys in scope when the walk started, for "walked N of M" when it stops early.
  let inScope: number | null = null;
  let stopReason: StopReason | null = null;
  try {
    const keyset = roomKeyset(options.scope);
    const total = await keyset.count(pool);
    inScope = total;
    logger.info({ rooms: total, database: context.connection.display, dryRun: options.dryRun, runId }, 'Backfill starting');
    progress.start(total);
    stopReason = await runBatches<BackfillRoomResult[]>(
      runnerConfig(context, { runId, keyset, shared: !options.dryRun, total }, options, progress),
      {
        run: (range, beforeCommit) => backfillRange(batchContext, range, undefined, beforeCommit),
        isolate: (range) => isolateFailingRooms(batchContext, range, context.connection.secrets),
        keys: (results) => results.length,
        stats: (results) => BackfillTally.of(results).stats,
        onResults: async (results) => {
          for (const result of results) {
            tally.add(result);
            await report.writeRoom(result);
          }
          progress.increment(results.length);
        },
      },
    );
  } catch (error) {
    runError = error;
  } finally {
    progress.stop();
  }

  const complete = runError === null && stopReason === 'done';
  // A walk of every room also accounts for the memories no room holds (room_id null): listed, and counted.
  const withoutRoom = complete ? await reportMemoriesWithoutRoom(pool, options.scope, report) : null;
  // Fresh ledger statistics for the next run's plans. A run that converted nothing (every room unchanged
  // since its ledger entry) wrote no ledger row and skips it: it is about a tenth of a re-run's time on a
  // large ledger. A run that only adopted the original script's rows did convert, and does analyse.
  const touchedLedgers = tally.stats.rooms.migrated > 0 || tally.stats.messages.converted > 0;
  if (!options.dryRun && touchedLedgers) await analyzeLedgers(pool, stateSchema).catch(() => {});
  let runTotals: BackfillStats | undefined;
  if (complete && !options.dryRun) {
    const totals = new BackfillTally();
    for (const stats of await finishedBatchStats(pool, stateSchema, runId)) totals.merge(stats as BackfillStats);
    runTotals = totals.stats;
  }
  const problems = (runTotals ? Object.assign(new BackfillTally(), { stats: runTotals }) : tally).budgetProblems(options);
  // A clean stop at --time-budget is exit 0 with complete: false; a signal or a failure is exit 3.
  let exitCode: ExitCode = problems.length > 0 ? 1 : 0;
  if (runError !== null || stopReason === 'signal') exitCode = 3;
  const summary: RunSummary = {
    ...summaryHead('backfill', { runId, startedAt: context.startedAt }, { dryRun: options.dryRun, complete, exitCode }),
    rooms: tally.stats.rooms,
    messages: tally.stats.messages,
    reasons: withoutRoom ? { ...tally.stats.reasons, memory_no_room: withoutRoom.memories } : tally.stats.reasons,
    ...(withoutRoom ? { withoutRoom } : {}),
    reportDir: report.dir,
    ...(inScope !== null ? { inScope: { rooms: inScope } } : {}),
    ...(joined ? { joinedRun: true } : {}),
    ...(runTotals ? { runTotals: { rooms: runTotals.rooms, messages: runTotals.messages, reasons: runTotals.reasons } } : {}),
    ...(stopReason && stopReason !== 'done' ? { stoppedBy: stopReason } : {}),
    ...(problems.length > 0 ? { problems } : {}),
    ...errorField(runError, context.connection.secrets),
  };
  await report.finish(summary);
  if (!options.dryRun && (complete || runError !== null)) {
    await recordRunEndOrWarn(pool, stateSchema, runId, complete ? 'completed' : 'failed', summary, logger);
  }
  return summary;
}
