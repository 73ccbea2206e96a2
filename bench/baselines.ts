/**
 * The two sides backfill is measured against, over the same seeded database:
 * - the in-database ceiling: the same mapping as plain INSERT … SELECT, with no conversion or validation;
 * - the original script's access pattern: per room check-then-insert of session and chat, then one
 *   INSERT … ON CONFLICT DO NOTHING per message, 20 rooms at a time, parts copied as they were.
 */
import pg from 'pg';
import { SESSION_ID_NAMESPACE, sessionIdForRoom } from '../src/migration/session-id.ts';

/** The mapping of schema.md as three statements. Needs uuid-ossp for uuid v5. */
export async function inDatabaseBaseline(pool: pg.Pool): Promise<void> {
  await pool.query('create extension if not exists "uuid-ossp"');
  const client = await pool.connect();
  try {
    await client.query('begin');
    // The ceiling should be the best plain SQL can do. With the jsonb filters the planner under-estimates
    // the memories and joins accounts by a nested loop over a seq scan: 13.6 s instead of 2.6 s at 20,000
    // rooms (45× the time of 2,000 rooms for 10× the rows). Hash joins are what a human would ask for.
    await client.query(`select set_config('enable_nestloop', 'off', true)`);
    // $1: the session-id namespace (uuid v5, as sessionIdForRoom computes it).
    const migratable = `from public.rooms r join public.accounts a on a.id = r.account_id`;
    const title = `coalesce(nullif(trim(r.topic), ''), 'Untitled')`;
    await client.query(
      `insert into public.sessions (id, account_id, title, created_at, updated_at, artist_id)
       select uuid_generate_v5($1::uuid, r.id::text)::text, r.account_id, ${title}, r.updated_at, r.updated_at,
              (select ar.id from public.accounts ar where ar.id = r.artist_id)
       ${migratable}`,
      [SESSION_ID_NAMESPACE],
    );
    await client.query(
      `insert into public.chats (id, session_id, title, created_at, updated_at)
       select r.id::text, uuid_generate_v5($1::uuid, r.id::text)::text, ${title}, r.updated_at, r.updated_at ${migratable}`,
      [SESSION_ID_NAMESPACE],
    );
    await client.query(
      `insert into public.chat_messages (id, chat_id, role, parts, created_at)
       select m.id::text, r.id::text, m.content->>'role',
              jsonb_build_object('id', m.id::text, 'role', m.content->>'role', 'parts', m.content->'parts'), m.updated_at
       from public.memories m join public.rooms r on r.id = m.room_id join public.accounts a on a.id = r.account_id
       where jsonb_typeof(m.content) = 'object' and m.content->>'role' in ('user', 'assistant')
         and jsonb_typeof(m.content->'parts') = 'array'`,
    );
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

// The original script's concurrency: 20 rooms at a time.
const ORIGINAL_ROOMS_AT_A_TIME = 20;
// Rooms read per page while walking (the script paged through rooms the same way).
const ROOM_PAGE = 1_000;
// Postgres foreign_key_violation: the script counted deleted-account rooms as failures.
const FOREIGN_KEY_VIOLATION = '23503';

/** `maxRooms`: stop after the first this many rooms (by id), for a run that would take too long whole. */
export async function originalScriptPattern(url: string, maxRooms = Infinity): Promise<{ failedRooms: number; rooms: number }> {
  const pool = new pg.Pool({ connectionString: url, max: ORIGINAL_ROOMS_AT_A_TIME });
  let failedRooms = 0;
  let walked = 0;
  try {
    let after = '00000000-0000-0000-0000-000000000000';
    while (walked < maxRooms) {
      const { rows: rooms } = await pool.query<{ id: string; account_id: string | null; topic: string | null; updated_at: Date }>(
        'select id::text, account_id::text, topic, updated_at from public.rooms where id > $1 order by id limit $2',
        [after, Math.min(ROOM_PAGE, maxRooms - walked)],
      );
      if (rooms.length === 0) break;
      after = rooms[rooms.length - 1]!.id;
      walked += rooms.length;
      for (let i = 0; i < rooms.length; i += ORIGINAL_ROOMS_AT_A_TIME) {
        const results = await Promise.all(rooms.slice(i, i + ORIGINAL_ROOMS_AT_A_TIME).map((room) => migrateRoom(pool, room)));
        failedRooms += results.filter((ok) => !ok).length;
      }
    }
  } finally {
    await pool.end();
  }
  return { failedRooms, rooms: walked };
}

async function migrateRoom(pool: pg.Pool, room: { id: string; account_id: string | null; topic: string | null; updated_at: Date }): Promise<boolean> {
  if (!room.account_id) return false;
  const sessionId = sessionIdForRoom(room.id);
  const title = room.topic?.trim() ? room.topic : 'Untitled';
  try {
    const session = await pool.query('select id from public.sessions where id = $1', [sessionId]);
    if (session.rowCount === 0) {
      await pool.query('insert into public.sessions (id, account_id, title, created_at, updated_at) values ($1, $2, $3, $4, $4)', [
        sessionId, room.account_id, title, room.updated_at,
      ]);
    }
    const chat = await pool.query('select id from public.chats where id = $1', [room.id]);
    if (chat.rowCount === 0) {
      await pool.query('insert into public.chats (id, session_id, title, created_at, updated_at) values ($1, $2, $3, $4, $4)', [
        room.id, sessionId, title, room.updated_at,
      ]);
    }
    const { rows: memories } = await pool.query<{ id: string; role: string | null; parts: string | null; updated_at: Date }>(
      `select id::text, content->>'role' as role, (content->'parts')::text as parts, updated_at
         from public.memories where room_id = $1 order by updated_at, id`,
      [room.id],
    );
    for (const memory of memories) {
      // The script dropped memories without parts as "malformed" and copied parts as they were.
      if (!memory.parts || !memory.parts.startsWith('[') || (memory.role !== 'user' && memory.role !== 'assistant')) continue;
      await pool.query(
        `insert into public.chat_messages (id, chat_id, role, parts, created_at)
         values ($1, $2, $3, jsonb_build_object('id', $1::text, 'role', $3::text, 'parts', $4::jsonb), $5)
         on conflict (id) do nothing`,
        [memory.id, room.id, memory.role, memory.parts, memory.updated_at],
      );
    }
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === FOREIGN_KEY_VIOLATION) return false;
    throw error;
  }
}
