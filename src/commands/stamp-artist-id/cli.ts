import type { Command } from 'commander';
import { z } from 'zod';
import { stampArtistId } from './stamp-artist-id.ts';
import { exitCodesHelp } from '../../report/summary.ts';
import { connectionFlags, outputFlags, walkFlags, wholeNumber } from '../../engine/config.ts';
import { addCommonOptions, addWalkOptions, walkOptionsFrom } from '../../cli/options.ts';
import { runCommand } from '../../cli/run-command.ts';

// A DDL statement waits this long for its lock before it gives up and is retried. Short: while DDL
// waits for ACCESS EXCLUSIVE, every app query on sessions queues behind it.
const DEFAULT_DDL_LOCK_TIMEOUT_MS = 1_000;
// Attempts of the schema step before exit 3; with the backoff this is about a minute of trying.
const DEFAULT_DDL_ATTEMPTS = 10;
const MAX_DDL_ATTEMPTS = 1_000;
const MIN_DDL_LOCK_TIMEOUT_MS = 50;

export const stampArtistIdFlags = z
  .object({
    ...connectionFlags,
    ...outputFlags,
    ...walkFlags,
    dryRun: z.boolean().default(false),
    skipSchema: z.boolean().default(false),
    overwriteConflicts: z.boolean().default(false),
    allowTouchUpdatedAt: z.boolean().default(false),
    ddlLockTimeout: wholeNumber(MIN_DDL_LOCK_TIMEOUT_MS).default(DEFAULT_DDL_LOCK_TIMEOUT_MS),
    ddlAttempts: wholeNumber(1, MAX_DDL_ATTEMPTS).default(DEFAULT_DDL_ATTEMPTS),
  })
  .strict();

export function registerStampArtistId(program: Command, setExitCode: (code: number) => void): void {
  // 1,000 rooms a batch: its statement costs its own size, and fewer batches cost fewer round trips
  // (500 was 1.9–2.1× the hand-written UPDATE, 1,000 1.1–1.6×); a batch still locks its sessions for ms.
  addWalkOptions(addCommonOptions(program.command('stamp-artist-id')), '1000')
    .description('ensure sessions.artist_id (column, FK, index) and fill it from rooms.artist_id, without reordering chat lists')
    .option('--dry-run', 'execute no DDL and write nothing: list the DDL (summary.ddl) and count with read-only queries')
    .option('--skip-schema', 'leave the schema alone (the column is managed elsewhere); only fill values')
    .option('--overwrite-conflicts', 'replace a different non-NULL artist_id (old value kept in <state>.artist_id_backup)')
    .option('--allow-touch-updated-at', 'stamp even when the role cannot keep updated_at (chat lists get reordered)')
    .option('--ddl-lock-timeout <ms>', 'lock_timeout of each DDL statement', String(DEFAULT_DDL_LOCK_TIMEOUT_MS))
    .option('--ddl-attempts <n>', 'tries of the schema step when a lock is busy', String(DEFAULT_DDL_ATTEMPTS))
    .addHelpText(
      'after',
      `
Examples:
  $ recoup-migrate stamp-artist-id --dry-run               DDL it would run, and counts; writes nothing
  $ recoup-migrate stamp-artist-id                         schema where missing, then fill NULLs
  $ recoup-migrate stamp-artist-id --skip-schema --since 2026-11-01T00:00:00Z
  $ recoup-migrate stamp-artist-id --overwrite-conflicts --room 1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed

${exitCodesHelp({ 0: 'done: the column, its FK and index are in place and every room in scope was stamped', 3: 'it failed or was interrupted while running; what was committed stays consistent, and a re-run continues' })}`,
    )
    .action(async (flags: Record<string, unknown>) => {
      setExitCode(
        await runCommand('stamp-artist-id', stampArtistIdFlags, flags, (f, context) =>
          stampArtistId(
            {
              ...walkOptionsFrom(f),
              dryRun: f.dryRun,
              skipSchema: f.skipSchema,
              overwriteConflicts: f.overwriteConflicts,
              allowTouchUpdatedAt: f.allowTouchUpdatedAt,
              ddlLockTimeoutMs: f.ddlLockTimeout,
              ddlAttempts: f.ddlAttempts,
            },
            context,
          ),
          { needsSession: 'CREATE INDEX CONCURRENTLY cannot run in a transaction, so its lock and statement timeouts are session settings' },
        ),
      );
    });
}
