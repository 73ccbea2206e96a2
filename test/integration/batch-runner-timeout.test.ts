import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatches, type BatchRunnerConfig, type BeforeCommit } from '../../src/engine/batch-runner.ts';
import { roomKeyset, type KeyRange } from '../../src/engine/keysets.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { recordRunStart } from '../../src/engine/runs.ts';
import { ensureStateSchema } from '../../src/engine/state-schema.ts';
import { inTransaction } from '../../src/engine/transactions.ts';
import { createMigrationDatabase, seedDeterministicRooms } from '../support/legacy-data.ts';

const ROOMS = 24;
const TIMEOUT_MS = 250;
// Each room costs this much of a batch's one statement: 24 rooms take ~1.2 s, three rooms ~0.15 s.
const SECONDS_PER_ROOM = 0.05;

/**
 * A batch that hits statement_timeout is halved and run again, down to one room, whether its ranges come
 * from the state schema (shared runs) or are planned in memory (plain reconcile, dry runs). The batch's
 * work here is a sleep proportional to its rooms, so the timeout falls where the test says.
 */
describe('batch runner: a batch that hits statement_timeout', () => {
  let pool: pg.Pool;
  let close: () => Promise<void>;
  let roomIds: string[];
  beforeAll(async () => {
    ({ pool, close } = await createMigrationDatabase());
    await seedDeterministicRooms(pool, ROOMS, 0);
    roomIds = (await pool.query<{ id: string }>('select id::text from rooms order by id')).rows.map((r) => r.id);
  });
  afterAll(async () => close());

  const config = (): BatchRunnerConfig => ({
    pool,
    stateSchema: 'recoup_migrate',
    runId: randomUUID(),
    keyset: roomKeyset({}),
    shared: false,
    concurrency: 1,
    batchSize: ROOMS,
    startedAt: new Date(),
    throttle: null,
    stopSignal: new AbortController().signal,
    logger: createLogger('silent'),
  });

  /** The rooms of a range, read and "worked on" in one statement under the timeout. */
  const work = (slowRoom: string | null) => async (range: KeyRange, beforeCommit?: BeforeCommit<string[]>) =>
    inTransaction(pool, { isolation: 'read committed', statementTimeoutMs: TIMEOUT_MS, lockTimeoutMs: 1_000 }, async (client) => {
      const { rows } = await client.query<{ ids: string[] }>(
        `select array_agg(id::text order by id) as ids,
                pg_sleep(sum(case when id = $3::uuid then 1.0 else $4::float8 end)) is null as slept
           from rooms where ($1::uuid is null or id > $1::uuid) and id <= $2::uuid`,
        [range.after, range.last, slowRoom, SECONDS_PER_ROOM],
      );
      // A shared batch is marked done in the transaction that did its work.
      await beforeCommit?.(client, rows[0]!.ids);
      return rows[0]!.ids;
    });

  it('planned in memory, is halved until it fits, and every room is done exactly once', async () => {
    const done: string[] = [];
    const batches: number[] = [];
    const stop = await runBatches<string[]>(config(), {
      run: work(null),
      keys: (ids) => ids.length,
      stats: () => ({}),
      onResults: async (ids) => {
        done.push(...ids);
        batches.push(ids.length);
      },
    });
    expect(stop).toBe('done');
    expect(done.sort()).toEqual(roomIds);
    expect(Math.max(...batches)).toBeLessThan(ROOMS);
  });

  it('stops at one room that alone outlasts the timeout, naming it and the flag to raise', async () => {
    const slow = roomIds[7]!;
    const run = runBatches<string[]>(config(), { run: work(slow), keys: (ids) => ids.length, stats: () => ({}), onResults: async () => {} });
    await expect(run).rejects.toThrow(`Room ${slow} alone takes longer than the statement timeout`);
    await expect(run).rejects.toThrow('Raise --statement-timeout');
  });

  it('shared through the state schema, is split there the same way, down to the one room that cannot fit', async () => {
    await ensureStateSchema(pool, 'recoup_migrate');
    const shared = async () => {
      const c = { ...config(), shared: true };
      await recordRunStart(pool, c.stateSchema, { runId: c.runId, command: 'reconcile', scope: {}, options: {}, converterVersion: 1 });
      return c;
    };
    const done: string[] = [];
    const handlers = { keys: (ids: string[]) => ids.length, stats: () => ({}), onResults: async (ids: string[]) => void done.push(...ids) };
    expect(await runBatches<string[]>(await shared(), { ...handlers, run: work(null) })).toBe('done');
    expect(done.sort()).toEqual(roomIds);
    const slow = roomIds[20]!;
    await expect(runBatches<string[]>(await shared(), { ...handlers, run: work(slow) })).rejects.toThrow(`Room ${slow} alone takes longer than the statement timeout`);
  });
});
