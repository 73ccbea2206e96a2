import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { applySchema } from '../../src/commands/schema/schema.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

/** A fresh database with the legacy and target schema, and a pool on it. */
export async function createMigrationDatabase(options: { withoutArtistId?: boolean } = {}): Promise<{
  db: TestDatabase;
  pool: pg.Pool;
  close: () => Promise<void>;
}> {
  const db = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  // The database is force-dropped at the end; an idle client told so must not become an unhandled error.
  pool.on('error', () => {});
  await applySchema(pool, { legacy: true, target: true, withoutArtistId: options.withoutArtistId ?? false });
  return {
    db,
    pool,
    close: async () => {
      await pool.end();
      await db.drop();
    },
  };
}

export async function insertAccount(pool: pg.Pool, name = 'account'): Promise<string> {
  const id = randomUUID();
  await pool.query('insert into accounts (id, name) values ($1, $2)', [id, name]);
  return id;
}

export interface RoomSpec {
  id?: string;
  accountId: string | null;
  topic?: string | null;
  artistId?: string | null;
  updatedAt?: string;
}

export async function insertRoom(pool: pg.Pool, room: RoomSpec): Promise<string> {
  const id = room.id ?? randomUUID();
  await pool.query(
    `insert into rooms (id, account_id, topic, artist_id, updated_at) values ($1, $2, $3, $4, coalesce($5::timestamptz, now()))`,
    [id, room.accountId, room.topic ?? null, room.artistId ?? null, room.updatedAt ?? null],
  );
  return id;
}

/** Inserts a memory; `content` is JSON text, so big integers and odd shapes arrive exactly as written. */
export async function insertMemory(
  pool: pg.Pool,
  roomId: string,
  content: string | object,
  updatedAt?: string,
  id: string = randomUUID(),
): Promise<string> {
  const text = typeof content === 'string' ? content : JSON.stringify(content);
  await pool.query(
    `insert into memories (id, room_id, content, updated_at) values ($1, $2, $3::jsonb, coalesce($4::timestamptz, now()))`,
    [id, roomId, text, updatedAt ?? null],
  );
  return id;
}

/** Every target row with its xmin, to prove which rows a run wrote. */
export async function targetSnapshot(pool: pg.Pool): Promise<Map<string, { xmin: string; value: string }>> {
  const { rows } = await pool.query<{ key: string; xmin: string; value: string }>(
    `select 'session:' || id as key, xmin::text, row(s.*)::text as value from sessions s
     union all select 'chat:' || id, xmin::text, row(c.*)::text from chats c
     union all select 'message:' || id, xmin::text, row(m.*)::text from chat_messages m`,
  );
  return new Map(rows.map((r) => [r.key, { xmin: r.xmin, value: r.value }]));
}

/**
 * Deterministic legacy data generated in the database: the same arguments give the same rows (ids,
 * content, times) in any database, so two databases can be compared after different runs.
 */
export async function seedDeterministicRooms(pool: pg.Pool, rooms: number, memoriesPerRoom: number): Promise<void> {
  const account = 'aaaaaaaa-0000-4000-8000-000000000001';
  await pool.query(`insert into accounts (id, name) values ($1, 'deterministic') on conflict do nothing`, [account]);
  await pool.query(
    `insert into rooms (id, account_id, topic, updated_at)
     select md5('room' || n)::uuid, $2::uuid, 'topic ' || n, '2025-01-01'::timestamptz + n * interval '1 minute'
       from generate_series(1, $1::int) n`,
    [rooms, account],
  );
  await pool.query(
    `insert into memories (id, room_id, content, updated_at)
     select md5('mem' || n || ':' || k)::uuid, md5('room' || n)::uuid,
            jsonb_build_object('role', case when k % 2 = 1 then 'user' else 'assistant' end,
                               'content', 'message ' || k,
                               'parts', jsonb_build_array(jsonb_build_object('type', 'text', 'text', 'message ' || k))),
            '2025-01-01'::timestamptz + n * interval '1 minute' + k * interval '1 millisecond'
       from generate_series(1, $1::int) n, generate_series(1, $2::int) k`,
    [rooms, memoriesPerRoom],
  );
}

/** One digest of every target row (all columns), to compare two databases' targets. */
export async function targetDigest(pool: pg.Pool): Promise<{ sessions: string; chats: string; messages: string; counts: number[] }> {
  const { rows } = await pool.query(
    `select (select md5(coalesce(string_agg(row(s.*)::text, ',' order by s.id), '')) from sessions s) as sessions,
            (select md5(coalesce(string_agg(row(c.*)::text, ',' order by c.id), '')) from chats c) as chats,
            (select md5(coalesce(string_agg(row(m.*)::text, ',' order by m.id), '')) from chat_messages m) as messages,
            array[(select count(*) from sessions), (select count(*) from chats), (select count(*) from chat_messages)]::int[] as counts`,
  );
  return rows[0];
}

/**
 * Runs one statement through a client of its own and flushes its table statistics, so that no late
 * pg_stat counter lands in a later drop-legacy watch window.
 */
export async function writeAndFlush(url: string, sql: string, params: unknown[] = []): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql, params);
    await client.query('select pg_stat_force_next_flush()');
    await client.query('select 1');
  } finally {
    await client.end();
  }
}

/** Every row of each table, as text, sorted: for comparing tables before and after. */
export async function tableRows(pool: pg.Pool, schema: string, tables: readonly string[]): Promise<Map<string, string[]>> {
  const result = new Map<string, string[]>();
  for (const table of tables) {
    const { rows } = await pool.query<{ r: string }>(`select t::text as r from ${schema}.${table} t order by 1`);
    result.set(table, rows.map((row) => row.r));
  }
  return result;
}
