import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { applySchema } from '../../src/commands/schema.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

/** A fresh database with the legacy and target schema, and a pool on it. */
export async function createMigrationDatabase(options: { withoutArtistId?: boolean } = {}): Promise<{
  db: TestDatabase;
  pool: pg.Pool;
  close: () => Promise<void>;
}> {
  const db = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
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
