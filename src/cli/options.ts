import { Option, type Command } from 'commander';
import { DEFAULT_STATE_SCHEMA } from '../engine/state-schema.ts';
import type { RoomScope } from '../engine/source-reads.ts';
import type { ThrottleLimits } from '../engine/throttle.ts';
import { SHARED_GROUPS, type SharedGroup } from '../engine/config.ts';

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * Connection, --json and --log-level, which every command takes, and the shared groups it honours (all of
 * them by default; engine/config.ts's SHARED_GROUPS says which flags each group holds).
 */
export function addCommonOptions(command: Command, groups: readonly SharedGroup[] = SHARED_GROUPS): Command {
  const has = (group: SharedGroup) => groups.includes(group);
  command
    .option('--database-url <url>', 'Postgres URL (else DATABASE_URL, else the PG* variables)')
    .option('--ssl-ca <file>', 'verify the server against this CA certificate (Supabase: its root certificate)')
    .option('--insecure-tls', 'encrypt without verifying the server certificate (allows a man in the middle)')
    .option('--allow-plaintext', 'allow a non-TLS connection to a non-local host');
  if (has('state')) command.option('--state-schema <name>', "schema for the tool's own state", DEFAULT_STATE_SCHEMA);
  if (has('reports')) command.option('--report-dir <dir>', 'where reports go (default ./recoup-migrate-reports/<command>-<run id>/)');
  command.option('--json', 'print exactly one JSON summary on stdout').option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'info');
  if (has('progress')) command.option('--no-progress', 'no progress bar (there is none off a TTY anyway)');
  if (has('values')) command.option('--show-values', 'print (truncated) message values in reports; off by default');
  if (has('timeouts')) {
    command
      .option('--statement-timeout <ms>', 'SET LOCAL statement_timeout per transaction', '120000')
      .option('--lock-timeout <ms>', 'SET LOCAL lock_timeout per transaction', '10000');
  }
  return command;
}

/** Flags of every command that walks rooms. `batchSize`: the default, measured per command (docs/benchmarks.md). */
export function addWalkOptions(command: Command, batchSize = '500'): Command {
  return command
    .option('--batch-size <n>', 'rooms per batch (one transaction each)', batchSize)
    .option('--concurrency <n>', 'batches in flight in this process', '2')
    .option('--room <uuid>', 'only this room (repeatable)', collect)
    .option('--since <time>', 'only rooms with any legacy change since this ISO time')
    .option('--limit <n>', 'at most this many rooms');
}

/** The parsed walk and timeout flags as the room-walking commands' options take them. */
export function walkOptionsFrom(flags: {
  room?: string[] | undefined;
  since?: Date | undefined;
  limit?: number | undefined;
  batchSize: number;
  concurrency: number;
  statementTimeout: number;
  lockTimeout: number;
}): { scope: RoomScope; batchSize: number; concurrency: number; statementTimeoutMs: number; lockTimeoutMs: number } {
  return {
    scope: { rooms: flags.room, since: flags.since, limit: flags.limit },
    batchSize: flags.batchSize,
    concurrency: flags.concurrency,
    statementTimeoutMs: flags.statementTimeout,
    lockTimeoutMs: flags.lockTimeout,
  };
}

export function addBudgetOptions(command: Command): Command {
  return command
    .option('--max-skipped-ratio <0..1>', 'exit 1 when more than this share of migrated rooms\' memories were skipped')
    .option('--max-skipped-rooms <n>', 'exit 1 when more rooms than this were skipped')
    .option('--max-failed <n>', 'exit 1 when more rooms than this failed (default 0)');
}

export function dryRunOption(): Option {
  return new Option('--dry-run', 'run the real statements in transactions that are rolled back; write nothing');
}

/** Adaptive batches, a time budget and throttling, for commands that walk batches (of rooms or messages). */
export function addPacingOptions(command: Command): Command {
  return command
    .option('--target-batch-ms <ms>', 'adapt the batch size toward this duration (grows ×1.2 at most, shrinks fast)')
    .option('--time-budget <duration>', 'stop cleanly before this much time has passed (e.g. 25m); exit 0, "complete": false')
    .option('--max-lock-waiters <n>', 'pause while more sessions than this wait on locks', '10')
    .option('--max-replication-lag <seconds>', 'pause while a replica lags more than this', '30')
    .option('--no-throttle', 'never pause for lock waiters or replication lag (skips the check before each batch)');
}

/** The pacing the flags ask for: adaptive batches, a time budget, and the throttle (null with --no-throttle). */
export function pacingFrom(flags: {
  targetBatchMs?: number | undefined;
  timeBudget?: number | undefined;
  throttle: boolean;
  maxLockWaiters: number;
  maxReplicationLag: number;
}): { targetBatchMs: number | undefined; timeBudgetMs: number | undefined; throttle: ThrottleLimits | null } {
  return {
    targetBatchMs: flags.targetBatchMs,
    timeBudgetMs: flags.timeBudget,
    throttle: flags.throttle ? { maxLockWaiters: flags.maxLockWaiters, maxReplicationLagSeconds: flags.maxReplicationLag } : null,
  };
}
