import type pg from 'pg';
import type { UIMessageEnvelope } from '../../migration/convert.ts';
import { stringifyJson } from '../../migration/json.ts';
import { messageDigestSql } from '../../engine/digests.ts';
import { partsBackupTable } from '../../engine/parts-backup.ts';
import { quoteIdent } from '../../engine/sql-files.ts';

/** One row fix-parts means to rewrite (or, for 'remove', delete), with the version of it that was classified. */
export interface PartsFix {
  id: string;
  /** xmin as read: the write applies only if the row is still that version. */
  xmin: string;
  /** The new value; null for a removal. */
  message: UIMessageEnvelope | null;
  /** The legacy room of the row's chat (its id, when it is one), for the target ledger; else null. */
  roomId: string | null;
}

export interface AppliedFix {
  id: string;
  /** md5(parts::text) before and after the write (after: null for a row removed). */
  oldDigest: string;
  newDigest: string | null;
}

export interface PartsWriteRun {
  stateSchema: string;
  runId: string;
  converterVersion: number;
}

/**
 * Compare-and-set of chat_messages.parts (and role) for a batch of rows, in the caller's READ COMMITTED
 * transaction; a fix without a message removes its row. Returns the rows written; a row missing from
 * the result changed (or vanished) after it was read and was left alone.
 *
 * 1. The old values are copied into the backup table by the server (INSERT … SELECT … FOR UPDATE),
 *    only for rows still at the version read (xmin: any update makes a new version, even one that
 *    writes the same value), with the target ledger's entry as it was. FOR UPDATE locks them until
 *    commit; a concurrent writer committed meanwhile makes Postgres re-check the condition on the new
 *    version (and drop the row), so an app write is never overwritten. A version check rather than
 *    md5(parts::text): no row is serialised and hashed to be compared, only the ones written, for the
 *    backup's digest. A row to be removed is backed up whole.
 * 2. The locked rows get the new value (sent as text, cast to jsonb), the backup its new digest, and
 *    the target ledger the digest of the row as now stored (messageDigestSql), written by this run; the
 *    rows to remove are deleted, with their ledger entry.
 */
export async function applyPartsFixes(client: pg.ClientBase, run: PartsWriteRun, fixes: readonly PartsFix[]): Promise<AppliedFix[]> {
  if (fixes.length === 0) return [];
  const backup = partsBackupTable(run.stateSchema);
  const ledger = `${quoteIdent(run.stateSchema)}.target_ledger`;
  await client.query(
    `insert into ${backup} (run_id, message_id, chat_id, old_role, old_parts, old_xmin, old_digest,
                            action, old_row, old_ledger_digest, old_converter_version)
     select $1::uuid, cm.id, cm.chat_id, cm.role, cm.parts, cm.xmin::text, md5(cm.parts::text),
            case when i.remove then 'remove' else 'rewrite' end, case when i.remove then to_jsonb(cm) end,
            l.digest, l.converter_version
       from public.chat_messages cm
       join unnest($2::text[], $3::xid[], $4::boolean[]) as i(id, xmin, remove) on i.id = cm.id
       left join ${ledger} l on l.kind = 'message' and l.id = cm.id
      where cm.xmin = i.xmin
      order by cm.id
        for update of cm`,
    [run.runId, fixes.map((f) => f.id), fixes.map((f) => f.xmin), fixes.map((f) => f.message === null)],
  );
  const rewrites = fixes.filter((f) => f.message !== null);
  const input = stringifyJson(rewrites.map((f) => ({ id: f.id, xmin: f.xmin, role: f.message?.role, parts: f.message, room_id: f.roomId })));
  const { rows } = await client.query<{ id: string; old_digest: string; new_digest: string | null }>(
    `with input as (
       select i.* from jsonb_to_recordset($1::jsonb) as i(id text, xmin text, role text, parts jsonb, room_id uuid)
     ), updated as (
       update public.chat_messages cm
          set parts = i.parts, role = i.role
         from input i
         join ${backup} b on b.run_id = $2::uuid and b.message_id = i.id
        where cm.id = i.id and cm.xmin = i.xmin::xid
       returning cm.id, cm.chat_id, cm.role, cm.created_at, cm.parts, i.room_id, b.old_digest,
                 md5(cm.parts::text) as new_digest, cm.xmin::text as row_xmin
     ), removed as (
       delete from public.chat_messages cm
        using ${backup} b
        where b.run_id = $2::uuid and b.action = 'remove' and b.message_id = cm.id and b.message_id = any($4::text[])
       returning cm.id, b.old_digest
     ), marked as (
       update ${backup} b set new_digest = u.new_digest
         from updated u where b.run_id = $2::uuid and b.message_id = u.id
     ), ledgered as (
       insert into ${ledger} (kind, id, room_id, digest, inserted_by, written_by, converter_version, row_xmin)
       select 'message', u.id, u.room_id, ${messageDigestSql('u')}, null, $2::uuid, $3, u.row_xmin
         from updated u where u.room_id is not null
       on conflict (kind, id) do update
         set digest = excluded.digest, written_by = excluded.written_by,
             converter_version = excluded.converter_version, row_xmin = excluded.row_xmin, written_at = now()
     ), unledgered as (
       delete from ${ledger} l using removed r where l.kind = 'message' and l.id = r.id
     )
     select u.id, u.old_digest, u.new_digest from updated u
     union all select r.id, r.old_digest, null from removed r`,
    [input, run.runId, run.converterVersion, fixes.filter((f) => f.message === null).map((f) => f.id)],
  );
  return rows.map((row) => ({ id: row.id, oldDigest: row.old_digest, newDigest: row.new_digest }));
}
