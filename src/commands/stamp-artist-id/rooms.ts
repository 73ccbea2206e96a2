import type pg from 'pg';
import { scopeFilter, type RoomScope } from '../../engine/source-reads.ts';

/** Rooms stamp-artist-id walks: those in scope with an artist_id. */
const HAS_ARTIST = 'r.artist_id is not null';

export async function countArtistRooms(db: pg.Pool, scope: RoomScope): Promise<number> {
  const filter = scopeFilter(scope, 1);
  const { rows } = await db.query<{ count: string }>(
    `select count(*) as count from public.rooms r where ${HAS_ARTIST} and ${filter.sql}`,
    filter.params,
  );
  const count = Number(rows[0]?.count ?? 0);
  return scope.limit !== undefined ? Math.min(count, scope.limit) : count;
}

/** One batch: the ids of up to batch-size rooms with an artist_id, in id order. */
export interface ArtistRoomPage {
  roomIds: string[];
}

/**
 * Keyset pages over the rooms with an artist_id, in id order. Each page is one short query; nothing (no
 * cursor, no snapshot) stays open between pages, which also keeps CREATE INDEX CONCURRENTLY and the app's
 * DDL from waiting on us. The page carries its ids, so that a batch needs no read of its own before it
 * can compute the session ids; the batch re-reads each room's artist_id in its own transaction.
 */
export async function* planArtistRoomPages(db: pg.Pool, scope: RoomScope, batchSize: number): AsyncGenerator<ArtistRoomPage> {
  let after: string | null = null;
  let remaining = scope.limit ?? Number.POSITIVE_INFINITY;
  const filter = scopeFilter(scope, 3);
  while (remaining > 0) {
    const take = Math.min(batchSize, remaining);
    const result: pg.QueryResult<{ id: string }> = await db.query(
      `select r.id::text as id from public.rooms r
        where ($1::uuid is null or r.id > $1::uuid) and ${HAS_ARTIST} and ${filter.sql}
        order by r.id limit $2`,
      [after, take, ...filter.params],
    );
    if (result.rows.length === 0) return;
    const roomIds = result.rows.map((row) => row.id);
    yield { roomIds };
    after = roomIds[roomIds.length - 1]!;
    remaining -= roomIds.length;
  }
}
