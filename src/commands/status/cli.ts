import type { Command } from 'commander';
import { status } from './status.ts';
import { EXIT_CODES_HELP } from '../../report/summary.ts';
import { commonFlags } from '../../engine/config.ts';
import { addCommonOptions } from '../../cli/options.ts';
import { runCommand } from '../../cli/run-command.ts';

export function registerStatus(program: Command, setExitCode: (code: number) => void): void {
  addCommonOptions(program.command('status'))
    .description("runs, leases, rates and ETA from the tool's state schema (read-only)")
    .addHelpText('after', `\nExamples:\n  $ recoup-migrate status\n  $ recoup-migrate status --json | jq '.runs[0]'\n\n${EXIT_CODES_HELP}`)
    .action(async (flags: Record<string, unknown>) => {
      setExitCode(await runCommand('status', commonFlags.strict(), flags, (_f, context) => status(context)));
    });
}
