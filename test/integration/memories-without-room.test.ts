import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

/** memories.room_id may be NULL: such memories appear in no room, and so used to appear in no count. */
describe('memories without a room', () => {
  let env: Db;
  let orphans: string[];
  beforeAll(async () => {
    env = await createMigrationDatabase();
    const accountId = await insertAccount(env.pool);
    const room = await insertRoom(env.pool, { accountId });
    for (const content of ['a', 'b', 'c']) await insertMemory(env.pool, room, { role: 'user', content });
    const { rows } = await env.pool.query<{ id: string }>(
      `insert into memories (id, room_id, content) select gen_random_uuid(), null, '{"role":"user","content":"lost"}'::jsonb from generate_series(1, 2) returning id::text as id`,
    );
    orphans = rows.map((r) => r.id).sort();
  });
  afterAll(async () => env.close());

  it('unscoped backfill and reconcile count them and list them, so the totals add up to every memory', async () => {
    const all = (await env.pool.query<{ n: number }>('select count(*)::int as n from memories')).rows[0]!.n;
    for (const command of ['backfill', 'reconcile']) {
      const result = await runCli([command, '--json', '--report-dir', `reports-${command}`], { databaseUrl: env.db.url });
      expect(result.code, result.stderr).toBe(0);
      const summary = result.json!;
      expect(summary.withoutRoom).toEqual({ memories: 2, report: 'memories-without-room.jsonl' });
      expect(summary.reasons.memory_no_room).toBe(2);
      expect(summary.messages.total + summary.withoutRoom.memories).toBe(all);
      const lines = readFileSync(join(summary.reportDir, 'memories-without-room.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.map((l) => l.memoryId).sort()).toEqual(orphans);
      expect(lines.every((l) => l.reason === 'memory_no_room')).toBe(true);
    }
  });

  it('a scoped run, which never meant to cover them, leaves them out', async () => {
    const result = await runCli(['reconcile', '--json', '--limit', '1', '--report-dir', 'reports-scoped'], { databaseUrl: env.db.url });
    expect(result.code).toBe(0);
    expect(result.json!).not.toHaveProperty('withoutRoom');
  });
});
