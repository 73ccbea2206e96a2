import type pg from 'pg';
import { partsBackupTable } from '../../engine/parts-backup.ts';
import { quoteIdent } from '../../engine/sql-files.ts';

/**
 * What a tracked write did with one expected row:
 * - insert: absent, inserted (or, if `inserted` is false, a concurrent writer got there first);
 * - equal: the target already holds exactly the expected row;
 * - kept: the target differs, but the tool's own last write equals the expected row: the app changed
 *   it since and nothing new needs writing (a renamed chat, say);
 * - update: the target still holds what the tool last wrote and the source changed: brought up to date;
 * - upgrade: a message that still holds what an earlier converter version wrote, and this one writes
 *   something else: rewritten (like update; told apart because nothing in the source changed);
 * - app_changed: the source changed, but so did the target since the tool wrote it: left alone;
 * - foreign: the target holds a row the tool never wrote (the original script, or the app): left alone.
 */
export type TrackedAction = 'insert' | 'equal' | 'kept' | 'update' | 'upgrade' | 'app_changed' | 'foreign';

export interface TrackedOutcome {
  id: string;
  roomId: string;
  action: TrackedAction;
  inserted: boolean;
  updated: boolean;
}

export interface TrackedTable {
  kind: 'session' | 'chat' | 'message';
  table: 'sessions' | 'chats' | 'chat_messages';
  /** Column definitions for jsonb_to_recordset, e.g. `id text, title text`. */
  recordset: string;
  /** Columns inserted, with the SQL expression (over alias `c`) for each value. */
  insert: Record<string, string>;
  /** Columns an update brings up to date (a subset of insert). */
  update: readonly string[];
  digest: (alias: string) => string;
}

/**
 * Inserts the expected rows that are absent and brings up to date the ones that still hold what the
 * tool wrote, in one set-based statement; everything else is left alone and classified. The same
 * statement records in the target ledger the digest of every row written, or adopted because the target
 * already holds exactly it. The rows arrive as one jsonb array (`json`, which must include `id` and
 * `room_id`), so nothing is spliced into SQL.
 *
 * A message it rewrites (update, upgrade) is first copied, as stored, into the parts backup, with its
 * ledger entry, so that `backfill --undo` can put it back (the table must exist: ensurePartsBackupTable).
 *
 * Run it in a REPEATABLE READ transaction: the classification and the writes then see one snapshot, and
 * a row changed concurrently after it makes the UPDATE fail with a serialization error instead of
 * overwriting the change.
 */
export async function trackedWrite(
  client: pg.ClientBase,
  spec: TrackedTable,
  stateSchema: string,
  json: string,
  run: { runId: string; converterVersion: number },
): Promise<TrackedOutcome[]> {
  const ledger = `${quoteIdent(stateSchema)}.target_ledger`;
  const insertColumns = Object.keys(spec.insert);
  // Only messages depend on the converter; the ledger says which version wrote the row.
  const upgradeOrUpdate = spec.kind === 'message' ? `case when l.converter_version is distinct from $3 then 'upgrade' else 'update' end` : `'update'`;
  const sql = `
    with input as (
      select t.* from jsonb_to_recordset($1::jsonb) as t(${spec.recordset})
    ), expected as (
      select i.*, ${spec.digest('i')} as digest from input i
    ), classified as (
      select e.*, l.digest as ledger_digest, l.converter_version as ledger_converter_version,
        l.row_xmin as ledger_xmin, cur.xmin::text as cur_xmin,
        case
          when cur.id is null then 'insert'
          when ${spec.digest('cur')} = e.digest then 'equal'
          when l.digest = e.digest then 'kept'
          when l.digest = ${spec.digest('cur')} then ${upgradeOrUpdate}
          when l.digest is not null then 'app_changed'
          else 'foreign'
        end as action
      from expected e
      left join public.${spec.table} cur on cur.id = e.id
      left join ${ledger} l on l.kind = '${spec.kind}' and l.id = e.id
    ), inserted as (
      insert into public.${spec.table} (${insertColumns.join(', ')})
      select ${insertColumns.map((column) => spec.insert[column]).join(', ')}
        from classified c where c.action = 'insert'
      on conflict (id) do nothing
      returning id, xmin::text as row_xmin
    ), ${backupCte(spec, stateSchema)}updated as (
      update public.${spec.table} cur
         set ${spec.update.map((column) => `${column} = ${spec.insert[column]}`).join(', ')}
        from classified c
       where c.action in ('update', 'upgrade') and cur.id = c.id
      returning cur.id, cur.xmin::text as row_xmin
    ), outcomes as (
      select c.id, c.room_id, c.action, c.digest, c.ledger_digest, c.ledger_xmin,
             coalesce(ins.row_xmin, upd.row_xmin, c.cur_xmin) as row_xmin,
             ins.id is not null as inserted, upd.id is not null as updated
        from classified c
        left join inserted ins on ins.id = c.id
        left join updated upd on upd.id = c.id
    ), ledgered as (
      insert into ${ledger} (kind, id, room_id, digest, inserted_by, written_by, converter_version, row_xmin)
      select '${spec.kind}', o.id, o.room_id, o.digest, case when o.inserted then $2::uuid end, $2::uuid, $3, o.row_xmin
        from outcomes o
       where o.inserted or o.updated
          or (o.action = 'equal' and (o.ledger_digest is distinct from o.digest or o.ledger_xmin is distinct from o.row_xmin))
      on conflict (kind, id) do update
        set digest = excluded.digest,
            inserted_by = coalesce(excluded.inserted_by, ${ledger}.inserted_by),
            written_by = excluded.written_by,
            converter_version = excluded.converter_version,
            row_xmin = excluded.row_xmin,
            written_at = now()
    )
    select o.id, o.room_id::text as room_id, o.action, o.inserted, o.updated from outcomes o`;
  const { rows } = await client.query<{ id: string; room_id: string; action: TrackedAction; inserted: boolean; updated: boolean }>(
    sql,
    [json, run.runId, run.converterVersion],
  );
  return rows.map((row) => ({ id: row.id, roomId: row.room_id, action: row.action, inserted: row.inserted, updated: row.updated }));
}

