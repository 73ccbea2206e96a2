import { assertNoConflictingLease } from '../db/leases.ts';
import { inspectDatabase } from '../db/preflight.ts';
import { countRoomsInScope, planRoomRanges, type RoomRange, type RoomScope } from '../db/source-reads.ts';
import { stateSchemaExists } from '../db/state-schema.ts';
import { withTransientRetry } from '../db/transactions.ts';
import { Baseline, type BaselineCounts } from '../report/baseline.ts';
import { ReportWriter } from '../report/report-writer.ts';
import { errorField, summaryHead, type ExitCode, type MessageCounters, type RoomCounters, type RunSummary } from '../report/summary.ts';
import { errorMessage } from '../runtime/errors.ts';
import { createProgress } from '../runtime/progress.ts';
import type { CommandContext } from './context.ts';
import { reconcileRange, type ReconcileBatchContext } from './reconcile-batch.ts';
import type { RoomVerdict } from './reconcile-line.ts';
import { ReconcileTally } from './reconcile-tally.ts';
import { walkBatches } from './walk-batches.ts';

export interface ReconcileOptions {
  scope: RoomScope;
  batchSize: number;
  concurrency: number;
  /** --sample: audit this fraction (0..1] of the rooms in scope, chosen by a hash of the room id. */
  sample?: number | undefined;
  /** --baseline: rooms.jsonl of an earlier reconcile; only drift not in it fails the run. */
  baseline?: string | undefined;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

// --show-values: how much of a value a report line carries.
const SHOWN_VALUE_CHARS = 200;

/**
 * Audits the target against the source, room by room, and reads only: every batch runs in a read-only
 * transaction, and it takes no lease and records no run (a lease row is a write; see
 * docs/decisions.md), but it refuses to start while drop-legacy or restore holds one. Exit 1 on drift (with --baseline: on drift the baseline lacks).
 */
export async function reconcile(options: ReconcileOptions, context: CommandContext): Promise<RunSummary> {
  const { pool, logger } = context;
  const shape = await inspectDatabase(pool, { target: true });
  const baseline = options.baseline ? await Baseline.load(options.baseline) : null;
  const ledgerSchema = (await stateSchemaExists(pool, context.stateSchema)) ? context.stateSchema : null;
  // A teardown in progress would pull the legacy tables from under the audit.
  if (ledgerSchema) await assertNoConflictingLease(pool, ledgerSchema, { command: 'reconcile', runId: context.runId });
  const batchContext: ReconcileBatchContext = {
    pool,
    shape,
    scope: options.scope,
    sample: options.sample,
    ledgerSchema,
    statementTimeoutMs: options.statementTimeoutMs,
    lockTimeoutMs: options.lockTimeoutMs,
    judge: { showValues: context.showValues, valueChars: SHOWN_VALUE_CHARS },
  };
  const report = await ReportWriter.open(context.reportDir);
  const tally = new ReconcileTally();
  const progress = createProgress('reconcile', context.progress);

  const record = async (verdict: RoomVerdict): Promise<void> => {
    if (baseline) {
      const { known, fixed } = baseline.judgeRoom(verdict.line.roomId, verdict.line.drift);
      verdict.line.drift.forEach((item, index) => (item.known = known[index]));
      if (fixed.length > 0) verdict.line.fixed = fixed.map(({ code, id }) => ({ code, id }));
    }
    tally.add(verdict);
    await report.writeRoom(verdict.line);
  };

  let runError: unknown = null;
  try {
    const total = await countRoomsInScope(pool, options.scope);
    logger.info({ rooms: total, database: context.connection.display, ledger: ledgerSchema !== null, sample: options.sample }, 'Reconcile starting');
    progress.start(total);
    await walkBatches(planRoomRanges(pool, options.scope, options.batchSize), { concurrency: options.concurrency, stopSignal: context.stopSignal }, async (range: RoomRange) => {
      const outcome = await withTransientRetry(() => reconcileRange(batchContext, range), (error, attempt) =>
        logger.warn({ batch: range, attempt, error: errorMessage(error) }, 'Transient error; retrying the batch'),
      );
      for (const verdict of outcome.verdicts) await record(verdict);
      progress.increment(outcome.walked);
    });
  } catch (error) {
    runError = error;
  } finally {
    progress.stop();
  }

  const complete = runError === null && !context.stopSignal.aborted;
  const baselineCounts = baseline?.finish();
  const failing = baselineCounts ? baselineCounts.new : tally.driftItems;
  let exitCode: ExitCode = failing > 0 ? 1 : 0;
  if (!complete) exitCode = 3;
  const summary: RunSummary = {
    ...summaryHead('reconcile', context, { dryRun: false, complete, exitCode }),
    // Counters that do not apply to reconcile (migrated, written, ...) are absent, as the contract allows.
    rooms: tally.rooms as unknown as RoomCounters,
    messages: tally.messages as unknown as MessageCounters,
    reasons: tally.reasons,
    reportDir: report.dir,
    ledger: ledgerSchema !== null,
    app: tally.app,
    ...(options.sample !== undefined ? { sample: options.sample } : {}),
    ...(baseline && baselineCounts ? { baseline: { path: baseline.path, ...baselineCounts } } : {}),
    ...(failing > 0 ? { problems: [describeDrift(tally, baselineCounts)] } : {}),
    ...errorField(runError, context.connection.secrets),
  };
  await report.finish(summary);
  return summary;
}

function describeDrift(tally: ReconcileTally, baseline: BaselineCounts | undefined): string {
  const found = `${tally.driftItems} drift item(s) in ${tally.rooms.drift} room(s)`;
  const where = 'see rooms.jsonl lines with "status":"drift"';
  if (!baseline) return `${found}; ${where}.`;
  return `${found}: ${baseline.new} new since the baseline, ${baseline.known} known, ${baseline.fixed} fixed since; ${where} and items without "known":true.`;
}
