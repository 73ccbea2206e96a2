import type pg from 'pg';
import { chatDigestSql, messageDigestSql, sessionDigestSql } from '../../engine/digests.ts';
import { MEMORY_DIGESTS_JOIN, roomFingerprintSql, scopeFilter, timestampTextSql, type RoomRange, type RoomScope } from '../../engine/source-reads.ts';
import { CONVERTER_VERSION } from '../../migration/convert.ts';
import type { LegacyRoomRow } from '../../migration/map-room.ts';
import { quoteIdent } from '../../engine/sql-files.ts';

/** A legacy room as reconcile reads it: the facts mapRoom needs, and what the ledger knows (if any). */
export interface ReconcileRoomRow extends LegacyRoomRow {
  /** room_ledger.status, or null when there is no ledger (or no entry for the room). */
  ledger_status: string | null;
}

/**
 * The rooms of one keyset range. Unlike backfill's read, the state schema is optional: reconcile must
 * work on a target the original script filled, where no ledger exists (`ledgerSchema` null).
 */
export async function readReconcileRooms(
  client: pg.ClientBase,
  range: RoomRange,
  scope: RoomScope,
  options: { ledgerSchema: string | null; roomsHaveArtistId: boolean },
): Promise<ReconcileRoomRow[]> {
  const artist = options.roomsHaveArtistId ? 'r.artist_id' : 'null::uuid';
  const filter = scopeFilter(scope, 3);
  const ledger = options.ledgerSchema
    ? {
        column: 'l.status',
        join: `left join ${quoteIdent(options.ledgerSchema)}.room_ledger l on l.room_id = r.id`,
      }
    : { column: 'null::text', join: '' };
  const { rows } = await client.query<ReconcileRoomRow>(
    `select r.id::text, r.account_id::text, r.topic, ${timestampTextSql('r.updated_at')} as updated_at,
            ${artist}::text as artist_id,
            a.id is not null as account_exists,
            ar.id is not null as artist_exists,
            (select count(*) from public.memories m where m.room_id = r.id)::int as memory_count,
            ${ledger.column} as ledger_status
       from public.rooms r
       left join public.accounts a on a.id = r.account_id
       left join public.accounts ar on ar.id = ${artist}
       ${ledger.join}
      where ($1::uuid is null or r.id > $1::uuid) and r.id <= $2::uuid and ${filter.sql}
      order by r.id`,
    [range.after, range.last, ...filter.params],
  );
  return rows;
}

/** What the room ledger recorded for a room confirmed by digest: its report line is made from it. */
export interface ConfirmedRoom {
  room_id: string;
  memories_total: number;
  memories_skipped: number;
  reasons: string[];
  /** The ledger's skipped list (jsonb text). */
  skipped: string;
  archived: boolean;
}

/**
 * The rooms of one range that can be confirmed without converting anything: backfill migrated them with
 * this converter version from exactly the legacy rows there are now (the fingerprint), and every target
 * row still holds what the tool recorded writing: the session, the chat, and a message for each memory
 * it did not skip, none for those it skipped. A message is as written when its row version (xmin) is the
 * one the tool's write left (any later write makes a new version), else when the ledger's digest equals
 * the stored row's (hashing it: after a restore from a dump, or a ledger from before row_xmin). The rest are
 * compared in full. What this cannot see is a converter bug: `--full` compares everything.
 */
export async function readConfirmedRooms(
  client: pg.ClientBase,
  range: RoomRange,
  scope: RoomScope,
  options: { ledgerSchema: string; ledgerHasRowXmin: boolean; roomsHaveArtistId: boolean; sessionsHaveArtistId: boolean },
): Promise<Map<string, ConfirmedRoom>> {
  const state = quoteIdent(options.ledgerSchema);
  const artist = options.roomsHaveArtistId ? 'r.artist_id' : 'null::uuid';
  const filter = scopeFilter(scope, 4);
  const { rows } = await client.query<ConfirmedRoom>(
    `with ledger as (
       select l.room_id, l.session_id, l.fingerprint, l.memories_total, l.memories_skipped, l.reasons, l.skipped,
              array(select s->>'memoryId' from jsonb_array_elements(l.skipped) s) as skipped_ids
         from ${state}.room_ledger l
        where ($1::uuid is null or l.room_id > $1::uuid) and l.room_id <= $2::uuid
          and l.status = 'migrated' and l.converter_version = $3
     ), unchanged as (
       select g.* from ledger g
         join public.rooms r on r.id = g.room_id
         left join public.accounts a on a.id = r.account_id
         left join public.accounts ar on ar.id = ${artist}
         ${MEMORY_DIGESTS_JOIN}
        where ${roomFingerprintSql(artist)} = g.fingerprint and ${filter.sql}
     ), messages as materialized (
       -- Materialized: the fingerprint filter makes the planner expect one room, and it then re-ran this
       -- aggregate once per room in a nested loop (seconds per batch).
       select m.room_id,
              bool_and(case when m.id::text = any(g.skipped_ids) then cm.id is null
                            ${options.ledgerHasRowXmin ? `when tl.row_xmin = cm.xmin::text then true` : ''}
                            else coalesce(tl.digest = ${messageDigestSql('cm')}, false) end) as as_written
         from public.memories m
         join unchanged g on g.room_id = m.room_id
         left join ${state}.target_ledger tl on tl.kind = 'message' and tl.id = m.id::text
         left join public.chat_messages cm on cm.id = m.id::text
        where ($1::uuid is null or m.room_id > $1::uuid) and m.room_id <= $2::uuid
        group by m.room_id
     )
     select g.room_id::text, g.memories_total, g.memories_skipped, g.reasons, g.skipped::text as skipped,
            coalesce(s.status = 'archived', false) as archived
       from unchanged g
       join public.sessions s on s.id = g.session_id
       join ${state}.target_ledger ls on ls.kind = 'session' and ls.id = s.id and ls.digest = ${sessionDigestSql('s', options.sessionsHaveArtistId)}
       join public.chats c on c.id = g.room_id::text
       join ${state}.target_ledger lc on lc.kind = 'chat' and lc.id = c.id and lc.digest = ${chatDigestSql('c')}
       left join messages msg on msg.room_id = g.room_id
      where coalesce(msg.as_written, true)`,
    [range.after, range.last, CONVERTER_VERSION, ...filter.params],
  );
  return new Map(rows.map((row) => [row.room_id, row]));
}
