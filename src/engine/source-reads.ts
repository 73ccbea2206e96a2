import type pg from 'pg';
import { quoteIdent } from './sql-files.ts';
import { CONVERTER_VERSION } from '../migration/convert.ts';
import type { LegacyRoomRow } from '../migration/map-room.ts';

/** Which rooms a command walks. */
export interface RoomScope {
  rooms?: readonly string[] | undefined;
  /** Only rooms with any legacy change (the room or one of its memories) at or after this time. */
  since?: Date | undefined;
  limit?: number | undefined;
}

/** A batch is a keyset range of room ids: (after, last]. */
export interface RoomRange {
  after: string | null;
  last: string;
}

/** Timestamps travel as text with microseconds: a JS Date has only milliseconds. */
export function timestampTextSql(expression: string): string {
  return `to_char(${expression} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/** The scope as a WHERE fragment over alias `r`, with its parameters numbered from `firstParam`. */
export function scopeFilter(scope: RoomScope, firstParam: number): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  if (scope.rooms && scope.rooms.length > 0) {
    params.push(scope.rooms);
    clauses.push(`r.id = any($${firstParam + params.length - 1}::uuid[])`);
  }
  if (scope.since) {
    params.push(scope.since.toISOString());
    const p = `$${firstParam + params.length - 1}::timestamptz`;
    clauses.push(`(r.updated_at >= ${p} or exists (select 1 from public.memories m where m.room_id = r.id and m.updated_at >= ${p}))`);
  }
  return { sql: clauses.length > 0 ? clauses.join(' and ') : 'true', params };
}

export interface SourceRoomRow extends LegacyRoomRow {
  fingerprint: string;
  ledger_status: string | null;
  ledger_fingerprint: string | null;
  ledger_converter_version: number | null;
  ledger_reasons: string[] | null;
  ledger_memories_total: number | null;
  ledger_memories_skipped: number | null;
  ledger_skipped: string | null;
}

/** Backfill skips a room whose legacy rows and converter are those its ledger recorded, whatever its target rows hold. */
export function isUnchangedSinceLedger(row: SourceRoomRow): boolean {
  return row.ledger_fingerprint === row.fingerprint && row.ledger_converter_version === CONVERTER_VERSION;
}

/**
 * The memories of the rooms in the range ($1, $2]: their count and a digest of their ids, times and row
 * versions, per room, as `mem`. One range scan of memories for the whole batch, rather than one index
 * probe per room.
 */
export const MEMORY_DIGESTS_JOIN = `left join (
         select m.room_id, count(*) as count,
                md5(string_agg(m.id::text || ':' || extract(epoch from m.updated_at)::text || ':' || m.xmin::text,
                               ',' order by m.id)) as digest
           from public.memories m
          where ($1::uuid is null or m.room_id > $1::uuid) and m.room_id <= $2::uuid
          group by m.room_id
       ) mem on mem.room_id = r.id`;

/** A room's legacy fingerprint, over `r` (rooms), `a` and `ar` (its account and artist) and `mem`. */
export function roomFingerprintSql(artist: string): string {
  return `md5(row(r.account_id, r.topic, extract(epoch from r.updated_at), ${artist}, a.id is not null, ar.id is not null, mem.digest)::text)`;
}

/**
 * The rooms of one range, with the facts that classify them and a fingerprint of their whole legacy
 * state (the room, its accounts' existence, and every memory's id, time and row version), next to
 * what the ledger recorded last time. A memory's `xmin` changes with every UPDATE of it, triggers or
 * not, so it detects content changes without reading (and hashing) the content itself. Reads inside the batch's repeatable-read transaction, so the
 * fingerprint describes exactly the rows the batch migrates.
 */
export async function readRoomsInRange(
  client: pg.ClientBase,
  range: RoomRange,
  scope: RoomScope,
  options: { stateSchema: string; roomsHaveArtistId: boolean },
): Promise<SourceRoomRow[]> {
  const artist = options.roomsHaveArtistId ? 'r.artist_id' : 'null::uuid';
  const filter = scopeFilter(scope, 3);
  const { rows } = await client.query<SourceRoomRow>(
    `select r.id::text, r.account_id::text, r.topic, ${timestampTextSql('r.updated_at')} as updated_at,
            ${artist}::text as artist_id,
            a.id is not null as account_exists,
            ar.id is not null as artist_exists,
            coalesce(mem.count, 0)::int as memory_count,
            ${roomFingerprintSql(artist)} as fingerprint,
            l.status as ledger_status, l.fingerprint as ledger_fingerprint,
            l.converter_version as ledger_converter_version, l.reasons as ledger_reasons,
            l.memories_total as ledger_memories_total, l.memories_skipped as ledger_memories_skipped,
            l.skipped::text as ledger_skipped
       from public.rooms r
       left join public.accounts a on a.id = r.account_id
       left join public.accounts ar on ar.id = ${artist}
       ${MEMORY_DIGESTS_JOIN}
       -- The range on the ledger too: a join on the room alone read the whole ledger for every batch.
       left join ${quoteIdent(options.stateSchema)}.room_ledger l
              on l.room_id = r.id and ($1::uuid is null or l.room_id > $1::uuid) and l.room_id <= $2::uuid
      where ($1::uuid is null or r.id > $1::uuid) and r.id <= $2::uuid and ${filter.sql}
      order by r.id`,
    [range.after, range.last, ...filter.params],
  );
  return rows;
}

export interface MemoryRow {
  id: string;
  room_id: string;
  /** content as jsonb text: parse it losslessly. */
  content: string;
  updated_at: string;
  /** Why updated_at gives the message no time (infinity, -infinity, a date before year 1); null when it does. */
  bad_time: string | null;
}

// Memories converted and written per step inside a batch: bounds memory whatever a room's size (one
// production room held 3,671 memories, some of them 100 kB+).
export const MEMORY_PAGE_SIZE = 1_000;

/**
 * Every memory of the given rooms, in chat order, handed over `pageSize` at a time through an SQL cursor
 * in the caller's transaction (same snapshot, no second connection), so a huge room never has to fit in
 * memory at once. The cursor is closed before this returns (or by the rollback, on an error).
 */
export async function forEachMemoryPage(
  client: pg.ClientBase,
  roomIds: readonly string[],
  pageSize: number,
  handle: (page: MemoryRow[]) => Promise<void>,
): Promise<void> {
  if (roomIds.length === 0) return;
  await client.query(
    `declare recoup_migrate_memories no scroll cursor for
     select m.id::text, m.room_id::text, m.content::text as content, ${timestampTextSql('m.updated_at')} as updated_at,
            case when not isfinite(m.updated_at) then m.updated_at::text
                 when m.updated_at < '0001-01-01 00:00:00+00'::timestamptz then 'a date before year 1 (' || m.updated_at::text || ')' end as bad_time
       from public.memories m
      where m.room_id = any($1::uuid[])
      order by m.room_id, m.updated_at, m.id`,
    [roomIds],
  );
  // On an error the transaction is aborted and its rollback closes the cursor; closing it here would
  // only replace the real error with "current transaction is aborted".
  for (;;) {
    const { rows } = await client.query<MemoryRow>(`fetch forward ${Number(pageSize)} from recoup_migrate_memories`);
    if (rows.length === 0) break;
    await handle(rows);
  }
  await client.query('close recoup_migrate_memories');
}

export interface TargetRoomRow {
  room_id: string;
  session_exists: boolean;
  chat_exists: boolean;
}

/** Whether each room's derived session and its chat exist in the target. */
export async function readTargetPresence(
  client: pg.ClientBase,
  rooms: readonly { roomId: string; sessionId: string }[],
): Promise<Map<string, TargetRoomRow>> {
  if (rooms.length === 0) return new Map();
  const { rows } = await client.query<TargetRoomRow>(
    `select x.room_id::text, s.id is not null as session_exists, c.id is not null as chat_exists
       from unnest($1::uuid[], $2::text[]) as x(room_id, session_id)
       left join public.sessions s on s.id = x.session_id
       left join public.chats c on c.id = x.room_id::text`,
    [rooms.map((r) => r.roomId), rooms.map((r) => r.sessionId)],
  );
  return new Map(rows.map((row) => [row.room_id, row]));
}
