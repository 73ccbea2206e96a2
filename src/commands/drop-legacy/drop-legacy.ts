import { resolve } from 'node:path';
import { inspectDatabase } from '../../engine/preflight.ts';
import { recordRunEndOrWarn, recordRunStart } from '../../engine/runs.ts';
import { CONVERTER_VERSION } from '../../migration/convert.ts';
import { ReportWriter } from '../../report/report-writer.ts';
import { summaryHead, type RunSummary } from '../../report/summary.ts';
import { withCommandLease, type CommandContext } from '../../engine/context.ts';
import { GATE_NAMES, gateProblems, notRun, type GateResult } from './gates.ts';
import { buildPlan, renderPlan } from './plan.ts';
import { runGates, type GateRun } from './run.ts';

export interface DropLegacyOptions {
  /** --tables; default: rooms, memories, memory_emails, segment_rooms, room_reports (if present). */
  tables?: string[] | undefined;
  watchSeconds: number;
  reconcileReport?: string | undefined;
  acceptUnmigrated?: number | undefined;
  snapshotDir: string;
  confirm?: string | undefined;
  dryRun: boolean;
  /** --quarantine: move the tables into this schema instead of dropping them. */
  quarantine?: string | undefined;
  /** --allow-dependent: functions (schema.name) reviewed as not using the tables despite naming them. */
  allowedDependents: string[];
  batchSize: number;
  concurrency: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  /** In-process hooks for tests: a write or a damaged file injected at the moments they must be caught. */
  hooks?: { duringWatch?: () => Promise<void>; afterSnapshot?: (dir: string) => Promise<void>; beforeDrop?: () => Promise<void> };
}

/**
 * Deletes the legacy tables once every gate passed, leaving a verified snapshot that restore brings
 * back. The plan is printed before anything happens; a failed gate stops the run with exit 1.
 */
export async function dropLegacy(options: DropLegacyOptions, context: CommandContext): Promise<RunSummary> {
  const { pool, logger } = context;
  // A dry run takes no lease and records no run: it only reads the state schema.
  await inspectDatabase(pool, { target: true, state: { schema: context.stateSchema, write: !options.dryRun } });
  const { plan, scan } = await buildPlan(pool, options);
  process.stderr.write(renderPlan(plan));
  const snapshotDir = resolve(options.snapshotDir);
  return withCommandLease(context, 'drop-legacy', options.dryRun, async () => {
    if (!options.dryRun) {
      await recordRunStart(pool, context.stateSchema, {
        runId: context.runId,
        command: 'drop-legacy',
        scope: { tables: plan.tables },
        options: { watchSeconds: options.watchSeconds, snapshotDir, quarantine: options.quarantine ?? null },
        converterVersion: CONVERTER_VERSION,
      });
    }
    const report = await ReportWriter.open(context.reportDir);
    const run = await runGates(options, context, { plan, scan, snapshotDir });
    const gates = completeGateList(run, options.dryRun);
    const refused = gates.some((g) => g.ok === false);
    const dropped = gates.some((g) => g.name === 'dropped' && g.ok === true);
    const summary: RunSummary = {
      ...summaryHead('drop-legacy', context, { dryRun: options.dryRun, complete: true, exitCode: refused ? 1 : 0 }),
      reasons: {},
      reportDir: report.dir,
      gates,
      plan,
      snapshotDir: run.manifest ? snapshotDir : null,
      dropped,
      ...(refused ? { problems: gateProblems(gates) } : {}),
    };
    await report.finish(summary);
    if (!options.dryRun) {
      await recordRunEndOrWarn(pool, context.stateSchema, context.runId, dropped ? 'completed' : 'failed', summary, logger);
    }
    return summary;
  });
}

/** Every gate appears in the summary: the ones after a failure (or past a dry run) as not run. */
function completeGateList(run: GateRun, dryRun: boolean): GateResult[] {
  const refused = run.gates.some((g) => g.ok === false);
  const reason = dryRun && !refused ? 'dry run: nothing dropped' : undefined;
  return GATE_NAMES.map((name) => run.gates.find((g) => g.name === name) ?? notRun(name, reason));
}
