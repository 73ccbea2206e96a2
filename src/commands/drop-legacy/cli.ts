import { Option, type Command } from 'commander';
import { z } from 'zod';
import { dropLegacy } from './drop-legacy.ts';
import { DEFAULT_DROP_TABLES } from './plan.ts';
import { purgeQuarantine } from './purge.ts';
import { exitCodesHelp } from '../../report/summary.ts';
import { connectionFlags, outputFlags, walkFlags, wholeNumber } from '../../engine/config.ts';
import { addCommonOptions } from '../../cli/options.ts';
import { runCommand } from '../../cli/run-command.ts';

// Where --quarantine moves the tables, and --purge-quarantine drops them from, when no name is given.
export const DEFAULT_QUARANTINE_SCHEMA = 'legacy_quarantine';
// The quiet gate's watch window: long enough for pg_stat counters (up to ~10 s late) to catch up.
const DEFAULT_WATCH_SECONDS = 60;
const MAX_WATCH_SECONDS = 86_400;

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];
const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier');
const optionalSchema = z
  .union([z.literal(true), identifier])
  .transform((value) => (value === true ? DEFAULT_QUARANTINE_SCHEMA : value))
  .optional();

export const dropLegacyFlags = z
  .object({
    ...connectionFlags,
    ...outputFlags,
    batchSize: walkFlags.batchSize,
    concurrency: walkFlags.concurrency,
    tables: z
      .string()
      .transform((value) => value.split(',').map((name) => name.trim()).filter((name) => name.length > 0))
      .pipe(z.array(identifier).min(1, 'name at least one table'))
      .optional(),
    watch: wholeNumber(1, MAX_WATCH_SECONDS).default(DEFAULT_WATCH_SECONDS),
    reconcileReport: z.string().min(1).optional(),
    acceptUnmigrated: wholeNumber(0).optional(),
    snapshotDir: z.string().min(1).optional(),
    confirm: z.string().min(1).optional(),
    dryRun: z.boolean().default(false),
    quarantine: optionalSchema,
    purgeQuarantine: optionalSchema,
    allowDependent: z.array(z.string().min(1)).default([]),
  })
  .strict()
  .refine((f) => !(f.purgeQuarantine && (f.quarantine || f.dryRun)), { message: '--purge-quarantine takes neither --quarantine nor --dry-run', path: ['purgeQuarantine'] });

export function registerDropLegacy(program: Command, setExitCode: (code: number) => void): void {
  addCommonOptions(program.command('drop-legacy'))
    .description('the last step: snapshot, verify, then drop the legacy tables, only once every gate passes')
    .option('--tables <list>', `comma-separated tables to drop (default: ${DEFAULT_DROP_TABLES.join(',')} if present)`)
    .option('--watch <seconds>', 'quiet gate: no writes on the tables for this long', String(DEFAULT_WATCH_SECONDS))
    .option('--reconcile-report <dir|summary.json>', 'a clean full reconcile newer than the last legacy write (else one runs now)')
    .option('--accept-unmigrated <n>', 'the exact number of memories that have no chat_messages row (they stay only in the snapshot)')
    .option('--snapshot-dir <dir>', 'where the snapshot goes: absent or empty (default ./recoup-migrate-snapshots/drop-legacy-<runId>)')
    .option('--confirm <database>', 'the name of the connected database: required to drop')
    .addOption(new Option('--dry-run', 'gates 0-5 and the plan: writes the snapshot, changes nothing in the database'))
    .option('--quarantine [schema]', `move the tables into this schema instead of dropping them (default ${DEFAULT_QUARANTINE_SCHEMA})`)
    .option('--purge-quarantine [schema]', `drop the tables an earlier --quarantine moved (default ${DEFAULT_QUARANTINE_SCHEMA}); needs --confirm`)
    .option('--allow-dependent <schema.function>', 'a function whose body names a table but was reviewed as safe (repeatable)', collect)
    .option('--batch-size <n>', 'rooms per batch of the reconcile gate', '500')
    .option('--concurrency <n>', 'reconcile batches in flight', '2')
    .addHelpText(
      'after',
      `
Gates, in order (any failure: exit 1, nothing dropped): dependents, reconciled, quiet, unmigrated,
snapshot, verified, confirmed, dropped. Each failure prints what it saw and the command that fixes it.

Examples:
  $ recoup-migrate drop-legacy --dry-run --snapshot-dir ./snap-try        gates 0-5, the plan, unmigrated.jsonl
  $ recoup-migrate drop-legacy --snapshot-dir ./snap --accept-unmigrated 12 --confirm postgres
  $ recoup-migrate drop-legacy --reconcile-report reports/reconcile-<runId> --watch 120 ...
  $ recoup-migrate drop-legacy --quarantine --snapshot-dir ./snap --accept-unmigrated 12 --confirm postgres
  $ recoup-migrate drop-legacy --purge-quarantine --confirm postgres
  $ recoup-migrate restore --snapshot-dir ./snap                           undo a drop

${exitCodesHelp({ 0: 'dropped (with --dry-run: every gate it can check passed, nothing dropped)', 1: 'a gate refused: nothing was dropped; the gate says what it saw and the command that fixes it' })}`,
    )
    .action(async (flags: Record<string, unknown>) => {
      setExitCode(
        await runCommand('drop-legacy', dropLegacyFlags, flags, (f, context) =>
          f.purgeQuarantine
            ? purgeQuarantine(
                { schema: f.purgeQuarantine, confirm: f.confirm, allowedDependents: f.allowDependent, statementTimeoutMs: f.statementTimeout, lockTimeoutMs: f.lockTimeout },
                context,
              )
            : dropLegacy(
                {
                  tables: f.tables,
                  watchSeconds: f.watch,
                  reconcileReport: f.reconcileReport,
                  acceptUnmigrated: f.acceptUnmigrated,
                  snapshotDir: f.snapshotDir ?? `recoup-migrate-snapshots/drop-legacy-${context.runId}`,
                  confirm: f.confirm,
                  dryRun: f.dryRun,
                  quarantine: f.quarantine,
                  allowedDependents: f.allowDependent,
                  batchSize: f.batchSize,
                  concurrency: f.concurrency,
                  statementTimeoutMs: f.statementTimeout,
                  lockTimeoutMs: f.lockTimeout,
                },
                context,
              ),
          { needsSession: 'its snapshot, the watch window and the drop must see one consistent server session' },
        ),
      );
    });
}
