import { Command } from 'commander';
import { TOOL_VERSION } from './engine/runs.ts';
import { EXIT_CODES_HELP } from './report/summary.ts';
import { errorMessage } from './engine/errors.ts';
import { registerBackfill } from './commands/backfill/cli.ts';
import { registerDropLegacy } from './commands/drop-legacy/cli.ts';
import { registerRestore } from './commands/drop-legacy/restore-cli.ts';
import { registerSchema } from './commands/schema/cli.ts';
import { registerStatus } from './commands/status/cli.ts';
import { registerStampArtistId } from './commands/stamp-artist-id/cli.ts';
import { registerFixParts } from './commands/fix-parts/cli.ts';
import { registerReconcile } from './commands/reconcile/cli.ts';
import { registerExplain } from './commands/reconcile/explain-cli.ts';
import { registerSeed } from './commands/seed/cli.ts';
import { registerDemo } from './commands/seed/demo-cli.ts';

/** Each command registers itself from src/commands/<name>/cli.ts; this file only lists them. */
const REGISTRATIONS = [registerBackfill, registerSchema, registerStatus, registerStampArtistId, registerReconcile, registerExplain, registerSeed, registerDemo, registerFixParts, registerDropLegacy, registerRestore];

export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('recoup-migrate')
    .description('Move Recoupable chat history from rooms/memories to sessions/chats/chat_messages, and prove it.')
    .version(TOOL_VERSION)
    .showHelpAfterError()
    .addHelpText('after', `\n${EXIT_CODES_HELP}\n\nStart with: recoup-migrate demo`)
    // Before the commands are added: they inherit it, so a bad flag of a command throws here (exit 2)
    // instead of commander exiting the process with its own code 1.
    .exitOverride();
  for (const register of REGISTRATIONS) register(program, setExitCode);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  let exitCode = 0;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    // Commander has written its message to stderr; --json still gets its one object on stdout.
    if (argv.includes('--json')) {
      const command = argv.slice(2).find((arg) => !arg.startsWith('-')) ?? null;
      process.stdout.write(`${JSON.stringify({ command, exitCode: 2, error: errorMessage(error) })}\n`);
    }
    return 2;
  }
  return exitCode;
}
