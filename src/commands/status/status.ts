import { quoteIdent } from '../../engine/sql-files.ts';
import { stateSchemaExists } from '../../engine/state-schema.ts';
import { summaryHead, type RunSummary } from '../../report/summary.ts';
import type { CommandContext } from '../../engine/context.ts';
import { isDeadLocalHolder, LEASE_TTL_SECONDS } from '../../engine/leases.ts';
import { assertPrivileges, RLS_TABLES, tablesHiddenByRls } from '../../engine/preflight.ts';

// How many recent runs `status` lists.
const RECENT_RUNS = 10;

export interface RunStatus {
  runId: string;
  command: string;
  /**
   * As recorded, except `abandoned`: recorded as running, but no live worker holds it (every lease
   * expired, or held by a process on this machine that no longer exists: kill -9, OOM, a reboot).
   */
  status: string;
  /** For an abandoned run: its last sign of life (the last lease renewal), the worker that gave it, and how to go on. */
  abandoned: { since: string; lastWorker: string | null; resume: string } | null;
  startedAt: string;
  finishedAt: string | null;
  heartbeatAt: string;
  /** What the run's batches walk: rooms (backfill, reconcile) or chat_messages (fix-parts). */
  unit: 'rooms' | 'messages';
  /** Keys in the run's finished batches. */
  done: number;
  /** Keys in scope when the run started (shared runs); null when not recorded. */
  total: number | null;
  perSecond: number | null;
  etaSeconds: number | null;
  /** The run's batches by status, and the workers holding running ones. */
  batches: { pending: number; running: number; done: number; split: number };
  workers: string[];
  /** `done` and `perSecond` for runs that walk rooms (the names before fix-parts shared the runner). */
  roomsDone: number | null;
  roomsPerSecond: number | null;
  summary: unknown;
}

export interface LeaseStatus {
  name: string;
  command: string;
  runId: string;
  holder: string;
  expiresAt: string;
  live: boolean;
}

function unitOf(command: string): RunStatus['unit'] {
  return command === 'fix-parts' ? 'messages' : 'rooms';
}

