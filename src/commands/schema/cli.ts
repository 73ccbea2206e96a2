import type { Command } from 'commander';
import { z } from 'zod';
import { schema } from './schema.ts';
import { exitCodesHelp } from '../../report/summary.ts';
import { sharedFlags } from '../../engine/config.ts';
import { addCommonOptions } from '../../cli/options.ts';
import { runCommand } from '../../cli/run-command.ts';

// schema runs DDL with timeouts; it keeps no state and no report, and shows no bar.
const SCHEMA_GROUPS = ['timeouts'] as const;
const schemaFlags = z
  .object({ ...sharedFlags(SCHEMA_GROUPS), legacy: z.boolean().default(false), target: z.boolean().default(false), withoutArtistId: z.boolean().default(false) })
  .strict();

export function registerSchema(program: Command, setExitCode: (code: number) => void): void {
  addCommonOptions(program.command('schema'), SCHEMA_GROUPS)
    .description('create the legacy and/or target schema in an empty database (tests, demos, staging)')
    .option('--legacy', 'accounts, rooms, memories and their dependents')
    .option('--target', 'sessions, chats, chat_messages, chat_reads, workflow_runs')
    .option('--without-artist-id', 'sessions without artist_id, as before stamp-artist-id')
    .addHelpText('after', `\nExamples:\n  $ recoup-migrate schema --legacy --target --database-url postgres://localhost/staging\n\n${exitCodesHelp({ 0: 'the schema was created' })}`)
    .action(async (flags: Record<string, unknown>) => {
      setExitCode(await runCommand('schema', schemaFlags, flags, (f, context) => schema(f, context)));
    });
}
