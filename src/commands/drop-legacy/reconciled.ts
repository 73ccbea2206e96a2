import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { quoteIdent } from '../../engine/sql-files.ts';
import { stateSchemaExists } from '../../engine/state-schema.ts';
import { errorMessage } from '../../engine/errors.ts';
import type { CommandContext } from '../../engine/context.ts';
import { failed, passed, type GateResult } from './gates.ts';
import { reconcile } from '../reconcile/reconcile.ts';

export interface ReconcileGateOptions {
  /** --reconcile-report: a directory or its summary.json. Without it, a full reconcile runs now. */
  reportPath?: string | undefined;
  batchSize: number;
  concurrency: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

interface ReportSummary {
  command?: unknown;
  exitCode?: unknown;
  complete?: unknown;
  startedAt?: unknown;
  sample?: unknown;
  baseline?: unknown;
  /** reconcile --full: every room converted and compared (none confirmed by the ledger alone). */
  full?: unknown;
  rooms?: { total?: unknown };
  /** reconcile --shared: this worker's counters are its own rooms; runTotals covers the run. */
  shared?: unknown;
  runId?: unknown;
  runTotals?: { rooms?: { total?: unknown }; baseline?: unknown; driftItems?: unknown };
}

const FULL_RECONCILE = 'recoup-migrate reconcile --full (no --room, --since, --limit, --sample or --baseline)';

/** Gate 1: the target holds everything the legacy tables hold, by a full reconcile newer than any legacy write. */
export async function reconciledGate(options: ReconcileGateOptions, context: CommandContext): Promise<GateResult> {
  let startedAt: Date;
  let source: string;
  if (options.reportPath) {
    const checked = await checkReport(context.pool, context.stateSchema, options.reportPath);
    if (typeof checked === 'string') return failed('reconciled', checked, `run \`${FULL_RECONCILE}\` and pass its report, or leave out --reconcile-report to reconcile now`);
    startedAt = checked;
    source = `report ${options.reportPath}`;
  } else {
    const started = new Date();
    const summary = await reconcile(
      { scope: {}, full: true, batchSize: options.batchSize, concurrency: options.concurrency, statementTimeoutMs: options.statementTimeoutMs, lockTimeoutMs: options.lockTimeoutMs },
      { ...context, reportDir: join(context.reportDir, 'reconcile'), startedAt: started },
    );
    if (summary.exitCode !== 0) {
      const seen = summary.exitCode === 1 ? (summary.problems ?? ['drift found']).join('; ') : `reconcile exited ${summary.exitCode}: ${summary.error ?? 'incomplete'}`;
      return failed('reconciled', `${seen} (report: ${summary.reportDir})`, 'run `recoup-migrate backfill` (and `recoup-migrate fix-parts` for stored-part drift), then re-run drop-legacy');
    }
    startedAt = started;
    source = `full reconcile just now (report: ${summary.reportDir})`;
  }
  const lastWrite = await lastLegacyWrite(context.pool);
  if (lastWrite !== null && lastWrite >= startedAt) {
    return failed('reconciled', `${source} started ${startedAt.toISOString()}, before the last legacy write at ${lastWrite.toISOString()}`, `run \`${FULL_RECONCILE}\` again now that writes have stopped`);
  }
  const writers = await targetWritersSince(context.pool, context.stateSchema, startedAt);
  if (writers.length > 0) {
    return failed('reconciled', `${source} started ${startedAt.toISOString()}, but ${writers.join(', ')} wrote the target after that`, `run \`${FULL_RECONCILE}\` again`);
  }
  return passed('reconciled', `${source}: no drift; newer than the last legacy write (${lastWrite?.toISOString() ?? 'none'})`);
}

/** The report's start time when it is a clean, full reconcile; else what is wrong with it. */
async function checkReport(pool: pg.Pool, stateSchema: string, path: string): Promise<Date | string> {
  let file = path;
  try {
    if ((await stat(path)).isDirectory()) file = join(path, 'summary.json');
  } catch (error) {
    return `cannot read --reconcile-report ${path}: ${errorMessage(error)}`;
  }
  let summary: ReportSummary;
  try {
    summary = JSON.parse(await readFile(file, 'utf8')) as ReportSummary;
  } catch (error) {
    return `cannot read ${file} as a summary: ${errorMessage(error)}`;
  }
  if (summary.command !== 'reconcile') return `${file} is a ${String(summary.command)} summary, not a reconcile one`;
  if (summary.exitCode !== 0 || summary.complete !== true) return `${file}: reconcile exited ${String(summary.exitCode)}${summary.complete === true ? '' : ' (incomplete)'}, not 0: it found drift or did not finish`;
  if (summary.sample !== undefined || summary.baseline !== undefined) return `${file} is a sampled or baselined reconcile, not a full one`;
  // The default mode confirms rooms by the ledger's digests, which cannot see a converter bug; the last gate converts everything.
  if (summary.full !== true) return `${file} is a reconcile without --full: it confirmed unchanged rooms by digest instead of converting them`;
  let started = typeof summary.startedAt === 'string' ? new Date(summary.startedAt) : null;
  if (!started || Number.isNaN(started.getTime())) return `${file} has no valid startedAt`;
  let walked = summary.rooms?.total;
  if (summary.shared === true) {
    // One worker's report of a shared run: the run's totals and the run's start (another worker may
    // have started it earlier) are what count.
    if (summary.runTotals === undefined) return `${file} is one worker's report of a shared reconcile without run totals`;
    if (summary.runTotals.baseline !== undefined) return `${file} is a baselined reconcile, not a full one`;
    if (summary.runTotals.driftItems !== 0) return `${file}: its shared run found ${String(summary.runTotals.driftItems)} drift item(s)`;
    walked = summary.runTotals.rooms?.total;
    const runStart = await sharedRunStart(pool, stateSchema, summary.runId);
    if (typeof runStart === 'string') return `${file}: ${runStart}`;
    if (runStart < started) started = runStart;
  }
  const { rows } = await pool.query<{ rooms: string }>(`select count(*)::text as rooms from public.rooms`);
  if (Number(walked) !== Number(rows[0]?.rooms)) return `${file} walked ${String(walked)} rooms, the database has ${rows[0]?.rooms}: not a full reconcile of this data`;
  return started;
}

async function sharedRunStart(pool: pg.Pool, stateSchema: string, runId: unknown): Promise<Date | string> {
  if (typeof runId !== 'string' || !(await stateSchemaExists(pool, stateSchema))) return 'its shared run is not recorded in the state schema';
  const { rows } = await pool.query<{ started_at: Date; status: string }>(
    `select started_at, status from ${quoteIdent(stateSchema)}.runs where run_id::text = $1 and command = 'reconcile'`,
    [runId],
  );
  const run = rows[0];
  if (!run) return `its shared run ${runId} is not recorded in ${stateSchema}.runs`;
  if (run.status !== 'completed') return `its shared run ${runId} is ${run.status}, not completed`;
  return run.started_at;
}

/** The newest updated_at of rooms and memories (both keep it current with a trigger). */
async function lastLegacyWrite(pool: pg.Pool): Promise<Date | null> {
  const { rows } = await pool.query<{ last: Date | null }>(
    `select greatest((select max(updated_at) from public.rooms), (select max(updated_at) from public.memories)) as last`,
  );
  return rows[0]?.last ?? null;
}

/** Runs that write the target and were active after `since`: they could have changed what was reconciled. */
async function targetWritersSince(pool: pg.Pool, stateSchema: string, since: Date): Promise<string[]> {
  if (!(await stateSchemaExists(pool, stateSchema))) return [];
  const { rows } = await pool.query<{ command: string; run_id: string }>(
    `select command, run_id::text from ${quoteIdent(stateSchema)}.runs
      where command in ('backfill', 'fix-parts', 'stamp-artist-id') and coalesce(finished_at, heartbeat_at, started_at) >= $1
      order by started_at`,
    [since],
  );
  return rows.map((r) => `${r.command} run ${r.run_id}`);
}
