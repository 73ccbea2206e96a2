import type pg from 'pg';

/**
 * Legacy rows that have no counterpart in the target (deleted accounts, skipped messages): after the
 * drop they exist only in the snapshot. Target ids are text, legacy ids uuid: compare as text, never
 * cast a target id to uuid.
 */
const UNMIGRATED_MEMORIES = `from public.memories m where not exists (select 1 from public.chat_messages cm where cm.id = m.id::text)`;
const UNMIGRATED_ROOMS = `from public.rooms r where not exists (select 1 from public.chats c where c.id = r.id::text)`;

export interface UnmigratedCounts {
  memories: number;
  rooms: number;
}

export async function countUnmigrated(db: pg.ClientBase | pg.Pool, inPlan: { rooms: boolean; memories: boolean }): Promise<UnmigratedCounts> {
  const { rows } = await db.query<{ memories: string; rooms: string }>(
    `select ${inPlan.memories ? `(select pg_catalog.count(*) ${UNMIGRATED_MEMORIES})` : '0'}::text as memories,
            ${inPlan.rooms ? `(select pg_catalog.count(*) ${UNMIGRATED_ROOMS})` : '0'}::text as rooms`,
  );
  return { memories: Number(rows[0]?.memories ?? 0), rooms: Number(rows[0]?.rooms ?? 0) };
}

/**
 * One JSON line per unmigrated row of one kind: ids and times only, never content (the data files hold
 * that). Values are uuids and timestamps, so COPY's text escaping never alters a line.
 */
export function unmigratedLinesSql(kind: 'room' | 'memory'): string {
  return kind === 'room'
    ? `select pg_catalog.json_build_object('kind', 'room', 'id', r.id, 'account_id', r.account_id, 'updated_at', r.updated_at)::text as line ${UNMIGRATED_ROOMS}`
    : `select pg_catalog.json_build_object('kind', 'memory', 'id', m.id, 'room_id', m.room_id, 'updated_at', m.updated_at)::text as line ${UNMIGRATED_MEMORIES}`;
}
