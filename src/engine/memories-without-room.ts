import type pg from 'pg';
import type { RoomScope } from './source-reads.ts';

// memories.room_id may be NULL: such a memory belongs to no room, so no walk of rooms ever sees it.
const PAGE = 10_000;
const MEMORIES_WITHOUT_ROOM_FILE = 'memories-without-room.jsonl';

/** Whether a walk covers every room, so that what it cannot reach (memories without a room) is its to report. */
function isUnscoped(scope: RoomScope): boolean {
  return scope.rooms === undefined && scope.since === undefined && scope.limit === undefined;
}

/** The ids of the memories that have no room, page by page in id order (keyset: nothing held between pages). */
async function* memoriesWithoutRoom(db: pg.Pool | pg.ClientBase): AsyncGenerator<string> {
  let after: string | null = null;
  for (;;) {
    const { rows }: { rows: { id: string }[] } = await db.query<{ id: string }>(
      `select m.id::text as id from public.memories m
        where m.room_id is null and ($1::uuid is null or m.id > $1::uuid)
        order by m.id limit $2`,
      [after, PAGE],
    );
    for (const row of rows) yield row.id;
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1]!.id;
  }
}

/**
 * For a walk of every room: the memories it could not reach, listed in a report file of their own (each
 * with reason memory_no_room) and counted, so that an unscoped run's totals add up to all the memories.
 * null for a scoped walk, and when there are none.
 */
export async function reportMemoriesWithoutRoom(
  db: pg.Pool,
  scope: RoomScope,
  report: { writeLines(name: string, lines: AsyncIterable<object>): Promise<number> },
): Promise<{ memories: number; report: string } | null> {
  if (!isUnscoped(scope)) return null;
  const { rows } = await db.query<{ any: boolean }>('select exists (select 1 from public.memories where room_id is null) as any');
  if (!rows[0]?.any) return null;
  const lines = (async function* () {
    for await (const id of memoriesWithoutRoom(db)) yield { memoryId: id, reason: 'memory_no_room' };
  })();
  return { memories: await report.writeLines(MEMORIES_WITHOUT_ROOM_FILE, lines), report: MEMORIES_WITHOUT_ROOM_FILE };
}
