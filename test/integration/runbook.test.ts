import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJson } from '../../src/migration/json.ts';
import { sessionIdForRoom } from '../../src/migration/session-id.ts';
import { runCli } from '../support/cli.ts';
import { loadMessageFixtures } from '../support/fixtures.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

/**
 * The production runbook from the state the original script left: sessions and chats for every room
 * with a live account, a message for every memory that had parts, copied unchanged (the first half as a
 * bare parts array, the rest as {id, role, parts}), nothing for memories without parts, no ledger.
 */
describe('the production runbook: original script state → backfill → fix-parts → reconcile', () => {
  let env: Db;
  let skippedCopies = 0;
  beforeAll(async () => {
    env = await createMigrationDatabase();
    const accountId = await insertAccount(env.pool);
    // Every fixture, including memories the script copied although the converter skips them (a
    // step-start-only message, whitespace-only text): fix-parts removes those copies.
    const fixtures = loadMessageFixtures();
    skippedCopies = fixtures.filter((fixture) => {
      const content = parseJson(fixture.contentText) as { role?: unknown; parts?: unknown };
      const scriptCopiedIt = Array.isArray(content?.parts) && (content.role === 'user' || content.role === 'assistant');
      return scriptCopiedIt && 'skip' in fixture.expected;
    }).length;
    const rooms = [
      await insertRoom(env.pool, { accountId, topic: 'script room one', updatedAt: '2025-04-01T00:00:00Z' }),
      await insertRoom(env.pool, { accountId, topic: null, updatedAt: '2025-05-01T00:00:00Z' }),
    ];
    await insertRoom(env.pool, { accountId: '99999999-9999-4999-8999-999999999999', topic: 'deleted account' });
    for (const [i, fixture] of fixtures.entries()) {
      await insertMemory(env.pool, rooms[i % 2]!, fixture.contentText, fixture.updatedAt, fixture.memoryId);
    }
    for (const roomId of rooms) {
      const sessionId = sessionIdForRoom(roomId);
      await env.pool.query(
        `insert into sessions (id, account_id, title, created_at, updated_at)
         select $1, r.account_id, coalesce(nullif(trim(r.topic), ''), 'Untitled'), r.updated_at, r.updated_at from rooms r where r.id = $2`,
        [sessionId, roomId],
      );
      await env.pool.query(
        `insert into chats (id, session_id, title, created_at, updated_at)
         select r.id::text, $1, coalesce(nullif(trim(r.topic), ''), 'Untitled'), r.updated_at, r.updated_at from rooms r where r.id = $2`,
        [sessionId, roomId],
      );
    }
    await env.pool.query(
      `insert into chat_messages (id, chat_id, role, parts, created_at)
       select m.id::text, m.room_id::text, m.content->>'role',
              case when row_number() over (order by m.id) % 2 = 0 then m.content->'parts'
                   else jsonb_build_object('id', m.id::text, 'role', m.content->'role', 'parts', m.content->'parts') end,
              m.updated_at
         from memories m join rooms r on r.id = m.room_id join accounts a on a.id = r.account_id
        where jsonb_typeof(m.content->'parts') = 'array' and m.content->>'role' in ('user', 'assistant')`,
    );
  });
  afterAll(async () => env.close());

  it('reconcile first finds the original script\'s damage; the README\'s steps end in a clean reconcile and a drop that passes its gates', async () => {
    const before = await runCli(['reconcile', '--json'], { databaseUrl: env.db.url });
    expect(before.code).toBe(1);
    expect(before.json!.reasons.message_missing).toBeGreaterThan(0);
    expect(before.json!.reasons.message_mismatch).toBeGreaterThan(0);

    const backfill = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
    expect(backfill.code).toBe(0);
    expect(backfill.json!.messages.written).toBeGreaterThan(0);
    expect(backfill.json!.reasons.message_needs_fix_parts).toBeGreaterThan(0);

    const preview = await runCli(['fix-parts', '--dry-run', '--json'], { databaseUrl: env.db.url });
    expect(preview.json!.classes.removed).toBe(skippedCopies);
    const fix = await runCli(['fix-parts', '--json'], { databaseUrl: env.db.url });
    expect(fix.code, fix.stdout).toBe(0);
    expect(skippedCopies).toBeGreaterThan(0);
    expect(fix.json!.classes.removed).toBe(skippedCopies);

    const stamp = await runCli(['stamp-artist-id', '--json'], { databaseUrl: env.db.url });
    expect(stamp.code, stamp.stderr).toBe(0);

    const after = await runCli(['reconcile', '--json'], { databaseUrl: env.db.url });
    expect(after.json!.reasons).not.toHaveProperty('message_mismatch');
    expect(after.json!.reasons).not.toHaveProperty('message_missing');
    expect(after.json!.reasons).not.toHaveProperty('message_unexpected');
    expect(after.code, JSON.stringify(after.json!.reasons)).toBe(0);

    const again = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
    expect(again.json!.messages.written).toBe(0);

    // Step 7: the plan and its gates, then the drop with the count the dry run names. The setup's writes
    // must reach the statistics first (a backend flushes them up to ~10 s later), or the quiet gate
    // would see them inside its 1 s window.
    const clients = await Promise.all([1, 2, 3, 4].map(() => env.pool.connect()));
    for (const client of clients) {
      await client.query('select pg_stat_force_next_flush()');
      await client.query('select 1');
      client.release();
    }
    const plan = await runCli(['drop-legacy', '--dry-run', '--json', '--watch', '1', '--snapshot-dir', 'snap-try'], { databaseUrl: env.db.url });
    const unmigrated = plan.json!.gates.find((g: { name: string }) => g.name === 'unmigrated') as { fix?: string; detail: string };
    const count = /--accept-unmigrated (\d+)/.exec(`${unmigrated.fix ?? ''} ${unmigrated.detail}`)?.[1];
    expect(count, JSON.stringify(plan.json!.gates)).toBeDefined();
    const drop = await runCli(
      ['drop-legacy', '--json', '--watch', '1', '--snapshot-dir', 'snap', '--accept-unmigrated', count!, '--confirm', env.db.name],
      { databaseUrl: env.db.url },
    );
    expect(drop.code, JSON.stringify(drop.json?.gates)).toBe(0);
    expect(drop.json!.gates.every((g: { ok: boolean }) => g.ok === true)).toBe(true);
    const { rows } = await env.pool.query(`select to_regclass('public.memories') as memories, to_regclass('public.rooms') as rooms`);
    expect(rows[0]).toEqual({ memories: null, rooms: null });
  });
});
