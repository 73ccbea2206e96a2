import type pg from 'pg';
import type { ResolvedConnection } from '../db/connection.ts';
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
