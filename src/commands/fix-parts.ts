import { countMessagesInScope, planMessageRanges, resolveMessageScope, type MessageRange, type MessageScope, type StoredMessageRow } from '../db/fix-parts-reads.ts';
import { ensurePartsBackupTable, partsBackupExists } from '../db/fix-parts-state.ts';
import { inspectDatabase } from '../db/preflight.ts';
import { recordRunEndOrWarn, recordRunStart } from '../db/runs.ts';
import { analyzeLedgers, stateSchemaExists } from '../db/state-schema.ts';
import { withTransientRetry } from '../db/transactions.ts';
import { CONVERTER_VERSION } from '../migration/convert.ts';
import { ReportWriter } from '../report/report-writer.ts';
import { errorField, summaryHead, type ExitCode, type RunSummary } from '../report/summary.ts';
import { errorMessage } from '../runtime/errors.ts';
import { createProgress } from '../runtime/progress.ts';
import { withCommandLease, type CommandContext } from './context.ts';
import { fixPartsRange, type FixPartsBatchContext } from './fix-parts-batch.ts';
import { FixPartsTally } from './fix-parts-report.ts';
import { walkBatches } from './walk-batches.ts';

export interface FixPartsOptions {
  scope: MessageScope;
  /** chat_messages rows per batch (one read and one write transaction each). */
  batchSize: number;
  concurrency: number;
  dryRun: boolean;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  /** Test seam, see FixPartsBatchContext.beforeWrite. */
  beforeWrite?: (rows: readonly StoredMessageRow[]) => Promise<void>;
}

/**
 * Repairs chat_messages.parts in place: rows the original script wrote are rebuilt from their memories,
 * invalid rows are repaired from themselves, everything else (the app's rows, rows already right) is
 * left byte-identical. Every changed row's old value is backed up first (`--undo <runId>` restores it).
 */
export async function fixParts(options: FixPartsOptions, context: CommandContext): Promise<RunSummary> {
  const { pool, stateSchema } = context;
  await inspectDatabase(pool, { target: true });
  const stateSchemaMissing = options.dryRun && !(await stateSchemaExists(pool, stateSchema));
  return withCommandLease(context, 'fix-parts', options.dryRun, async () => {
    if (!options.dryRun) await analyzeLedgers(context.pool, context.stateSchema);
    return walkAndReport(options, context, stateSchemaMissing);
  });
}

async function walkAndReport(options: FixPartsOptions, context: CommandContext, stateSchemaMissing: boolean): Promise<RunSummary> {
  const { pool, logger, stateSchema, runId } = context;
  if (!options.dryRun) {
    await ensurePartsBackupTable(pool, stateSchema);
    await recordRunStart(pool, stateSchema, {
      runId,
      command: 'fix-parts',
      scope: options.scope,
      options: { batchSize: options.batchSize, concurrency: options.concurrency },
      converterVersion: CONVERTER_VERSION,
    });
  }

  const report = await ReportWriter.open(context.reportDir);
  const tally = new FixPartsTally();
  const progress = createProgress(options.dryRun ? 'fix-parts (dry run)' : 'fix-parts', context.progress);
  let runError: unknown = null;
  try {
    const scope = await resolveMessageScope(pool, options.scope);
    const batchContext: FixPartsBatchContext = {
      pool,
      stateSchema,
      runId,
      dryRun: options.dryRun,
      stateSchemaMissing,
      ownership: { stateSchema, ledger: !stateSchemaMissing, backup: await partsBackupExists(pool, stateSchema) },
      scope,
      statementTimeoutMs: options.statementTimeoutMs,
      lockTimeoutMs: options.lockTimeoutMs,
      showValues: context.showValues,
      logger,
      ...(options.beforeWrite ? { beforeWrite: options.beforeWrite } : {}),
    };
    const total = await countMessagesInScope(pool, scope);
    logger.info({ messages: total, database: context.connection.display, dryRun: options.dryRun }, 'fix-parts starting');
    progress.start(total);
    await walkBatches(planMessageRanges(pool, scope, options.batchSize), { concurrency: options.concurrency, stopSignal: context.stopSignal }, async (range: MessageRange) => {
      const started = Date.now();
      const result = await withTransientRetry(() => fixPartsRange(batchContext, range), (error, attempt) =>
        logger.warn({ batch: range, attempt, error: errorMessage(error) }, 'Transient error; retrying the batch'),
      );
      for (const chat of result.chats) tally.add(chat);
      tally.converted += result.conversions;
      progress.increment(result.rows);
      logger.debug({ batch: range, messages: result.rows, durationMs: Date.now() - started }, 'Batch done');
    });
  } catch (error) {
    runError = error;
  } finally {
    progress.stop();
  }

  for (const line of tally.lines()) await report.writeRoom(line);
  const complete = runError === null && !context.stopSignal.aborted;
  const problems = tally.classes.unrepairable > 0
    ? [`${tally.classes.unrepairable} message(s) cannot be repaired and were left as they are; see rooms.jsonl lines with "status":"unrepairable".`]
    : [];
  let exitCode: ExitCode = problems.length > 0 ? 1 : 0;
  if (!complete) exitCode = 3;
  const summary: RunSummary = {
    ...summaryHead('fix-parts', context, { dryRun: options.dryRun, complete, exitCode }),
    messages: tally.messageCounters(),
    classes: tally.classes,
    chats: tally.chatCounts(),
    reasons: tally.reasons,
    reportDir: report.dir,
    ...(problems.length > 0 ? { problems } : {}),
    ...errorField(runError, context.connection.secrets),
  };
  await report.finish(summary);
  logger.info({ classes: tally.classes, dryRun: options.dryRun }, 'fix-parts done');
  if (!options.dryRun) {
    await recordRunEndOrWarn(pool, stateSchema, runId, complete ? 'completed' : runError !== null ? 'failed' : 'incomplete', summary, logger);
  }
  return summary;
}
