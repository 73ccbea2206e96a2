import type pg from 'pg';
import type { ResolvedConnection } from './connection.ts';
import { acquireLease } from './leases.ts';
import { ensureStateSchema } from './state-schema.ts';
import { joinOrStartRun, markRunIncompleteIfAbandoned } from './work-queue.ts';
import { CONVERTER_VERSION } from '../migration/convert.ts';
import type { Logger } from './logger.ts';

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

/** The run a process works on: its own, or the one it joined. */
export interface SharedRun {
  runId: string;
  /** This process joined a run already in progress with the same scope. */
  joined: boolean;
  /** Where this process's reports go: two workers of one run on one machine must not share a folder. */
  reportDir: string;
}

export interface SharedRunIdentity {
  command: string;
  /**
   * What the run walks: processes join only a run of the same command, scope and converter version.
   * Lists in it (rooms, chats) are compared as sets: `--room b --room a` joins `--room a --room b`.
   */
  scope: object;
  options: object;
}

/**
 * Joins the newest live run of the same command and scope, or starts one, under the command's lease
 * (several processes, on one machine or many, then share its batches; see src/engine/work-queue.ts). After
 * a clean stop (signal, time budget), the run is marked incomplete once no live worker holds it.
 */
export async function withSharedRun<T extends { complete: boolean; error?: string | undefined }>(
  context: CommandContext,
  identity: SharedRunIdentity,
  work: (run: SharedRun) => Promise<T>,
): Promise<T> {
  const { pool, stateSchema } = context;
  await ensureStateSchema(pool, stateSchema);
  let joined = false;
  const lease = await acquireLease(pool, stateSchema, {
    command: identity.command,
    runId: context.runId,
    chooseRun: async (client) => {
      const chosen = await joinOrStartRun(client, stateSchema, context.runId, { ...identity, scope: asSets(identity.scope), converterVersion: CONVERTER_VERSION });
      joined = chosen.joined;
      return chosen.runId;
    },
  });
  if (joined) context.logger.info({ runId: lease.runId }, `Joining the ${identity.command} run already in progress with the same scope`);
  const reportDir =
    joined && context.reportDir.endsWith(context.runId) ? `${context.reportDir.slice(0, -context.runId.length)}${lease.runId}-${process.pid}` : context.reportDir;
  let result: T;
  try {
    result = await work({ runId: lease.runId, joined, reportDir });
  } finally {
    await lease.release();
  }
  // Only once this worker's lease is gone can it tell whether any live worker still holds the run.
  if (!result.complete && result.error === undefined) await markRunIncompleteIfAbandoned(pool, stateSchema, lease.runId).catch(() => {});
  return result;
}

/** The scope with every list sorted and without repeats, so that the order flags were given in does not matter. */
function asSets(scope: object): object {
  return Object.fromEntries(Object.entries(scope).map(([key, value]) => [key, Array.isArray(value) ? [...new Set(value)].sort() : value]));
}
