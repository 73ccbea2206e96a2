import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { roomKeyset } from '../../engine/keysets.ts';
import { assertNoConflictingLease } from '../../engine/leases.ts';
import { inspectDatabase, type DatabaseShape } from '../../engine/preflight.ts';
import { recordRunEndOrWarn } from '../../engine/runs.ts';
import type { RoomScope } from '../../engine/source-reads.ts';
import { ledgerHasRowXmin, stateSchemaExists } from '../../engine/state-schema.ts';
import { finishedBatchStats } from '../../engine/work-queue.ts';
import { countReason, type ReasonCode, type ReasonCounts } from '../../migration/reasons.ts';
import { Baseline, type BaselineCounts } from './baseline.ts';
import { ReportWriter } from '../../report/report-writer.ts';
import { addCounters, errorField, summaryHead, type ExitCode, type MessageCounters, type RoomCounters, type RunSummary } from '../../report/summary.ts';
import { createProgress } from '../../engine/progress.ts';
import { markDoneAlone, runBatches, runnerConfig, type StopReason, type WalkSettings } from '../../engine/batch-runner.ts';
import { withSharedRun, type CommandContext, type SharedRun } from '../../engine/context.ts';
import { reconcileRange, type BatchOutcome, type ReconcileBatchContext } from './batch.ts';
import type { RoomVerdict } from './line.ts';
import { ReconcileTally, type ReconcileMessageCounters, type ReconcileRoomCounters } from './tally.ts';
import { reportMemoriesWithoutRoom } from '../../engine/memories-without-room.ts';

export interface ReconcileOptions extends WalkSettings {
  scope: RoomScope;
  /** --sample: audit this fraction (0..1] of the rooms in scope, chosen by a hash of the room id. */
  sample?: number | undefined;
  /** --baseline: rooms.jsonl of an earlier reconcile; only drift not in it fails the run. */
  baseline?: string | undefined;
  /**
   * --shared: record a run and its batches in the state schema (the tool's own schema, never the
   * production tables), so that several processes started with the same scope split the rooms.
   */
  shared?: boolean | undefined;
  /** --full: convert and compare every room, whatever the ledger says (what catches a converter bug). */
  full?: boolean | undefined;
}

// --show-values: how much of a value a report line carries (explain shows as much).
export const SHOWN_VALUE_CHARS = 200;

/** A batch's counters as stored with it in the state schema (--shared), for run-wide totals. */
interface ReconcileBatchStats {
  rooms: ReconcileRoomCounters;
  messages: ReconcileMessageCounters;
  reasons: ReasonCounts;
  app: { renamed: number; archived: number };
  compared?: { byDigest: number; inFull: number };
  driftItems: number;
  baseline?: { known: number; new: number; fixed: number };
}

/**
 * Audits the target against the source, room by room, and reads only: every batch runs in a read-only
 * transaction, and by default it takes no lease and records no run (a lease row is a write; see
 * docs/decisions.md), but it refuses to start while drop-legacy or restore holds one. With --shared it
 * records a run and its batches in the state schema so that several processes split the rooms (the
 * target is still only read). Exit 1 on drift (with --baseline: on drift the baseline lacks).
 */
export async function reconcile(options: ReconcileOptions, context: CommandContext): Promise<RunSummary> {
  const { pool, stateSchema } = context;
  const shape = await inspectDatabase(pool, { target: true, state: { schema: stateSchema, write: options.shared === true } });
  const baseline = options.baseline ? await Baseline.load(options.baseline) : null;
  // An empty ledger says nothing that no ledger does not; --shared creates the schema, so decide first.
  const ledgerSchema = (await stateSchemaExists(pool, stateSchema)) ? stateSchema : null;
  if (!options.shared) {
    // A teardown in progress would pull the legacy tables from under the audit.
    if (ledgerSchema) await assertNoConflictingLease(pool, ledgerSchema, { command: 'reconcile', runId: context.runId });
    return walkAndReport(options, context, { runId: context.runId, joined: false, reportDir: context.reportDir }, { shape, baseline, ledgerSchema });
  }
  const identity = {
    command: 'reconcile',
    // The baseline is part of what a run judges by: a worker with one and a worker without must not share
    // a run, or the baseline's exit decision would cover rooms the other judged by their raw drift.
    scope: {
      rooms: options.scope.rooms,
      since: options.scope.since,
      limit: options.scope.limit,
      sample: options.sample,
      full: options.full === true ? true : undefined,
      baseline: options.baseline ? createHash('sha256').update(await readFile(options.baseline)).digest('hex') : undefined,
    },
    options: { batchSize: options.batchSize, concurrency: options.concurrency },
  };
  // The lease (exclusion with drop-legacy and restore) is taken through the shared run.
  return withSharedRun(context, identity, (run) => walkAndReport(options, context, run, { shape, baseline, ledgerSchema }));
}

