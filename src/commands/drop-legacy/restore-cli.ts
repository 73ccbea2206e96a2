import type { Command } from 'commander';
import { z } from 'zod';
import { restore } from './restore.ts';
import { exitCodesHelp } from '../../report/summary.ts';
import { sharedFlags } from '../../engine/config.ts';
import { addCommonOptions, dryRunOption } from '../../cli/options.ts';
import { runCommand } from '../../cli/run-command.ts';

// restore records its run and writes a report; it shows no bar and no message values.
const RESTORE_GROUPS = ['state', 'reports', 'timeouts'] as const;
export const restoreFlags = z
  .object({
    ...sharedFlags(RESTORE_GROUPS),
    snapshotDir: z.string().min(1),
    intoSchema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier').optional(),
    dryRun: z.boolean().default(false),
  })
  .strict();

export function registerRestore(program: Command, setExitCode: (code: number) => void): void {
  addCommonOptions(program.command('restore'), RESTORE_GROUPS)
    .description('bring back the tables drop-legacy dropped, from its verified snapshot')
    .requiredOption('--snapshot-dir <dir>', 'a snapshot directory written by drop-legacy (manifest.json at its root)')
    .option('--into-schema <name>', 'restore into this schema instead, for inspection (no publications, owner or kept-table FKs)')
    .addOption(dryRunOption())
    .addHelpText(
      'after',
      `
Verifies every file's sha256 first, restores in one transaction (tables, data, then keys, FKs, indexes,
triggers, RLS policies, grants, publications), and commits only if the restored rows' checksums equal
the manifest's. Refuses to overwrite an existing table. The FKs from kept tables (error_logs.room_id)
are re-added NOT VALID, then validated.

Examples:
  $ recoup-migrate restore --snapshot-dir ./snap
  $ recoup-migrate restore --snapshot-dir ./snap --into-schema legacy_inspect
  $ recoup-migrate restore --snapshot-dir ./snap --dry-run               prove it restores; change nothing

${exitCodesHelp({ 0: 'restored, and every check matches the manifest', 1: 'not all restored: a check did not match (everything rolled back), or a grant, publication, owner or foreign key could not be put back (each with the statement to run)' })}`,
    )
    .action(async (flags: Record<string, unknown>) => {
      setExitCode(
        await runCommand('restore', restoreFlags, flags, (f, context) =>
          restore({ snapshotDir: f.snapshotDir, intoSchema: f.intoSchema, dryRun: f.dryRun, statementTimeoutMs: f.statementTimeout, lockTimeoutMs: f.lockTimeout }, context),
          { needsSession: 'its snapshot settings and the checks after the restore must run on one server session' },
        ),
      );
    });
}
