import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../support/cli.ts';
import { createMigrationDatabase, seedDeterministicRooms } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

describe('status', () => {
  let env: Db;
  beforeAll(async () => {
    env = await createMigrationDatabase();
  });
  afterAll(async () => env.close());

  it('says so, with exit 0, when no run has happened yet, and creates nothing', async () => {
    const result = await runCli(['status', '--json'], { databaseUrl: env.db.url });
    expect(result.code).toBe(0);
    expect(result.json).toMatchObject({ command: 'status', exitCode: 0, runs: [], leases: [] });
    expect((await env.pool.query(`select to_regnamespace('recoup_migrate') as ns`)).rows[0].ns).toBeNull();
  });

  it('lists runs with their rooms, rate and outcome, newest first', async () => {
    await seedDeterministicRooms(env.pool, 30, 2);
    const first = await runCli(['backfill', '--json', '--batch-size', '10'], { databaseUrl: env.db.url });
    const second = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
    const result = await runCli(['status', '--json'], { databaseUrl: env.db.url });
    expect(result.code).toBe(0);
    const runs = result.json!.runs as { runId: string; command: string; status: string; roomsDone: number }[];
    expect(runs.map((r) => r.runId)).toEqual([second.json!.runId, first.json!.runId]);
    // Both walked every room: the second found them unchanged.
    for (const run of runs) {
      expect(run).toMatchObject({ command: 'backfill', status: 'completed', unit: 'rooms', done: 30, total: 30, roomsDone: 30, workers: [], etaSeconds: null });
    }
    expect(runs[1]).toMatchObject({ batches: { pending: 0, running: 0, done: 3, split: 0 } });
    const human = await runCli(['status'], { databaseUrl: env.db.url });
    expect(human.stdout).toContain(first.json!.runId);
    expect(human.stdout).toContain('completed');
    expect(human.stdout).toContain('30 rooms');
  });
});

describe('status of a run nobody works on any more', () => {
  let env: Db;
  beforeAll(async () => {
    env = await createMigrationDatabase();
  });
  afterAll(async () => env.close());

  it('after kill -9, calls the run abandoned (since when, by whom) with no ETA, and gives the command that goes on', async () => {
    await seedDeterministicRooms(env.pool, 300, 3);
    const child = spawn(process.execPath, [BIN, 'backfill', '--json', '--batch-size', '5', '--concurrency', '1', '--limit', '250'], {
      env: { ...process.env, DATABASE_URL: env.db.url },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    for (;;) {
      const { rows } = await env.pool.query(`select count(*)::int as n from recoup_migrate.room_ledger`).catch(() => ({ rows: [{ n: 0 }] }));
      if (rows[0].n >= 20) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    child.kill('SIGKILL');
    await exited;

    const result = await runCli(['status', '--json'], { databaseUrl: env.db.url });
    const run = (result.json!.runs as { status: string; etaSeconds: number | null; abandoned: { since: string; lastWorker: string; resume: string } | null }[])[0]!;
    expect(run.status).toBe('abandoned');
    expect(run.etaSeconds).toBeNull();
    expect(run.abandoned!.lastWorker).toBe(`${(await import('node:os')).hostname()}:${child.pid}`);
    expect(Date.parse(run.abandoned!.since)).toBeLessThanOrEqual(Date.now());
    expect(run.abandoned!.resume).toBe('npx recoup-migrate backfill --limit 250');
    const human = await runCli(['status'], { databaseUrl: env.db.url });
    expect(human.stdout).toMatch(/abandoned .*\n\s+no live worker: last seen .* by .*:\d+\. To go on: npx recoup-migrate backfill --limit 250/);

    // The command it gives goes on: the work is finished, the abandoned run is closed as incomplete.
    const resumed = await runCli(['backfill', '--json', '--limit', '250'], { databaseUrl: env.db.url });
    expect(resumed.code).toBe(0);
    expect(resumed.json!.rooms, JSON.stringify(resumed.json)).toMatchObject({ total: 250, failed: 0 });
    expect(resumed.json!.rooms.migrated + resumed.json!.rooms.unchanged, JSON.stringify(resumed.json!.rooms)).toBe(250);
    const after = (await runCli(['status', '--json'], { databaseUrl: env.db.url })).json!.runs as { status: string }[];
    expect(after.map((r) => r.status).slice(0, 2)).toEqual(['completed', 'incomplete']);
  });

  it('calls a run abandoned when its only worker, on another machine, let its lease expire', async () => {
    const runId = '00000000-0000-4000-8000-0000000000ab';
    await env.pool.query(
      `insert into recoup_migrate.runs (run_id, command, scope, status, tool_version, converter_version, started_at)
       values ($1, 'fix-parts', '{"chats": ["chat-1"]}', 'running', '0.1.0', 1, now() - interval '5 minutes')`,
      [runId],
    );
    await env.pool.query(
      `insert into recoup_migrate.leases (name, run_id, command, holder, expires_at) values ('fix-parts:x', $1, 'fix-parts', 'elsewhere:4242', now() - interval '1 minute')`,
      [runId],
    );
    const runs = (await runCli(['status', '--json'], { databaseUrl: env.db.url })).json!.runs as { runId: string; status: string; abandoned: unknown }[];
    expect(runs.find((r) => r.runId === runId)).toMatchObject({
      status: 'abandoned',
      abandoned: { lastWorker: 'elsewhere:4242', resume: 'npx recoup-migrate fix-parts --chat chat-1' },
    });
    // A live lease of another machine is a live worker: not abandoned.
    await env.pool.query(`update recoup_migrate.leases set expires_at = now() + interval '1 minute' where run_id = $1`, [runId]);
    const live = (await runCli(['status', '--json'], { databaseUrl: env.db.url })).json!.runs as { runId: string; status: string; abandoned: unknown }[];
    expect(live.find((r) => r.runId === runId)).toMatchObject({ status: 'running', abandoned: null });
  });
});
