import { summaryHead, type RunSummary } from '../../report/summary.ts';
import { createProgress } from '../../engine/progress.ts';
import type { CommandContext } from '../../engine/context.ts';
import { seedDatabase, type SeedOptions } from './database.ts';

export type { SeedOptions } from './database.ts';

/** `recoup-migrate seed`: synthetic legacy data shaped like production, deterministic per --seed. */
export async function seed(options: SeedOptions, context: CommandContext): Promise<RunSummary> {
  const started = Date.now();
  const result = await seedDatabase(context.pool, options, {
    logger: context.logger,
    progress: createProgress('seed', context.progress, 'rooms'),
  });
  return {
    ...summaryHead('seed', context, { dryRun: false, complete: true, exitCode: 0 }),
    reasons: {},
    reportDir: null,
    seed: options.seed,
    seeded: {
      accounts: result.accounts,
      rooms: result.rooms,
      memories: result.memories,
      largestRoom: result.largestRoom,
      ...result.dependents,
    },
    danglingArtists: result.danglingArtists,
    schemaCreated: result.schemaCreated,
    durationMs: Date.now() - started,
  };
}