interface AuditInputs {
  shape: DatabaseShape;
  baseline: Baseline | null;
  ledgerSchema: string | null;
}

async function walkAndReport(options: ReconcileOptions, context: CommandContext, run: SharedRun, inputs: AuditInputs): Promise<RunSummary> {
  const { pool, logger, stateSchema } = context;
  const { baseline, ledgerSchema } = inputs;
  const shared = options.shared === true;
  const batchContext: ReconcileBatchContext = {
    pool,
    shape: inputs.shape,
    scope: options.scope,
    sample: options.sample,
    ledgerSchema,
    full: options.full === true,
    ledgerHasRowXmin: ledgerSchema !== null && (await ledgerHasRowXmin(pool, ledgerSchema)),
    statementTimeoutMs: options.statementTimeoutMs,
    lockTimeoutMs: options.lockTimeoutMs,
    judge: { showValues: context.showValues, valueChars: SHOWN_VALUE_CHARS },
  };
  const report = await ReportWriter.open(run.reportDir);
  const tally = new ReconcileTally();
  const progress = createProgress('reconcile', context.progress, 'rooms');
  const judge = new BaselineJudge(baseline);
  const keyset = roomKeyset(options.scope);

  let runError: unknown = null;
  // The keys in scope when the walk started, for "walked N of M" when it stops early.
  let inScope: number | null = null;
  let stopReason: StopReason | null = null;
  try {
    const total = await keyset.count(pool);
    inScope = total;
    logger.info({ rooms: total, database: context.connection.display, ledger: ledgerSchema !== null, sample: options.sample, runId: run.runId }, 'Reconcile starting');
    progress.start(total);
    stopReason = await runBatches<BatchOutcome>(
      runnerConfig(context, { runId: run.runId, keyset: keyset, shared: shared, total }, options, progress),
      {
        run: async (range, beforeCommit) => {
          const outcome = await reconcileRange(batchContext, range);
          for (const verdict of outcome.verdicts) judge.judge(verdict);
          // The audit itself is read-only; a shared run marks the batch done in a write transaction of its own.
          if (beforeCommit) await markDoneAlone(pool, (client) => beforeCommit(client, outcome));
          return outcome;
        },
        keys: (outcome) => outcome.walked,
        stats: (outcome) => statsOf(outcome.verdicts, baseline !== null),
        onResults: async (outcome) => {
          for (const verdict of outcome.verdicts) {
            tally.add(verdict);
            await report.writeRoom(verdict.line);
            judge.forget(verdict.line.roomId);
          }
          progress.increment(outcome.walked);
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
  const baselineCounts = baseline?.finish();
  const runTotals = shared && complete ? totalsOf(await finishedBatchStats(pool, stateSchema, run.runId)) : null;
  const failing = runTotals
    ? (runTotals.baseline?.new ?? runTotals.driftItems)
    : baselineCounts
      ? baselineCounts.new
      : tally.driftItems;
  // A clean stop at --time-budget is exit 0 with complete: false; a signal or a failure is exit 3.
  let exitCode: ExitCode = failing > 0 ? 1 : 0;
  if (runError !== null || stopReason === 'signal') exitCode = 3;
  const summary: RunSummary = {
    ...summaryHead('reconcile', { runId: run.runId, startedAt: context.startedAt }, { dryRun: false, complete, exitCode }),
    // Counters that do not apply to reconcile (migrated, written, ...) are absent, as the contract allows.
    rooms: tally.rooms as unknown as RoomCounters,
    messages: tally.messages as unknown as MessageCounters,
    reasons: withoutRoom ? { ...tally.reasons, memory_no_room: withoutRoom.memories } : tally.reasons,
    ...(withoutRoom ? { withoutRoom } : {}),
    reportDir: report.dir,
    ...(inScope !== null ? { inScope: { rooms: inScope } } : {}),
    ledger: ledgerSchema !== null,
    full: options.full === true,
    compared: tally.compared,
    app: tally.app,
    ...(options.sample !== undefined ? { sample: options.sample } : {}),
    // In a shared run, rooms other workers walked are not "not walked": that count is left out.
    ...(baseline && baselineCounts ? { baseline: { path: baseline.path, ...(shared ? withoutNotWalked(baselineCounts) : baselineCounts) } } : {}),
    ...(shared ? { shared: true } : {}),
    ...(run.joined ? { joinedRun: true } : {}),
    ...(runTotals ? { runTotals } : {}),
    ...(stopReason && stopReason !== 'done' ? { stoppedBy: stopReason } : {}),
    ...(failing > 0 ? { problems: [describeDrift(runTotals ?? { driftItems: tally.driftItems, rooms: tally.rooms }, runTotals ? runTotals.baseline : baselineCounts)] } : {}),
    ...errorField(runError, context.connection.secrets),
  };
  await report.finish(summary);
  if (shared && (complete || runError !== null)) {
    await recordRunEndOrWarn(pool, stateSchema, run.runId, complete ? 'completed' : 'failed', summary, logger);
  }
  return summary;
}

/**
 * Judges each room against the baseline once, even when its batch is retried (Baseline.judgeRoom
 * consumes the room's baseline items): a retried batch reuses the first judgement.
 */
class BaselineJudge {
  private readonly judged = new Map<string, ReturnType<Baseline['judgeRoom']>>();

  constructor(private readonly baseline: Baseline | null) {}

  judge(verdict: RoomVerdict): void {
    if (!this.baseline) return;
    const line = verdict.line;
    let judgement = this.judged.get(line.roomId);
    if (!judgement) {
      judgement = this.baseline.judgeRoom(line.roomId, line.drift);
      this.judged.set(line.roomId, judgement);
    }
    const { known, fixed } = judgement;
    line.drift.forEach((item, index) => (item.known = known[index] === true));
    if (fixed.length > 0) line.fixed = fixed.map(({ code, id }) => ({ code, id }));
  }

  forget(roomId: string): void {
    this.judged.delete(roomId);
  }
}

function statsOf(verdicts: readonly RoomVerdict[], withBaseline: boolean): ReconcileBatchStats {
  const batch = new ReconcileTally();
  const counts = { known: 0, new: 0, fixed: 0 };
  for (const verdict of verdicts) {
    batch.add(verdict);
    for (const item of verdict.line.drift) counts[item.known ? 'known' : 'new'] += 1;
    counts.fixed += verdict.line.fixed?.length ?? 0;
  }
  return {
    rooms: batch.rooms,
    messages: batch.messages,
    reasons: batch.reasons,
    app: batch.app,
    compared: batch.compared,
    driftItems: batch.driftItems,
    ...(withBaseline ? { baseline: counts } : {}),
  };
}

/** The whole run's counters, from every finished batch's stored stats (whichever worker did it). */
function totalsOf(batches: object[]): ReconcileBatchStats {
  const totals = statsOf([], false);
  for (const stats of batches as ReconcileBatchStats[]) {
    addCounters(totals.rooms, stats.rooms);
    addCounters(totals.messages, stats.messages);
    addCounters(totals.app, stats.app);
    if (stats.compared) totals.compared = addCounters(totals.compared ?? { byDigest: 0, inFull: 0 }, stats.compared);
    for (const [code, count] of Object.entries(stats.reasons) as [ReasonCode, number][]) countReason(totals.reasons, code, count);
    totals.driftItems += stats.driftItems;
    if (stats.baseline) totals.baseline = addCounters(totals.baseline ?? { known: 0, new: 0, fixed: 0 }, stats.baseline);
  }
  return totals;
}

function withoutNotWalked(counts: BaselineCounts): Omit<BaselineCounts, 'notWalked'> {
  const { notWalked: _notWalked, ...rest } = counts;
  return rest;
}

function describeDrift(found: { driftItems: number; rooms: { drift: number } }, baseline: Omit<BaselineCounts, 'notWalked'> | undefined): string {
  const counted = `${found.driftItems} drift item(s) in ${found.rooms.drift} room(s)`;
  const where = 'see rooms.jsonl lines with "status":"drift"';
  if (!baseline) return `${counted}; ${where}.`;
  return `${counted}: ${baseline.new} new since the baseline, ${baseline.known} known, ${baseline.fixed} fixed since; ${where} and items without "known":true.`;
}
