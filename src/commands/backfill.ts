import { acquireLease, type HeldLease } from '../db/leases.ts';
import { inspectDatabase } from '../db/preflight.ts';
import { recordRunEndOrWarn } from '../db/runs.ts';
import { quoteIdent } from '../db/sql-files.ts';
import { countRoomsInScope, type RoomScope } from '../db/source-reads.ts';
import type { DatabaseShape } from '../db/preflight.ts';
import { analyzeLedgers, ensureStateSchema, stateSchemaExists } from '../db/state-schema.ts';
import type { ThrottleLimits } from '../db/throttle.ts';
import { roomKeyset } from '../db/keysets.ts';
import { finishedBatchStats, joinOrStartRun } from '../db/work-queue.ts';
import { CONVERTER_VERSION } from '../migration/convert.ts';
import { ReportWriter } from '../report/report-writer.ts';
import type { BackfillRoomResult } from '../report/room-result.ts';
import { errorField, summaryHead, type ExitCode, type RunSummary } from '../report/summary.ts';
import { createProgress } from '../runtime/progress.ts';
import { backfillRange, type BackfillBatchContext } from './backfill-batch.ts';
import { isolateFailingRooms } from './backfill-isolate.ts';
import { BackfillTally, type BackfillBudgets, type BackfillStats } from './backfill-tally.ts';
import { runBatches, runnerConfig, type StopReason } from './batch-runner.ts';
import type { CommandContext } from './context.ts';

/** After a clean stop (signal, time budget): a run no live worker holds any more is incomplete. */
async function markIncompleteIfAbandoned(context: CommandContext, runId: string): Promise<void> {
  const state = quoteIdent(context.stateSchema);
  await context.pool
    .query(
      `update ${state}.runs set status = 'incomplete', finished_at = now()
        where run_id = $1 and status = 'running'
          and not exists (select 1 from ${state}.leases where run_id = $1 and expires_at > now())`,
      [runId],
    )
    .catch(() => {});
}

export interface BackfillOptions extends BackfillBudgets {
  scope: RoomScope;
  batchSize: number;
  concurrency: number;
  dryRun: boolean;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  targetBatchMs?: number | undefined;
  timeBudgetMs?: number | undefined;
  throttle: ThrottleLimits | null;
}

/**
 * rooms → sessions + chats, memories → chat_messages: plan → read → convert → write → report.
 * Several processes started with the same scope join one run and share its batches.
 */
export async function backfill(options: BackfillOptions, context: CommandContext): Promise<RunSummary> {
  const { pool, logger, stateSchema } = context;
  const shape = await inspectDatabase(pool, { target: true });
  let runId = context.runId;
  let joined = false;
  let lease: HeldLease | null = null;
  let createStateSchemaInTransaction = false;
  if (options.dryRun) {
    createStateSchemaInTransaction = !(await stateSchemaExists(pool, stateSchema));
  } else {
    await ensureStateSchema(pool, stateSchema);
    lease = await acquireLease(pool, stateSchema, {
      command: 'backfill',
      runId,
      chooseRun: async (client) => {
        const chosen = await joinOrStartRun(client, stateSchema, context.runId, {
          command: 'backfill',
          scope: options.scope,
          options: { batchSize: options.batchSize, concurrency: options.concurrency },
          converterVersion: CONVERTER_VERSION,
        });
        joined = chosen.joined;
        return chosen.runId;
      },
    });
    runId = lease.runId;
    if (joined) logger.info({ runId }, 'Joining the backfill run already in progress with the same scope');
  }
  let summary: RunSummary;
  try {
    summary = await walkAndReport(options, context, { runId, joined, createStateSchemaInTransaction, shape });
  } finally {
    await lease?.release();
  }
  // Only once this worker's lease is gone can it tell whether any live worker still holds the run.
  if (!options.dryRun && !summary.complete && summary.error === undefined) await markIncompleteIfAbandoned(context, runId);
  return summary;
}

interface RunChoice {
  runId: string;
  /** This process joined a run already in progress with the same scope. */
  joined: boolean;
  createStateSchemaInTransaction: boolean;
  shape: DatabaseShape;
}

async function walkAndReport(options: BackfillOptions, context: CommandContext, run: RunChoice): Promise<RunSummary> {
  const { pool, logger, stateSchema } = context;
  const { runId, joined, createStateSchemaInTransaction, shape } = run;
  // Two workers of one run on one machine must not share a report folder.
  const reportDir = joined && context.reportDir.endsWith(context.runId) ? `${context.reportDir.slice(0, -context.runId.length)}${runId}-${process.pid}` : context.reportDir;
  const report = await ReportWriter.open(reportDir);
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
  let stopReason: StopReason | null = null;
  try {
    const total = await countRoomsInScope(pool, options.scope);
    logger.info({ rooms: total, database: context.connection.display, dryRun: options.dryRun, runId }, 'Backfill starting');
    progress.start(total);
    stopReason = await runBatches<BackfillRoomResult[]>(
      runnerConfig(context, { runId, keyset: roomKeyset(options.scope), shared: !options.dryRun, total }, options, progress),
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
  // Fresh ledger statistics for the next run's plans; a re-run that changed nothing skips it (it is
  // about a tenth of a re-run's time on a large ledger).
  if (!options.dryRun && tally.stats.rooms.migrated > 0) await analyzeLedgers(pool, stateSchema).catch(() => {});
  let runTotals: BackfillStats | undefined;
  if (complete && !options.dryRun && joined) {
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
    reasons: tally.stats.reasons,
    reportDir: report.dir,
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
