import { resolveMessageScope, type MessageScope } from '../../engine/message-scope.ts';
import type { StoredMessageRow } from './reads.ts';
import { ensurePartsBackupTable, partsBackupExists } from '../../engine/parts-backup.ts';
import { messageKeyset } from '../../engine/keysets.ts';
import { inspectDatabase } from '../../engine/preflight.ts';
import { recordRunEndOrWarn } from '../../engine/runs.ts';
import { analyzeLedgers, stateSchemaExists } from '../../engine/state-schema.ts';
import { finishedBatchStats } from '../../engine/work-queue.ts';
import { countReason, type ReasonCode, type ReasonCounts } from '../../migration/reasons.ts';
import { ReportWriter } from '../../report/report-writer.ts';
import { addCounters, errorField, summaryHead, type ExitCode, type RunSummary } from '../../report/summary.ts';
import { createProgress } from '../../engine/progress.ts';
import { runBatches, runnerConfig, type StopReason, type WalkSettings } from '../../engine/batch-runner.ts';
import { withSharedRun, type CommandContext, type SharedRun } from '../../engine/context.ts';
import { isolateFailingMessages } from './isolate.ts';
import { fixPartsRange, type BatchResult, type FixPartsBatchContext } from './batch.ts';
import { FixPartsTally, type ClassCounts } from './report.ts';

/** batchSize counts chat_messages rows (one read and one write transaction per batch). */
export interface FixPartsOptions extends WalkSettings {
  scope: MessageScope;
  dryRun: boolean;
  /** Test seam, see FixPartsBatchContext.beforeWrite. */
  beforeWrite?: (rows: readonly StoredMessageRow[]) => Promise<void>;
}

/** A batch's counters as stored with it in the state schema, for run-wide totals. */
interface FixPartsBatchStats {
  classes: ClassCounts;
  reasons: ReasonCounts;
  converted: number;
}

/**
 * Repairs chat_messages.parts in place: rows the original script wrote are rebuilt from their memories
 * (or removed, where the converter skips the memory), invalid rows are repaired from themselves, rows
 * an earlier converter wrote are upgraded, everything else (the app's rows, rows already right) is
 * left byte-identical. Every changed row's old value is backed up first (`--undo <runId>` restores it).
 * Several processes started with the same scope join one run and share its batches.
 */
export async function fixParts(options: FixPartsOptions, context: CommandContext): Promise<RunSummary> {
  const { pool, stateSchema } = context;
  await inspectDatabase(pool, { target: true, writes: { chat_messages: ['UPDATE', 'DELETE'] }, state: { schema: stateSchema, write: true } });
  if (options.dryRun) {
    const stateSchemaMissing = !(await stateSchemaExists(pool, stateSchema));
    return walkAndReport(options, context, { runId: context.runId, joined: false, reportDir: context.reportDir }, stateSchemaMissing);
  }
  const identity = {
    command: 'fix-parts',
    scope: { chats: options.scope.chats, since: options.scope.since, limit: options.scope.limit },
    options: { batchSize: options.batchSize, concurrency: options.concurrency },
  };
  return withSharedRun(context, identity, async (run) => {
    await ensurePartsBackupTable(pool, stateSchema);
    if (!run.joined) await analyzeLedgers(pool, stateSchema);
    return walkAndReport(options, context, run, false);
  });
}

