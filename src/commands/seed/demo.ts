import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import type pg from 'pg';
import { createPool, resolveConnection, type ResolvedConnection } from '../../engine/connection.ts';
import type { EmbeddedDatabase } from '../../engine/embedded.ts';
import { summaryHead, type ExitCode, type RunSummary } from '../../report/summary.ts';
import { errorMessage } from '../../engine/errors.ts';
import { createLogger, type Logger, type LogLevel } from '../../engine/logger.ts';
import { createProgress } from '../../engine/progress.ts';
import { backfill } from '../backfill/backfill.ts';
import type { CommandContext } from '../../engine/context.ts';
import { reconcile } from '../reconcile/reconcile.ts';
import { seedDatabase, type SeedResult } from './database.ts';

export interface DemoOptions {
  rooms: number;
  seed: number;
  /** Parent folder of the demo's reports (backfill/ and reconcile/ inside it). */
  reportDir?: string | undefined;
  progress: boolean;
  logLevel: LogLevel;
}

export interface DemoOutcome {
  summary: RunSummary;
  /** Present once the database started; the caller stops it (or keeps it with --keep). */
  database: EmbeddedDatabase | null;
}

// The batch walkers' settings for the demo: the defaults of the real commands.
const DEMO_BATCH_SIZE = 500;
const DEMO_CONCURRENCY = 2;
const DEMO_STATEMENT_TIMEOUT_MS = 120_000;
const DEMO_LOCK_TIMEOUT_MS = 10_000;
// Production's average memories per room.
const DEMO_MESSAGES_PER_ROOM = 2;
// Pool clients: the batch workers plus the planner and the run records.
const DEMO_POOL_CLIENTS = DEMO_CONCURRENCY + 2;

/**
 * Zero-setup tour: embedded Postgres → schema → seed → backfill → reconcile, all in this process, with
 * the real command functions. Returns one summary with the sub-summaries; never stops the database
 * itself (the caller decides, because of --keep).
 */
export async function demo(
  options: DemoOptions,
  start: () => Promise<EmbeddedDatabase>,
  stopSignal: AbortSignal,
): Promise<DemoOutcome> {
  const runId = randomUUID();
  const startedAt = new Date();
  const reportDir = resolve(options.reportDir ?? join('recoup-migrate-reports', `demo-${runId}`));
  let database: EmbeddedDatabase | null = null;
  let seeded: SeedResult | null = null;
  const steps: Record<string, RunSummary> = {};
  let error: string | undefined;
  try {
    database = await start();
    const connection = resolveConnection({ databaseUrl: database.url });
    const logger = createLogger(options.logLevel, connection.secrets).child({ command: 'demo', runId });
    const pool = createPool(connection, DEMO_POOL_CLIENTS);
    try {
      seeded = await seedDatabase(
        pool,
        { rooms: options.rooms, seed: options.seed, messagesPerRoom: DEMO_MESSAGES_PER_ROOM, dropArtistFk: true, concurrency: DEMO_CONCURRENCY },
        { logger, progress: createProgress('seed', options.progress, 'rooms') },
      );
      const context = (command: string): CommandContext =>
        commandContext(command, { pool, connection, logger, reportDir, stopSignal, progress: options.progress });
      const walk = { scope: {}, batchSize: DEMO_BATCH_SIZE, concurrency: DEMO_CONCURRENCY, statementTimeoutMs: DEMO_STATEMENT_TIMEOUT_MS, lockTimeoutMs: DEMO_LOCK_TIMEOUT_MS };
      // Without a throttle given, the commands pause on the CLI's default limits, as `recoup-migrate backfill` does.
      steps.backfill = await backfill({ ...walk, dryRun: false }, context('backfill'));
      if (!stopSignal.aborted) steps.reconcile = await reconcile(walk, context('reconcile'));
    } finally {
      await pool.end().catch(() => {});
    }
  } catch (caught) {
    error = errorMessage(caught);
  }
  const exitCode = error !== undefined ? 3 : worstExitCode(Object.values(steps).map((s) => s.exitCode));
  const summary: RunSummary = {
    ...summaryHead('demo', { runId, startedAt }, {
      dryRun: false,
      complete: error === undefined && steps.reconcile !== undefined && Object.values(steps).every((s) => s.complete),
      exitCode,
    }),
    reasons: {},
    reportDir: steps.backfill ? reportDir : null,
    ...(error !== undefined ? { error } : {}),
    seeded: seeded && { rooms: seeded.rooms, memories: seeded.memories, accounts: seeded.accounts, largestRoom: seeded.largestRoom, ...seeded.dependents },
    ...steps,
  };
  return { summary, database };
}

function commandContext(
  command: string,
  shared: { pool: pg.Pool; connection: ResolvedConnection; logger: Logger; reportDir: string; stopSignal: AbortSignal; progress: boolean },
): CommandContext {
  const runId = randomUUID();
  return {
    pool: shared.pool,
    connection: shared.connection,
    logger: shared.logger.child({ step: command, stepRunId: runId }),
    stateSchema: 'recoup_migrate',
    runId,
    startedAt: new Date(),
    reportDir: join(shared.reportDir, command),
    progress: shared.progress,
    showValues: false,
    stopSignal: shared.stopSignal,
  };
}

/** 3 beats 1 beats 0: a failure while running outweighs problems found, which outweigh a clean run. */
function worstExitCode(codes: ExitCode[]): ExitCode {
  const severity: ExitCode[] = [0, 2, 1, 3];
  return codes.reduce<ExitCode>((worst, code) => (severity.indexOf(code) > severity.indexOf(worst) ? code : worst), 0);
}
