import type pg from 'pg';
import { partsBackupTable } from './state.ts';
import { quoteIdent } from '../../engine/sql-files.ts';

export interface UndoPageRow {
  message_id: string;
  chat_id: string;
  /** The old value was put back by this page. */
  restored: boolean;
  /** Restored by an earlier undo of the same run. */
  already_restored: boolean;
  /** The row no longer exists (deleted in the app, or with its chat). */
  gone: boolean;
}

/**
 * Restores one keyset page of a fix-parts run's backup, in the caller's transaction: each row gets its
 * old parts and role back, copied by the server from the backup (exact, big integers included), but only
 * where it still holds what that run wrote (md5(parts::text) = new_digest) — a row the app changed
 * since stays as the app left it. The run's ledger entries for the restored rows are removed: the row
 * is again the original script's, not the tool's.
 */
export async function restorePartsPage(
  client: pg.ClientBase,
  stateSchema: string,
  runId: string,
  after: string | null,
  pageSize: number,
): Promise<UndoPageRow[]> {
  const backup = partsBackupTable(stateSchema);
  const ledger = `${quoteIdent(stateSchema)}.target_ledger`;
  const { rows } = await client.query<UndoPageRow>(
    `with page as (
       select b.message_id from ${backup} b
        where b.run_id = $1::uuid and ($2::text is null or b.message_id > $2::text)
        order by b.message_id limit $3
     ), restored as (
       update public.chat_messages cm
          set parts = b.old_parts, role = b.old_role
         from ${backup} b join page p on p.message_id = b.message_id
        where b.run_id = $1::uuid and b.restored_at is null and b.new_digest is not null
          and cm.id = b.message_id and md5(cm.parts::text) = b.new_digest
       returning cm.id
     ), marked as (
       update ${backup} b set restored_at = now()
         from restored r where b.run_id = $1::uuid and b.message_id = r.id
     ), unledgered as (
       delete from ${ledger} l using restored r
        where l.kind = 'message' and l.id = r.id and l.written_by = $1::uuid
     )
     select b.message_id, b.chat_id, r.id is not null as restored, b.restored_at is not null as already_restored,
            cm.id is null as gone
       from page p
       join ${backup} b on b.run_id = $1::uuid and b.message_id = p.message_id
       left join restored r on r.id = p.message_id
       left join public.chat_messages cm on cm.id = p.message_id
      order by b.message_id`,
    [runId, after, pageSize],
  );
  return rows;
}
