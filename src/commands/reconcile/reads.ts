import type pg from 'pg';
import { scopeFilter, timestampTextSql, type RoomRange, type RoomScope } from '../../engine/source-reads.ts';
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
