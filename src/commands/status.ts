import { quoteIdent } from '../db/sql-files.ts';
import { stateSchemaExists } from '../db/state-schema.ts';
import { summaryHead, type RunSummary } from '../report/summary.ts';
import type { CommandContext } from './context.ts';

// How many recent runs `status` lists.
const RECENT_RUNS = 10;

export interface RunStatus {
  runId: string;
  command: string;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  heartbeatAt: string;
  /** Rooms in the run's finished batches (backfill). */
  roomsDone: number;
  roomsPerSecond: number | null;
  etaSeconds: number | null;
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

/** Runs, leases, rates and ETA from the state schema. Read-only; exit 0 whenever it can read them. */
export async function status(context: CommandContext): Promise<RunSummary> {
  const { pool, stateSchema } = context;
  const base: RunSummary = {
    ...summaryHead('status', context, { dryRun: false, complete: true, exitCode: 0 }),
    reasons: {},
    reportDir: null,
  };
  if (!(await stateSchemaExists(pool, stateSchema))) {
    return { ...base, stateSchema, runs: [], leases: [], note: `No state schema ${stateSchema} yet: no run has written here.` };
  }
  const state = quoteIdent(stateSchema);
  const { rows: runs } = await pool.query<{
    run_id: string;
    command: string;
    status: string;
    started_at: Date;
    finished_at: Date | null;
    heartbeat_at: Date;
    summary: unknown;
    rooms_done: number;
    elapsed_s: number;
  }>(
    `select r.run_id, r.command, r.status, r.started_at, r.finished_at, r.heartbeat_at, r.summary,
            (select coalesce(sum(b.rooms), 0)::int from ${state}.batches b
              where b.run_id = r.run_id and b.status = 'done') as rooms_done,
            extract(epoch from coalesce(r.finished_at, now()) - r.started_at)::float8 as elapsed_s
       from ${state}.runs r order by r.started_at desc limit $1`,
    [RECENT_RUNS],
  );
  // After drop-legacy, public.rooms is gone: status still reads the runs, without an ETA.
  const { rows: roomsTable } = await pool.query<{ present: boolean }>(`select to_regclass('public.rooms') is not null as present`);
  const totalRooms = roomsTable[0]?.present
    ? ((await pool.query<{ n: number }>(`select count(*)::int as n from public.rooms`)).rows[0]?.n ?? 0)
    : null;
  const { rows: leases } = await pool.query<{ name: string; command: string; run_id: string; holder: string; expires_at: Date; live: boolean }>(
    `select name, command, run_id, holder, expires_at, expires_at > now() as live from ${state}.leases order by acquired_at`,
  );
  const runStatuses: RunStatus[] = runs.map((run) => {
    const rate = run.elapsed_s > 0 && run.rooms_done > 0 ? run.rooms_done / run.elapsed_s : null;
    const running = run.status === 'running';
    return {
      runId: run.run_id,
      command: run.command,
      status: run.status,
      startedAt: run.started_at.toISOString(),
      finishedAt: run.finished_at?.toISOString() ?? null,
      heartbeatAt: run.heartbeat_at.toISOString(),
      roomsDone: run.rooms_done,
      roomsPerSecond: rate,
      etaSeconds: running && rate && totalRooms !== null ? Math.max(0, (totalRooms - run.rooms_done) / rate) : null,
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
