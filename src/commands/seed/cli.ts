import type { Command } from 'commander';
import { z } from 'zod';
import { seed } from './seed.ts';
import { exitCodesHelp } from '../../report/summary.ts';
import { decimal, sharedFlags, wholeNumber } from '../../engine/config.ts';
import { addCommonOptions } from '../../cli/options.ts';
import { runCommand } from '../../cli/run-command.ts';

// Far beyond production (23k rooms) and any benchmark; a typo of an extra digit or two still fits.
const MAX_ROOMS = 10_000_000;
const MAX_AVERAGE_MESSAGES = 10_000;
const MAX_CHUNKS_IN_FLIGHT = 16;

// seed shows its progress; it keeps no state and no report, and sets no timeouts.
const SEED_GROUPS = ['progress'] as const;
const seedFlags = z
  .object({
    ...sharedFlags(SEED_GROUPS),
    rooms: wholeNumber(1, MAX_ROOMS),
    seed: wholeNumber(0).default(1),
    messagesPerRoom: decimal(1, MAX_AVERAGE_MESSAGES).default(2),
    dropArtistFk: z.boolean().default(false),
    concurrency: wholeNumber(1, MAX_CHUNKS_IN_FLIGHT).default(2),
  })
  .strict();

export function registerSeed(program: Command, setExitCode: (code: number) => void): void {
  addCommonOptions(program.command('seed'), SEED_GROUPS)
    .description('fill a database with synthetic legacy data that looks like production (creates the schema if missing)')
    .requiredOption('--rooms <n>', 'how many rooms (production: ~23k)')
    .option('--seed <int>', 'the same seed gives the same rows, byte for byte', '1')
    .option('--messages-per-room <average>', 'average memories per room (production: ~2); raise it for benchmarks', '2')
    .option('--drop-artist-fk', "drop rooms.artist_id's foreign key (production may lack it) to seed rooms whose artist is gone")
    .option('--concurrency <n>', 'chunks generated at once, one connection each', '2')
    .addHelpText(
      'after',
      `
Examples:
  $ createdb recoup_seed && recoup-migrate seed --rooms 23000 --database-url postgres://localhost/recoup_seed
  $ recoup-migrate seed --rooms 20000 --messages-per-room 50 --seed 7    one million memories

Refuses (exit 2) a database whose public.rooms already has rows. Never point it at production.

${exitCodesHelp({ 0: 'the database was seeded' })}`,
    )
    .action(async (flags: Record<string, unknown>) => {
      setExitCode(await runCommand('seed', seedFlags, flags, (f, context) => seed(f, context)));
    });
}
