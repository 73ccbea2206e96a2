import type pg from 'pg';
import type { ResolvedConnection } from '../db/connection.ts';
import { acquireLease } from '../db/leases.ts';
import { ensureStateSchema } from '../db/state-schema.ts';
import type { Logger } from '../runtime/logger.ts';

/** What every command receives from the CLI edge: an open pool and the run's identity and outputs. */
export interface CommandContext {
  pool: pg.Pool;
  connection: ResolvedConnection;
  logger: Logger;
  stateSchema: string;
  runId: string;
  startedAt: Date;
  /** Where reports go (already resolved: --report-dir or the default). */
  reportDir: string;
  progress: boolean;
  showValues: boolean;
  /** Set by the CLI on the first SIGINT/SIGTERM: stop taking new batches, finish the ones in flight. */
  stopSignal: AbortSignal;
}

/**
 * Runs `work` under the command's lease, creating the state schema on first use. A dry run takes no
 * lease and creates nothing (both are writes), so `work` runs bare.
 */
export async function withCommandLease<T>(context: CommandContext, command: string, dryRun: boolean, work: () => Promise<T>): Promise<T> {
  if (dryRun) return work();
  await ensureStateSchema(context.pool, context.stateSchema);
  const lease = await acquireLease(context.pool, context.stateSchema, { command, runId: context.runId });
  try {
    return await work();
  } finally {
    await lease.release();
  }
}
