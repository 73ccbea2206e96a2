import { Command } from 'commander';
import { backfill } from '../commands/backfill.ts';
import { undoBackfill } from '../commands/backfill-undo.ts';
import { schema } from '../commands/schema.ts';
import { TOOL_VERSION } from '../db/runs.ts';
import { EXIT_CODES_HELP } from '../report/summary.ts';
import { backfillFlags, commonFlags } from '../runtime/config.ts';
import { z } from 'zod';
import { addBudgetOptions, addCommonOptions, addWalkOptions, dryRunOption } from './options.ts';
import { runCommand } from './run-command.ts';

export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('recoup-migrate')
    .description('Move Recoupable chat history from rooms/memories to sessions/chats/chat_messages, and prove it.')
    .version(TOOL_VERSION)
    .showHelpAfterError()
    .addHelpText('after', `\n${EXIT_CODES_HELP}\n\nStart with: recoup-migrate demo`);

  addBudgetOptions(addWalkOptions(addCommonOptions(program.command('backfill'))))
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

${EXIT_CODES_HELP}`,
    )
    .action(async (flags: Record<string, unknown>) => {
      setExitCode(
        await runCommand('backfill', backfillFlags, flags, (f, context) =>
          f.undo
            ? undoBackfill({ runId: f.undo, dryRun: f.dryRun }, context)
            : backfill(
                {
                  scope: { rooms: f.room, since: f.since, limit: f.limit },
                  batchSize: f.batchSize,
                  concurrency: f.concurrency,
                  dryRun: f.dryRun,
                  maxSkippedRatio: f.maxSkippedRatio,
                  maxSkippedRooms: f.maxSkippedRooms,
                  maxFailed: f.maxFailed,
                  statementTimeoutMs: f.statementTimeout,
                  lockTimeoutMs: f.lockTimeout,
                },
                context,
              ),
        ),
      );
    });

  const schemaFlags = commonFlags
    .extend({ legacy: z.boolean().default(false), target: z.boolean().default(false), withoutArtistId: z.boolean().default(false) })
    .strict();
  addCommonOptions(program.command('schema'))
    .description('create the legacy and/or target schema in an empty database (tests, demos, staging)')
    .option('--legacy', 'accounts, rooms, memories and their dependents')
    .option('--target', 'sessions, chats, chat_messages, chat_reads, workflow_runs')
    .option('--without-artist-id', 'sessions without artist_id, as before stamp-artist-id')
    .addHelpText('after', `\nExamples:\n  $ recoup-migrate schema --legacy --target --database-url postgres://localhost/staging\n\n${EXIT_CODES_HELP}`)
    .action(async (flags: Record<string, unknown>) => {
      setExitCode(await runCommand('schema', schemaFlags, flags, (f, context) => schema(f, context)));
    });

  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  let exitCode = 0;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  program.exitOverride();
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    const code = (error as { code?: string; exitCode?: number }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    return 2;
  }
  return exitCode;
}
