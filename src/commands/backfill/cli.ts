import type { Command } from 'commander';
import { backfill } from './backfill.ts';
import { undoBackfill } from './undo.ts';
import { exitCodesHelp, STOPPED_BY_BUDGET } from '../../report/summary.ts';
import { backfillFlags } from '../../engine/config.ts';
import { addBudgetOptions, addCommonOptions, addPacingOptions, addWalkOptions, dryRunOption, pacingFrom, walkOptionsFrom } from '../../cli/options.ts';
import { runCommand } from '../../cli/run-command.ts';

export function registerBackfill(program: Command, setExitCode: (code: number) => void): void {
  addPacingOptions(addBudgetOptions(addWalkOptions(addCommonOptions(program.command('backfill')), '1000')))
    .description('rooms → sessions + chats, memories → chat_messages (AI SDK v6); idempotent and resumable')
    .addOption(dryRunOption())
    .option('--undo <runId>', 'remove the rows that run inserted and the app has not changed since')
    .addHelpText(
      'after',
      `
Examples:
  $ recoup-migrate backfill --dry-run                       preview: real SQL, rolled back
  $ recoup-migrate backfill --max-failed 0 --max-skipped-ratio 0.01
  $ recoup-migrate backfill --since 2026-11-01T00:00:00Z    stragglers only
  $ recoup-migrate backfill --room 1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed
  $ recoup-migrate backfill --undo <runId>                  take a run back
  $ recoup-migrate backfill --time-budget 25m               a cron window; the next run resumes
  $ recoup-migrate backfill --target-batch-ms 2000          adapt batch sizes to ~2 s each

Several processes (on one machine or many) started with the same scope join one run and share its
batches; the last one standing finishes it.

${exitCodesHelp({ 0: `done (${STOPPED_BY_BUDGET})`, 1: 'more rooms failed than --max-failed allows (default 0), or a skip budget was exceeded' })}`,
    )
    .action(async (flags: Record<string, unknown>) => {
      setExitCode(
        await runCommand('backfill', backfillFlags, flags, (f, context) =>
          f.undo
            ? undoBackfill({ runId: f.undo, dryRun: f.dryRun, statementTimeoutMs: f.statementTimeout, lockTimeoutMs: f.lockTimeout }, context)
            : backfill(
                {
                  ...walkOptionsFrom(f),
                  dryRun: f.dryRun,
                  maxSkippedRatio: f.maxSkippedRatio,
                  maxSkippedRooms: f.maxSkippedRooms,
                  maxFailed: f.maxFailed,
                  ...pacingFrom(f),
                },
                context,
              ),
        ),
      );
    });
}
