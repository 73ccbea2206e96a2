import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
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
