import { Command } from 'commander';
import { TOOL_VERSION } from '../db/runs.ts';
import { EXIT_CODES_HELP } from '../report/summary.ts';
import { registerBackfill } from './commands/backfill.ts';
import { registerDropLegacy } from './commands/drop-legacy.ts';
import { registerRestore } from './commands/restore.ts';
import { registerSchema } from './commands/schema.ts';
import { registerStatus } from './commands/status.ts';
import { registerStampArtistId } from './commands/stamp-artist-id.ts';
import { registerFixParts } from './commands/fix-parts.ts';
import { registerReconcile } from './commands/reconcile.ts';
import { registerSeed } from './commands/seed.ts';
import { registerDemo } from './commands/demo.ts';

/** Each command registers itself from src/cli/commands/<name>.ts; this file only lists them. */
const REGISTRATIONS = [registerBackfill, registerSchema, registerStatus, registerStampArtistId, registerReconcile, registerSeed, registerDemo, registerFixParts, registerDropLegacy, registerRestore];

export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command('recoup-migrate')
    .description('Move Recoupable chat history from rooms/memories to sessions/chats/chat_messages, and prove it.')
    .version(TOOL_VERSION)
    .showHelpAfterError()
    .addHelpText('after', `\n${EXIT_CODES_HELP}\n\nStart with: recoup-migrate demo`);
  for (const register of REGISTRATIONS) register(program, setExitCode);
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
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    return 2;
  }
  return exitCode;
}
