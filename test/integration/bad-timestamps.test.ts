import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

/** memories.updated_at becomes the message's created_at: infinity or a BC date gives it none. */
describe('a memory whose updated_at is no time', () => {
  let env: Db;
  let room: string;
  const bad = {} as Record<'infinity' | 'minusInfinity' | 'bc', string>;
  beforeAll(async () => {
    env = await createMigrationDatabase();
    room = await insertRoom(env.pool, { accountId: await insertAccount(env.pool) });
    await insertMemory(env.pool, room, { role: 'user', content: 'a real question' }, '2025-05-01T00:00:01Z');
    for (const [name, time] of [['infinity', 'infinity'], ['minusInfinity', '-infinity'], ['bc', '0044-03-15 12:00:00+00 BC']] as const) {
      bad[name] = await insertMemory(env.pool, room, { role: 'assistant', content: `answer ${name}` }, time);
    }
  });
  afterAll(async () => env.close());

  it('is skipped with message_no_time, its room migrated, reconcile in agreement, nothing written as AD', async () => {
    const backfill = await runCli(['backfill', '--json', '--report-dir', 'reports-backfill'], { databaseUrl: env.db.url });
    expect(backfill.code, backfill.stderr).toBe(0);
    expect(backfill.json!.rooms).toMatchObject({ migrated: 1, failed: 0 });
    expect(backfill.json!.messages).toMatchObject({ written: 1, skipped: 3 });
    expect(backfill.json!.reasons).toEqual({ message_no_time: 3 });
    const { rows } = await env.pool.query<{ id: string }>('select id from chat_messages where chat_id = $1', [room]);
    expect(rows.map((r) => r.id)).not.toContain(bad.bc);
    const reconcile = await runCli(['reconcile', '--json', '--report-dir', 'reports-reconcile'], { databaseUrl: env.db.url });
    expect(reconcile.code, reconcile.stderr).toBe(0);
    expect(reconcile.json!.reasons).toEqual({ message_no_time: 3 });
    const explain = await runCli(['explain', '--room', room, '--json'], { databaseUrl: env.db.url });
    const verdicts = new Map((explain.json!.entries as { memoryId: string; verdict: string; detail?: string }[]).map((e) => [e.memoryId, e]));
    expect(verdicts.get(bad.infinity)).toMatchObject({ verdict: 'skipped', detail: 'updated_at is infinity: the message has no time to be placed at' });
    expect(verdicts.get(bad.bc)!.detail).toMatch(/^updated_at is a date before year 1 \(0044-03-15 12:00:00\+00 BC\)/);
  });
});
