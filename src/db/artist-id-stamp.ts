import type pg from 'pg';
import { sessionDigestSql } from './digests.ts';
import { quoteIdent } from './sql-files.ts';

/** One room to stamp: its derived session id is computed in the tool (sessionIdForRoom). */
export interface StampInput {
  roomId: string;
  sessionId: string;
  artistId: string;
  artistExists: boolean;
}

/** What the database says about one room's session, before (and, when writing, after) the stamp. */
export type StampAction = 'stamp' | 'unchanged' | 'artist_conflict' | 'artist_missing' | 'room_not_migrated';

export interface StampOutcome {
  roomId: string;
  sessionId: string;
  action: StampAction;
  /** sessions.artist_id as the statement found it. */
  currentArtistId: string | null;
  /** Whether this statement wrote the session. */
  written: boolean;
}

export interface StampMode {
  /** false: classify only (dry run, or the column does not exist yet). */
  write: boolean;
  /** false in a dry run before the column exists: every present session counts as NULL. */
  columnExists: boolean;
  overwriteConflicts: boolean;
  /** Where overwritten values are kept, with the run id (required when overwriting). */
  backup?: { table: string; runId: string };
}

/**
 * Classifies the batch's sessions and, when writing, stamps them in one set-based statement. The rows
 * travel as arrays (nothing spliced into SQL, no uuid_generate_v5 needed on the search_path).
 *
 * The UPDATE re-checks `s.artist_id is null` (or the value it saw, when overwriting), so under READ
 * COMMITTED a session the app changed since the classification is left alone; it comes back as
 * written = false and is reported as concurrent_change.
 */
export async function stampSessions(client: pg.ClientBase, inputs: readonly StampInput[], mode: StampMode): Promise<StampOutcome[]> {
  if (inputs.length === 0) return [];
  const current = mode.columnExists ? 's.artist_id' : 'null::uuid';
  const params: unknown[] = [
    inputs.map((i) => i.roomId),
    inputs.map((i) => i.sessionId),
    inputs.map((i) => i.artistId),
    inputs.map((i) => i.artistExists),
  ];
  const classified = `
    with input as (
      select * from unnest($1::uuid[], $2::text[], $3::uuid[], $4::boolean[]) as x(room_id, session_id, artist_id, artist_exists)
    ), classified as (
      select x.room_id, x.session_id, x.artist_id, ${current} as current_artist,
             case
               when s.id is null then 'room_not_migrated'
               when ${current} = x.artist_id then 'unchanged'
               when not x.artist_exists then 'artist_missing'
               when ${current} is null then 'stamp'
               else 'artist_conflict'
             end as action
        from input x
        left join public.sessions s on s.id = x.session_id
    )`;
  let writes = `, updated as (select null::text as id where false)`;
  if (mode.write) {
    params.push(mode.overwriteConflicts);
    writes = `, updated as (
      update public.sessions s set artist_id = c.artist_id
        from classified c
       where s.id = c.session_id
         and ((c.action = 'stamp' and s.artist_id is null)
              or ($5::boolean and c.action = 'artist_conflict' and s.artist_id = c.current_artist))
      returning s.id
    )`;
    if (mode.overwriteConflicts) {
      if (!mode.backup) throw new Error('Overwriting conflicts needs a backup table');
      params.push(mode.backup.runId);
      writes += `, backup as (
        insert into ${mode.backup.table} (run_id, session_id, room_id, old_artist_id, new_artist_id)
        select $6::uuid, c.session_id, c.room_id, c.current_artist, c.artist_id
          from classified c join updated u on u.id = c.session_id
         where c.action = 'artist_conflict'
      )`;
    }
  }
  const { rows } = await client.query<{
    room_id: string;
    session_id: string;
    action: StampAction;
    current_artist: string | null;
    written: boolean;
  }>(
    `${classified}${writes}
     select c.room_id::text as room_id, c.session_id, c.action, c.current_artist::text as current_artist,
            u.id is not null as written
       from classified c left join updated u on u.id = c.session_id
      order by c.room_id`,
    params,
  );
  return rows.map((row) => ({
    roomId: row.room_id,
    sessionId: row.session_id,
    action: row.action,
    currentArtistId: row.current_artist,
    written: row.written,
  }));
}

/**
 * Keeps backfill's target ledger truthful: where the ledger holds the digest of the session as it was
 * before this stamp (the tool's own write), it now holds the stamped one. Otherwise a later backfill
 * would take every stamped session for one the app changed and never bring it up to date again.
 */
export async function refreshSessionLedger(
  client: pg.ClientBase,
  stateSchema: string,
  written: readonly { sessionId: string; oldArtistId: string | null }[],
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
