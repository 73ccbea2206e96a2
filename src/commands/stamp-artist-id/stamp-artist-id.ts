import { countArtistRooms, planArtistRoomPages, type ArtistRoomPage } from './rooms.ts';
import { artistIdBackupTable, ensureArtistIdBackupTable } from './state.ts';
import { recordRunEndOrWarn, recordRunStart } from '../../engine/runs.ts';
import type { RoomScope } from '../../engine/source-reads.ts';
import { withTransientRetry } from '../../engine/transactions.ts';
import { CONVERTER_VERSION } from '../../migration/convert.ts';
import { ReportWriter } from '../../report/report-writer.ts';
import { errorField, summaryHead, type ExitCode, type RunSummary } from '../../report/summary.ts';
import { errorMessage } from '../../engine/errors.ts';
import { createProgress } from '../../engine/progress.ts';
import { withCommandLease, type CommandContext } from '../../engine/context.ts';
import { stampPage, type StampBatchContext } from './batch.ts';
import { stampPreflight, type StampPreflight } from './preflight.ts';
import { ensureArtistIdSchema } from './schema.ts';
import { StampTally } from './tally.ts';
import { walkBatches } from './walk-batches.ts';

export interface StampArtistIdOptions {
  scope: RoomScope;
  batchSize: number;
  concurrency: number;
  dryRun: boolean;
  skipSchema: boolean;
  overwriteConflicts: boolean;
  allowTouchUpdatedAt: boolean;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  /** lock_timeout of each DDL statement, and how many times the schema step is tried. */
  ddlLockTimeoutMs: number;
  ddlAttempts: number;
}

/** Ensures sessions.artist_id (column, FK, index), then fills it from rooms.artist_id in batches. */
export async function stampArtistId(options: StampArtistIdOptions, context: CommandContext): Promise<RunSummary> {
  const preflight = await stampPreflight(
    context.pool,
    {
      dryRun: options.dryRun,
      allowTouchUpdatedAt: options.allowTouchUpdatedAt,
      lockTimeoutMs: options.ddlLockTimeoutMs,
      statementTimeoutMs: options.statementTimeoutMs,
      attempts: options.ddlAttempts,
      stateSchema: context.stateSchema,
    },
    context.logger,
  );
  return withCommandLease(context, 'stamp-artist-id', options.dryRun, () => stampWithLease(options, context, preflight));
}

async function stampWithLease(options: StampArtistIdOptions, context: CommandContext, preflight: StampPreflight): Promise<RunSummary> {
  const { pool, logger, stateSchema, runId } = context;
  const { preserveUpdatedAt } = preflight;
  const schema = await ensureArtistIdSchema(
    pool,
    {
      dryRun: options.dryRun,
      skipSchema: options.skipSchema,
      attempts: options.ddlAttempts,
      lockTimeoutMs: options.ddlLockTimeoutMs,
      statementTimeoutMs: options.statementTimeoutMs,
    },
    logger,
  );
  if (options.dryRun) {
    for (const ddl of schema.ddl) logger.info({ ddl }, 'Dry run: would run DDL');
  } else {
    if (options.overwriteConflicts) await ensureArtistIdBackupTable(pool, stateSchema);
    await recordRunStart(pool, stateSchema, {
      runId,
      command: 'stamp-artist-id',
      scope: options.scope,
      options: { batchSize: options.batchSize, overwriteConflicts: options.overwriteConflicts, ddl: schema.ddl },
      converterVersion: CONVERTER_VERSION,
    });
  }

  const report = await ReportWriter.open(context.reportDir);
  const tally = new StampTally();
  const progress = createProgress(options.dryRun ? 'stamp-artist-id (dry run)' : 'stamp-artist-id', context.progress, 'rooms');
  const batchContext: StampBatchContext = {
    pool,
    stateSchema,
    dryRun: options.dryRun,
    preserveUpdatedAt,
    statementTimeoutMs: options.statementTimeoutMs,
    lockTimeoutMs: options.lockTimeoutMs,
    mode: { write: !options.dryRun, columnExists: schema.columnExists, stateSchema },
    overwrite: options.overwriteConflicts ? { table: artistIdBackupTable(stateSchema), runId } : null,
  };
  let runError: unknown = null;
  // The keys in scope when the walk started, for "walked N of M" when it stops early.
  let inScope: number | null = null;
  try {
    const total = await countArtistRooms(pool, options.scope);
    inScope = total;
    logger.info({ rooms: total, dryRun: options.dryRun, preserveUpdatedAt }, 'Stamping artist_id');
    progress.start(total);
    const plan = planArtistRoomPages(pool, options.scope, options.batchSize);
    await walkBatches(plan, { concurrency: options.concurrency, stopSignal: context.stopSignal }, async (page: ArtistRoomPage) => {
      const started = Date.now();
      const batch = { first: page.roomIds[0], last: page.roomIds[page.roomIds.length - 1] };
      const results = await withTransientRetry(() => stampPage(batchContext, page), (error, attempt) =>
        logger.warn({ batch, attempt, error: errorMessage(error) }, 'Transient error; retrying the batch'),
      );
      for (const result of results) {
        tally.add(result);
        await report.writeRoom(result);
      }
      progress.increment(results.length);
      logger.debug({ batch, rooms: results.length, durationMs: Date.now() - started }, 'Batch done');
    });
  } catch (error) {
    runError = error;
  } finally {
    progress.stop();
  }

  const complete = runError === null && !context.stopSignal.aborted;
  const exitCode: ExitCode = complete ? 0 : 3;
  const summary: RunSummary = {
    ...summaryHead('stamp-artist-id', context, { dryRun: options.dryRun, complete, exitCode }),
    rooms: tally.rooms,
    artistId: tally.artistId,
    reasons: tally.reasons,
    ddl: schema.ddl,
    lockRetries: preflight.lockRetries + schema.lockRetries,
    updatedAtPreserved: preserveUpdatedAt,
    reportDir: report.dir,
    ...(inScope !== null ? { inScope: { rooms: inScope } } : {}),
    ...errorField(runError, context.connection.secrets),
  };
  await report.finish(summary);
  if (!options.dryRun) {
    await recordRunEndOrWarn(pool, stateSchema, runId, complete ? 'completed' : runError !== null ? 'failed' : 'incomplete', summary, logger);
  }
  return summary;
}