/** The backup of the messages about to be rewritten (old values as stored, read in the statement's snapshot). */
function backupCte(spec: TrackedTable, stateSchema: string): string {
  if (spec.kind !== 'message') return '';
  return `backed_up as (
      insert into ${partsBackupTable(stateSchema)} (run_id, message_id, chat_id, old_role, old_parts, old_xmin,
                  old_digest, new_digest, action, old_ledger_digest, old_converter_version)
      select $2::uuid, cur.id, cur.chat_id, cur.role, cur.parts, cur.xmin::text, md5(cur.parts::text),
             md5(c.parts::text), 'rewrite', c.ledger_digest, c.ledger_converter_version
        from classified c join public.chat_messages cur on cur.id = c.id
       where c.action in ('update', 'upgrade')
      on conflict (run_id, message_id) do update set new_digest = excluded.new_digest
    ), `;
}

/**
 * The rows of rooms nothing was written for yet (no ledger entry, no session, no chat in this snapshot):
 * inserted with ON CONFLICT DO NOTHING, without trackedWrite's per-row lookups of the target and the
 * ledger, and ledgered with the digest of the row as stored (RETURNING), taken once. Returns the
 * outcomes of the rows inserted; a row that met a conflict (another writer got there first) was not
 * inserted and is left for trackedWrite to classify, which the caller does with the rows missing here.
 */
export async function insertFresh(
  client: pg.ClientBase,
  spec: TrackedTable,
  stateSchema: string,
  json: string,
  run: { runId: string; converterVersion: number },
): Promise<TrackedOutcome[]> {
  const ledger = `${quoteIdent(stateSchema)}.target_ledger`;
  const insertColumns = Object.keys(spec.insert);
  const { rows } = await client.query<{ id: string; room_id: string }>(
    `with input as (
       select t.* from jsonb_to_recordset($1::jsonb) as t(${spec.recordset})
     ), inserted as (
       insert into public.${spec.table} (${insertColumns.join(', ')})
       select ${insertColumns.map((column) => spec.insert[column]).join(', ')} from input c
       on conflict (id) do nothing
       returning *, xmin::text as row_xmin
     ), ledgered as (
       insert into ${ledger} (kind, id, room_id, digest, inserted_by, written_by, converter_version, row_xmin)
       select '${spec.kind}', i.id, c.room_id, ${spec.digest('i')}, $2::uuid, $2::uuid, $3, i.row_xmin
         from inserted i join input c on c.id = i.id
       on conflict (kind, id) do update
         set digest = excluded.digest, inserted_by = excluded.inserted_by, written_by = excluded.written_by,
             converter_version = excluded.converter_version, row_xmin = excluded.row_xmin, written_at = now()
     )
     select i.id, c.room_id::text as room_id from inserted i join input c on c.id = i.id`,
    [json, run.runId, run.converterVersion],
  );
  return rows.map((row) => ({ id: row.id, roomId: row.room_id, action: 'insert', inserted: true, updated: false }));
}
