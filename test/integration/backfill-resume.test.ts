import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../support/cli.ts';
import { createMigrationDatabase, seedDeterministicRooms, targetDigest } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

const ROOMS = 600;
const MEMORIES_PER_ROOM = 4;
// Kill points, as a share of the rooms the ledger has recorded when the kill -9 lands.
const KILL_POINTS = [0.1, 0.45, 0.8];
const POLL_MS = 5;

/** Starts a backfill, kills it with SIGKILL once the ledger holds `rooms` rooms, and waits for it to die. */
async function backfillKilledAfter(env: Db, rooms: number): Promise<{ signal: NodeJS.Signals | null; ledgered: number }> {
  const child = spawn(process.execPath, [BIN, 'backfill', '--json', '--batch-size', '10', '--concurrency', '2'], {
    env: { ...process.env, DATABASE_URL: env.db.url },
    stdio: 'ignore',
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  let done = false;
  void exited.then(() => (done = true));
  let ledgered = 0;
  while (!done) {
    const { rows } = await env.pool
      .query(`select count(*)::int as n from recoup_migrate.room_ledger`)
      .catch(() => ({ rows: [{ n: 0 }] }));
    ledgered = rows[0].n;
    if (ledgered >= rooms) {
      child.kill('SIGKILL');
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return { signal: await exited, ledgered };
}

describe('backfill killed with kill -9 and re-run', () => {
  let reference: Db;
  let referenceDigest: Awaited<ReturnType<typeof targetDigest>>;

  beforeAll(async () => {
    reference = await createMigrationDatabase();
    await seedDeterministicRooms(reference.pool, ROOMS, MEMORIES_PER_ROOM);
    const run = await runCli(['backfill', '--json', '--batch-size', '10'], { databaseUrl: reference.db.url });
    expect(run.code).toBe(0);
    referenceDigest = await targetDigest(reference.pool);
    expect(referenceDigest.counts).toEqual([ROOMS, ROOMS, ROOMS * MEMORIES_PER_ROOM]);
  });
  afterAll(async () => reference.close());

  it.each(KILL_POINTS)('killed at %s of the rooms, then re-run: identical to an uninterrupted run', async (point) => {
    const env = await createMigrationDatabase();
    try {
      await seedDeterministicRooms(env.pool, ROOMS, MEMORIES_PER_ROOM);
      const killed = await backfillKilledAfter(env, Math.floor(ROOMS * point));
      expect(killed.signal).toBe('SIGKILL');
      const partial = await targetDigest(env.pool);
      expect(partial.counts[0]).toBeLessThan(ROOMS);
      // No half-written room: every chat present has all of its messages (one transaction per batch).
      const { rows } = await env.pool.query(
        `select count(*)::int as n from chats c where (select count(*) from chat_messages m where m.chat_id = c.id) <> $1`,
        [MEMORIES_PER_ROOM],
      );
      expect(rows[0].n).toBe(0);

      const resumed = await runCli(['backfill', '--json', '--batch-size', '10'], { databaseUrl: env.db.url });
      expect(resumed.code).toBe(0);
      expect(resumed.json!.rooms.migrated + resumed.json!.rooms.unchanged).toBe(ROOMS);
      expect(await targetDigest(env.pool)).toEqual(referenceDigest);
    } finally {
      await env.close();
    }
  });
});
