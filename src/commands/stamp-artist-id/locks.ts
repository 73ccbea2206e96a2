import type pg from 'pg';

// How many blocking sessions an error message names; the rest are counted.
const MAX_HOLDERS_LISTED = 5;

/**
 * Who is in the way of DDL on public.sessions, for an error message: sessions holding a lock on it, and
 * transactions with a snapshot (CREATE INDEX CONCURRENTLY waits for every older snapshot). pid, state,
 * how long the transaction is open, and the application name — never the query text.
 */
export async function describeSessionsLockHolders(db: pg.Pool): Promise<string> {
  const { rows } = await db.query<{ pid: number; state: string | null; open_seconds: number | null; application_name: string | null }>(
    `select a.pid, a.state, extract(epoch from now() - a.xact_start)::int as open_seconds, a.application_name
       from pg_stat_activity a
      where a.pid <> pg_backend_pid() and a.datname = current_database() and a.xact_start is not null
        and (a.backend_xmin is not null
             or exists (select 1 from pg_locks l where l.pid = a.pid and l.granted
                          and l.relation = 'public.sessions'::regclass))
      order by a.xact_start`,
  );
  if (rows.length === 0) return 'none found now';
  const listed = rows
    .slice(0, MAX_HOLDERS_LISTED)
    .map((r) => `pid ${r.pid} (${r.state ?? 'unknown'}, transaction open ${r.open_seconds ?? '?'} s${r.application_name ? `, ${r.application_name}` : ''})`);
  const more = rows.length > MAX_HOLDERS_LISTED ? `, and ${rows.length - MAX_HOLDERS_LISTED} more` : '';
  return `${listed.join(', ')}${more}`;
}
