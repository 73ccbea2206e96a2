import type pg from 'pg';
import { sessionDigestSql } from '../../engine/digests.ts';
import { quoteIdent } from '../../engine/sql-files.ts';

/** One room of a batch: its derived session id is computed in the tool (sessionIdForRoom). */
export interface StampInput {
  roomId: string;
  sessionId: string;
}

/** What the database says about one room's session, before (and, when writing, after) the stamp. */
export type StampAction = 'stamp' | 'unchanged' | 'artist_conflict' | 'artist_missing' | 'room_not_migrated';

export interface StampOutcome {
  roomId: string;
  sessionId: string;
  /** rooms.artist_id, as the batch's transaction read it. */
  artistId: string;
  action: StampAction;
  /** sessions.artist_id as the statement found it. */
  currentArtistId: string | null;
  /** Whether this statement wrote the session. */
  written: boolean;
}

export interface StampMode {
  /** false: classify only (dry run, in a read-only transaction). */
  write: boolean;
  /** false in a dry run before the column exists: every present session counts as NULL. */
  columnExists: boolean;
  /** The state schema whose target_ledger is kept truthful (used when writing). */
  stateSchema: string;
  /**
   * Lock the artists FOR KEY SHARE until commit — the lock the FK's own trigger takes — because under
   * session_replication_role = replica that trigger does not fire: without the lock, an account deleted
   * between this check and the commit would leave a dangling artist_id.
   */
  lockArtists: boolean;
}

/**
 * One statement per batch: re-read the rooms' artist_id, check (and lock) their artists, stamp the
 * derived sessions whose artist_id is NULL, keep the ledger truthful, and classify every other room.
 * Ids travel as arrays (nothing spliced into SQL, no uuid_generate_v5 needed on the search_path).
 *
 * The UPDATE probes each session once, by primary key; only the rooms it did not write are looked up
 * again to be classified. It re-checks `s.artist_id is null`, so under READ COMMITTED a session the app
 * set meanwhile is left alone (it comes back as 'stamp' with written = false: a concurrent change).
 */
export async function stampSessions(client: pg.ClientBase, inputs: readonly StampInput[], mode: StampMode): Promise<StampOutcome[]> {
  if (inputs.length === 0) return [];
  const current = mode.columnExists ? 's.artist_id' : 'null::uuid';
  const ledger = `${quoteIdent(mode.stateSchema)}.target_ledger`;
  // The ledger CTE: where backfill's ledger holds the digest of the session as the tool wrote it
  // (artist_id NULL), it now holds the stamped one. Otherwise a later backfill would take every stamped
  // session for one the app changed, and never bring it up to date again.
  // Every probe of a big table is written so that it can only be a primary-key probe (a scalar
  // subquery per row, or `id = any($2)` next to the join), so a batch costs its own size whatever the
  // table's size or statistics: before the stamp, sessions.artist_id is NULL everywhere, and a join on
  // `artist_id is null` would otherwise read the whole table once per batch.
  const writes = mode.write
    ? `update public.sessions s set artist_id = c.artist_id
         from candidate c
        where s.id = any($2::text[]) and s.id = c.session_id and c.artist_exists and s.artist_id is null
       returning s.id, s.account_id, s.title, s.artist_id
     ), ledger as (
       -- The digest before the stamp is the one without an artist (artist_id was NULL). Taken from the
       -- same row rather than a self-join of 'updated', which the planner ran as a nested loop (a batch
       -- of n sessions cost n² digests).
       update ${ledger} l set digest = ${sessionDigestSql('u', true)}, written_at = now()
         from updated u
        where l.kind = 'session' and l.id = any($2::text[]) and l.id = u.id
          and l.digest = ${sessionDigestSql('u', false)}`
    : 'select null::text as id where false';
  const { rows } = await client.query<{
    room_id: string;
    session_id: string;
    artist_id: string;
    action: StampAction;
    current_artist: string | null;
    written: boolean;
  }>(
    `with input as (
       select * from unnest($1::uuid[], $2::text[]) as x(room_id, session_id)
     ), room as materialized (
       select x.room_id, x.session_id, (select r.artist_id from public.rooms r where r.id = x.room_id) as artist_id
         from input x
     ), artist as (
       select a.id from public.accounts a
        where a.id = any(array(select distinct artist_id from room where artist_id is not null))${mode.lockArtists ? ' for key share' : ''}
     ), candidate as materialized (
       select rm.*, ar.id is not null as artist_exists
         from room rm left join artist ar on ar.id = rm.artist_id
        where rm.artist_id is not null
     ), updated as (${writes}
     ), found as materialized (
       -- A scalar subquery in a CASE runs only when reached: rooms the UPDATE wrote aren't probed again.
       -- '' = the session exists with a NULL artist_id; NULL = there is no session.
       select c.*, u.id is not null as written,
              case when u.id is null then
                (select coalesce(${current}::text, '') from public.sessions s where s.id = c.session_id)
              end as found
         from candidate c left join updated u on u.id = c.session_id
     )
     select f.room_id::text as room_id, f.session_id, f.artist_id::text as artist_id,
            nullif(f.found, '') as current_artist, f.written,
            case
              when f.written then 'stamp'
              when f.found is null then 'room_not_migrated'
              when f.found = f.artist_id::text then 'unchanged'
              when not f.artist_exists then 'artist_missing'
              when f.found = '' then 'stamp'
              else 'artist_conflict'
            end as action
       from found f
      order by f.room_id`,
    [inputs.map((i) => i.roomId), inputs.map((i) => i.sessionId)],
  );
  return rows.map((row) => ({
    roomId: row.room_id,
    sessionId: row.session_id,
    artistId: row.artist_id,
    action: row.action,
    currentArtistId: row.current_artist,
    written: row.written,
  }));
}