/** Runs, batches, workers, leases, rates and ETA from the state schema. Read-only; exit 0 whenever it can read them. */
export async function status(context: CommandContext): Promise<RunSummary> {
  const { pool, stateSchema } = context;
  const base: RunSummary = {
    ...summaryHead('status', context, { dryRun: false, complete: true, exitCode: 0 }),
    reasons: {},
    reportDir: null,
  };
  // Not a reason to stop: status reads only its own schema, and must work after drop-legacy too. But the
  // other commands would refuse this role, and the operator should hear it here first.
  const hidden = await tablesHiddenByRls(pool, RLS_TABLES, {});
  // Reading the runs needs USAGE on the state schema, and SELECT on its tables: exit 2 with the GRANT, not 3.
  await assertPrivileges(pool, { target: false, legacy: false, state: { schema: stateSchema, write: false } });
  const warnings = hidden.map((h) => `Row-level security hides rows of public.${h.table} from this role (${h.why}): the other commands will refuse it (exit 2).`);
  for (const warning of warnings) context.logger.warn(warning);
  if (warnings.length > 0) base.warnings = warnings;
  if (!(await stateSchemaExists(pool, stateSchema))) {
    return { ...base, stateSchema, runs: [], leases: [], note: `No state schema ${stateSchema} yet: no run has written here.` };
  }
  const state = quoteIdent(stateSchema);
  // keys_total is read through to_jsonb so that a state schema from an earlier version (without the
  // column) can still be read: status never upgrades anything.
  const { rows: runs } = await pool.query<{
    run_id: string;
    command: string;
    status: string;
    started_at: Date;
    finished_at: Date | null;
    heartbeat_at: Date;
    summary: unknown;
    keys_total: number | null;
    done: number;
    pending: number;
    running: number;
    batches_done: number;
    split: number;
    workers: string[];
    elapsed_s: number;
    scope: Record<string, unknown>;
    live_holders: string[];
    last_renewed_at: Date | null;
    last_holder: string | null;
  }>(
    `select r.run_id, r.command, r.status, r.started_at, r.finished_at, r.heartbeat_at, r.summary, r.scope,
            (to_jsonb(r) ->> 'keys_total')::int as keys_total, b.*, l.*,
            extract(epoch from coalesce(r.finished_at, now()) - r.started_at)::float8 as elapsed_s
       from ${state}.runs r
       cross join lateral (
         select coalesce(array_agg(holder) filter (where expires_at > now()), '{}') as live_holders,
                max(expires_at) - make_interval(secs => $2) as last_renewed_at,
                (array_agg(holder order by expires_at desc))[1] as last_holder
           from ${state}.leases where run_id = r.run_id) l
       cross join lateral (
         select coalesce(sum(rooms) filter (where status = 'done'), 0)::int as done,
                count(*) filter (where status = 'pending')::int as pending,
                count(*) filter (where status = 'running')::int as running,
                count(*) filter (where status = 'done')::int as batches_done,
                count(*) filter (where status = 'split')::int as split,
                coalesce(array_agg(distinct claimed_by) filter (where status = 'running' and claimed_by is not null), '{}') as workers
           from ${state}.batches where run_id = r.run_id) b
      order by r.started_at desc limit $1`,
    [RECENT_RUNS, LEASE_TTL_SECONDS],
  );
  // Runs recorded without their total (before the column existed) that walk rooms: all rooms, as
  // before. After drop-legacy, public.rooms is gone: status still reads the runs, without an ETA.
  const { rows: roomsTable } = await pool.query<{ present: boolean }>(`select to_regclass('public.rooms') is not null as present`);
  const allRooms = runs.some((run) => run.keys_total === null && unitOf(run.command) === 'rooms') && roomsTable[0]?.present
    ? ((await pool.query<{ n: number }>(`select count(*)::int as n from public.rooms`)).rows[0]?.n ?? null)
    : null;
  const { rows: leases } = await pool.query<{ name: string; command: string; run_id: string; holder: string; expires_at: Date; live: boolean }>(
    `select name, command, run_id, holder, expires_at, expires_at > now() as live from ${state}.leases order by acquired_at`,
  );
  const runStatuses: RunStatus[] = runs.map((run) => {
    const unit = unitOf(run.command);
    const rate = run.elapsed_s > 0 && run.done > 0 ? run.done / run.elapsed_s : null;
    const total = run.keys_total ?? (unit === 'rooms' ? allRooms : null);
    const abandoned = run.status === 'running' && run.live_holders.every(isDeadLocalHolder);
    const running = run.status === 'running' && !abandoned;
    return {
      runId: run.run_id,
      command: run.command,
      status: abandoned ? 'abandoned' : run.status,
      abandoned: abandoned
        ? {
            since: (run.last_renewed_at ?? run.heartbeat_at).toISOString(),
            lastWorker: run.last_holder,
            resume: resumeCommand(run.command, run.scope),
          }
        : null,
      startedAt: run.started_at.toISOString(),
      finishedAt: run.finished_at?.toISOString() ?? null,
      heartbeatAt: run.heartbeat_at.toISOString(),
      unit,
      done: run.done,
      total: run.keys_total,
      perSecond: rate,
      etaSeconds: running && rate && total !== null ? Math.max(0, (total - run.done) / rate) : null,
      batches: { pending: run.pending, running: run.running, done: run.batches_done, split: run.split },
      workers: run.workers,
      roomsDone: unit === 'rooms' ? run.done : null,
      roomsPerSecond: unit === 'rooms' ? rate : null,
      summary: run.summary,
    };
  });
  return {
    ...base,
    stateSchema,
    runs: runStatuses,
    leases: leases.map((l) => ({
      name: l.name,
      command: l.command,
      runId: l.run_id,
      holder: l.holder,
      expiresAt: l.expires_at.toISOString(),
      live: l.live,
    })),
  };
}

/**
 * The command that goes on with an abandoned run: the same command and scope. A new run starts (and marks
 * the old one incomplete); what the old one committed is already done and is not redone.
 */
function resumeCommand(command: string, scope: Record<string, unknown>): string {
  // Their runs record the tables, not the flags that chose them.
  if (command === 'drop-legacy' || command === 'restore') return `npx recoup-migrate ${command} with the flags it was started with`;
  const args = ['npx recoup-migrate', command];
  const list = (value: unknown) => (Array.isArray(value) ? value.map(String) : []);
  for (const room of list(scope.rooms)) args.push('--room', room);
  for (const chat of list(scope.chats)) args.push('--chat', chat);
  if (typeof scope.since === 'string') args.push('--since', scope.since);
  if (scope.limit !== undefined && scope.limit !== null) args.push('--limit', String(scope.limit));
  if (scope.sample !== undefined && scope.sample !== null) args.push('--sample', String(scope.sample));
  if (scope.baseline) args.push('--baseline', '<the same baseline file>');
  if (command === 'reconcile') args.push('--shared');
  return args.join(' ');
}
