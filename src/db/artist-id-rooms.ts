import type pg from 'pg';
import { scopeFilter, type RoomRange, type RoomScope } from './source-reads.ts';

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

/**
 * Keyset batches over the rooms with an artist_id, in id order. Each page is one short query; nothing
 * (no cursor, no snapshot) stays open between pages, which also keeps CREATE INDEX CONCURRENTLY and the
 * app's DDL from waiting on us.
 */
export async function* planArtistRoomRanges(db: pg.Pool, scope: RoomScope, batchSize: number): AsyncGenerator<RoomRange> {
  let after: string | null = null;
  let remaining = scope.limit ?? Number.POSITIVE_INFINITY;
  const filter = scopeFilter(scope, 3);
  while (remaining > 0) {
    const take = Math.min(batchSize, remaining);
    const result: pg.QueryResult<{ last: string | null; count: string }> = await db.query(
      `select (array_agg(id order by id desc))[1]::text as last, count(*) as count from (
         select r.id from public.rooms r
          where ($1::uuid is null or r.id > $1::uuid) and ${HAS_ARTIST} and ${filter.sql}
          order by r.id limit $2) page`,
      [after, take, ...filter.params],
    );
    const page = result.rows[0];
    if (!page || page.last === null) return;
    yield { after, last: page.last };
    after = page.last;
    remaining -= Number(page.count);
  }
}

export interface ArtistRoomRow {
  room_id: string;
  artist_id: string;
}

/** The rooms of one range that have an artist_id (read in the batch's transaction). */
export async function readArtistRooms(client: pg.ClientBase, range: RoomRange, scope: RoomScope): Promise<ArtistRoomRow[]> {
  const filter = scopeFilter(scope, 3);
  const { rows } = await client.query<ArtistRoomRow>(
    `select r.id::text as room_id, r.artist_id::text as artist_id from public.rooms r
      where ($1::uuid is null or r.id > $1::uuid) and r.id <= $2::uuid and ${HAS_ARTIST} and ${filter.sql}
      order by r.id`,
    [range.after, range.last, ...filter.params],
  );
  return rows;
}

/**
 * Which of these artist accounts exist. When stamping, the rows are locked FOR KEY SHARE until the
 * transaction ends — the lock the foreign key's own trigger takes — because under
 * session_replication_role = replica that trigger does not fire: without the lock, an account deleted
 * between this check and the commit would leave a dangling artist_id. A dry run (read-only) only reads.
 */
export async function existingArtists(client: pg.ClientBase, artistIds: readonly string[], lock: boolean): Promise<Set<string>> {
  if (artistIds.length === 0) return new Set();
  const { rows } = await client.query<{ id: string }>(
    `select a.id::text as id from public.accounts a where a.id = any($1::uuid[]) order by a.id${lock ? ' for key share' : ''}`,
    [artistIds],
  );
  return new Set(rows.map((row) => row.id));
}
