import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

/**
 * A room nothing was written for takes backfill's plain-insert path; a row that meets a conflict there
 * (its id already taken) falls back to the classified path and is never overwritten.
 */
describe('backfill of a room nothing was written for', () => {
  let env: Db;
  let room: string;
  let taken: string;
  let free: string;
  const appValue = JSON.stringify({ id: 'x', role: 'user', parts: [{ type: 'text', text: 'written elsewhere' }] });

  beforeAll(async () => {
    env = await createMigrationDatabase();
    const account = await insertAccount(env.pool);
    room = await insertRoom(env.pool, { accountId: account, topic: 'fresh' });
    taken = await insertMemory(env.pool, room, { role: 'user', content: 'first' }, '2025-05-01T00:00:01Z');
    free = await insertMemory(env.pool, room, { role: 'assistant', content: 'second' }, '2025-05-01T00:00:02Z');
    // Another chat already holds a message with the first memory's id.
    await env.pool.query(`insert into sessions (id, account_id, title) values ('sess_other', $1, 'other')`, [account]);
    await env.pool.query(`insert into chats (id, session_id, title) values ('chat_other', 'sess_other', 'other')`);
    await env.pool.query(`insert into chat_messages (id, chat_id, role, parts) values ($1, 'chat_other', 'user', $2::jsonb)`, [taken, appValue]);
  });
  afterAll(async () => env.close());

  it('inserts and ledgers what is free, and leaves the taken row as it was, noted', async () => {
    const result = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
    expect(result.code, result.stderr).toBe(0);
    expect(result.json!.messages).toMatchObject({ written: 1 });
    expect(result.json!.reasons).toEqual({ message_needs_fix_parts: 1 });
    const { rows } = await env.pool.query<{ id: string; chat_id: string; parts: string }>('select id, chat_id, parts::text as parts from chat_messages order by id');
    expect(rows.find((r) => r.id === taken)).toMatchObject({ chat_id: 'chat_other' });
    expect(JSON.parse(rows.find((r) => r.id === taken)!.parts)).toEqual(JSON.parse(appValue));
    expect(rows.find((r) => r.id === free)).toMatchObject({ chat_id: room });
    const { rows: ledger } = await env.pool.query<{ kind: string; id: string; inserted: boolean }>(
      `select kind, id, inserted_by is not null as inserted from recoup_migrate.target_ledger order by kind, id`,
    );
    expect(ledger).toEqual(expect.arrayContaining([
      { kind: 'message', id: free, inserted: true },
      { kind: 'chat', id: room, inserted: true },
    ]));
    expect(ledger.find((l) => l.id === taken)).toBeUndefined();
    const again = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
    expect(again.json!.messages.written).toBe(0);
  });
});