/** One session to overwrite: the value the classification saw, and the room's. */
export interface Overwrite {
  roomId: string;
  sessionId: string;
  oldArtistId: string;
  newArtistId: string;
}

/**
 * --overwrite-conflicts: replaces the artist_id of sessions that still hold the value the classification
 * saw, keeping the old value in the backup table, in the same statement. Returns the ids written.
 */
export async function overwriteConflicts(
  client: pg.ClientBase,
  overwrites: readonly Overwrite[],
  backup: { table: string; runId: string },
): Promise<Set<string>> {
  if (overwrites.length === 0) return new Set();
  const { rows } = await client.query<{ id: string }>(
    `with input as (
       select * from unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[]) as x(room_id, session_id, old_artist_id, new_artist_id)
     ), updated as (
       update public.sessions s set artist_id = x.new_artist_id
         from input x
        where s.id = x.session_id and s.artist_id = x.old_artist_id
       returning s.id
     ), kept as (
       insert into ${backup.table} (run_id, session_id, room_id, old_artist_id, new_artist_id)
       select $5::uuid, x.session_id, x.room_id, x.old_artist_id, x.new_artist_id
         from input x join updated u on u.id = x.session_id
     )
     select id from updated`,
    [
      overwrites.map((o) => o.roomId),
      overwrites.map((o) => o.sessionId),
      overwrites.map((o) => o.oldArtistId),
      overwrites.map((o) => o.newArtistId),
      backup.runId,
    ],
  );
  return new Set(rows.map((row) => row.id));
}

/** The ledger refresh for sessions an --overwrite-conflicts batch rewrote: their digest held the old value. */
export async function refreshOverwrittenLedger(
  client: pg.ClientBase,
  stateSchema: string,
  written: readonly { sessionId: string; oldArtistId: string }[],
): Promise<void> {
  if (written.length === 0) return;
  await client.query(
    `update ${quoteIdent(stateSchema)}.target_ledger l
        set digest = ${sessionDigestSql('s', true)}, written_at = now()
       from unnest($1::text[], $2::uuid[]) as w(session_id, old_artist_id)
       join public.sessions s on s.id = w.session_id
       cross join lateral (select s.account_id, s.title, w.old_artist_id as artist_id) old
      where l.kind = 'session' and l.id = w.session_id and l.digest = ${sessionDigestSql('old', true)}`,
    [written.map((w) => w.sessionId), written.map((w) => w.oldArtistId)],
  );
}
