import type { Command } from 'commander';
import { status } from './status.ts';
import { exitCodesHelp } from '../../report/summary.ts';
import { sharedFlags } from '../../engine/config.ts';
import { z } from 'zod';

// status reads the state schema and keeps no report, shows no bar, and sets no timeouts.
const STATUS_GROUPS = ['state'] as const;
const statusFlags = z.object(sharedFlags(STATUS_GROUPS)).strict();
import { addCommonOptions } from '../../cli/options.ts';
import { runCommand } from '../../cli/run-command.ts';

export function registerStatus(program: Command, setExitCode: (code: number) => void): void {
  addCommonOptions(program.command('status'), STATUS_GROUPS)
    .description("runs, leases, rates and ETA from the tool's state schema (read-only)")
    .addHelpText('after', `\nExamples:\n  $ recoup-migrate status\n  $ recoup-migrate status --json | jq '.runs[0]'\n\n${exitCodesHelp({ 0: 'the runs and leases were read (also when no run has happened yet)', 3: 'it failed while reading' })}`)
    .action(async (flags: Record<string, unknown>) => {
      setExitCode(await runCommand('status', statusFlags, flags, (_f, context) => status(context)));
    });
}