async function walkAndReport(options: FixPartsOptions, context: CommandContext, run: SharedRun, stateSchemaMissing: boolean): Promise<RunSummary> {
  const { pool, logger, stateSchema } = context;
  const { runId } = run;
  const shared = !options.dryRun;
  const report = await ReportWriter.open(run.reportDir);
  const tally = new FixPartsTally();
  const progress = createProgress(options.dryRun ? 'fix-parts (dry run)' : 'fix-parts', context.progress, 'messages');
  let runError: unknown = null;
  // The keys in scope when the walk started, for "walked N of M" when it stops early.
  let inScope: number | null = null;
  let stopReason: StopReason | null = null;
  try {
    const scope = await resolveMessageScope(pool, options.scope);
    const keyset = messageKeyset(scope);
    const batchContext: FixPartsBatchContext = {
      pool,
      stateSchema,
      runId,
      dryRun: options.dryRun,
      ownership: { stateSchema, ledger: !stateSchemaMissing, backup: await partsBackupExists(pool, stateSchema) },
      scope,
      statementTimeoutMs: options.statementTimeoutMs,
      lockTimeoutMs: options.lockTimeoutMs,
      showValues: context.showValues,
      logger,
      ...(options.beforeWrite ? { beforeWrite: options.beforeWrite } : {}),
    };
    const total = await keyset.count(pool);
    inScope = total;
    logger.info({ messages: total, database: context.connection.display, dryRun: options.dryRun, runId }, 'fix-parts starting');
    progress.start(total);
    stopReason = await runBatches<BatchResult>(
      runnerConfig(context, { runId, keyset: keyset, shared: shared, total }, options, progress),
      {
        run: (range, beforeCommit) => fixPartsRange(batchContext, range, beforeCommit),
        isolate: (range) => isolateFailingMessages(batchContext, range, context.connection.secrets),
        keys: (result) => result.rows,
        stats: (result) => statsOf(result),
        onResults: async (result) => {
          for (const chat of result.chats) tally.add(chat);
          tally.converted += result.conversions;
          progress.increment(result.rows);
        },
      },
    );
  } catch (error) {
    runError = error;
  } finally {
    progress.stop();
  }

  // A chat's messages may be spread over several workers' batches: each worker reports the rows it did.
  for (const line of tally.lines()) await report.writeRoom(line);
  const complete = runError === null && stopReason === 'done';
  const runTotals = complete && shared ? totalsOf(await finishedBatchStats(pool, stateSchema, runId)) : null;
  const { unrepairable, failed } = (runTotals ?? tally).classes;
  const where = run.joined || runTotals ? ' (in the reports of the run\'s workers)' : '';
  const problems = [
    ...(unrepairable > 0 ? [`${unrepairable} message(s) cannot be repaired and were left as they are; see rooms.jsonl lines with "status":"unrepairable"${where}.`] : []),
    ...(failed > 0 ? [`${failed} message(s) failed: the database rejected their write (room_failed, with its error); see rooms.jsonl lines with "status":"failed"${where}.`] : []),
  ];
  // A clean stop at --time-budget is exit 0 with complete: false; a signal or a failure is exit 3.
  let exitCode: ExitCode = problems.length > 0 ? 1 : 0;
  if (runError !== null || stopReason === 'signal') exitCode = 3;
  const summary: RunSummary = {
    ...summaryHead('fix-parts', { runId, startedAt: context.startedAt }, { dryRun: options.dryRun, complete, exitCode }),
    messages: tally.messageCounters(),
    classes: tally.classes,
    chats: tally.chatCounts(),
    reasons: tally.reasons,
    reportDir: report.dir,
    ...(inScope !== null ? { inScope: { messages: inScope } } : {}),
    ...(run.joined ? { joinedRun: true } : {}),
    ...(runTotals ? { runTotals: { messages: runTotals.messageCounters(), classes: runTotals.classes, reasons: runTotals.reasons } } : {}),
    ...(stopReason && stopReason !== 'done' ? { stoppedBy: stopReason } : {}),
    ...(problems.length > 0 ? { problems } : {}),
    ...errorField(runError, context.connection.secrets),
  };
  await report.finish(summary);
  logger.info({ classes: tally.classes, dryRun: options.dryRun }, 'fix-parts done');
  if (shared && (complete || runError !== null)) {
    await recordRunEndOrWarn(pool, stateSchema, runId, complete ? 'completed' : 'failed', summary, logger);
  }
  return summary;
}

function statsOf(result: BatchResult): FixPartsBatchStats {
  const batch = new FixPartsTally();
  for (const chat of result.chats) batch.add(chat);
  return { classes: batch.classes, reasons: batch.reasons, converted: result.conversions };
}

/** The whole run's counters, from every finished batch's stored stats (whichever worker did it). */
function totalsOf(batches: object[]): FixPartsTally {
  const totals = new FixPartsTally();
  for (const stats of batches as FixPartsBatchStats[]) {
    addCounters(totals.classes, stats.classes);
    for (const [code, count] of Object.entries(stats.reasons) as [ReasonCode, number][]) countReason(totals.reasons, code, count);
    totals.converted += stats.converted;
  }
  return totals;
}
