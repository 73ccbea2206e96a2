import type pg from 'pg';
import type { UIMessageEnvelope } from '../../migration/convert.ts';
import { stringifyJson } from '../../migration/json.ts';
import { messageDigestSql } from '../../engine/digests.ts';
import { partsBackupTable } from './state.ts';
import { quoteIdent } from '../../engine/sql-files.ts';

/** One row fix-parts means to rewrite, with the version of it that was classified. */
export interface PartsFix {
  id: string;
  /** xmin as read: the write applies only if the row is still that version. */
  xmin: string;
  message: UIMessageEnvelope;
  /** The legacy room of the row's chat (its id, when it is one), for the target ledger; else null. */
  roomId: string | null;
}

export interface AppliedFix {
  id: string;
  /** md5(parts::text) before and after the write. */
  oldDigest: string;
  newDigest: string;
}

export interface PartsWriteRun {
  stateSchema: string;
  runId: string;
  converterVersion: number;
}

/**
 * Compare-and-set of chat_messages.parts (and role) for a batch of rows, in the caller's READ COMMITTED
 * transaction. Returns the rows written; a row missing from the result changed (or vanished) after it
 * was read and was left alone.
 *
 * 1. The old values are copied into the backup table by the server (INSERT … SELECT … FOR UPDATE),
 *    only for rows still at the version read (xmin: any update makes a new version, even one that
 *    writes the same value). FOR UPDATE locks them until commit; a concurrent writer committed meanwhile
 *    makes Postgres re-check the condition on the new version (and drop the row), so an app write is
 *    never overwritten. A version check rather than md5(parts::text): no row is serialised and hashed
 *    to be compared, only the ones written, for the backup's digest.
 * 2. The locked rows get the new value (sent as text, cast to jsonb), the backup its new digest, and
 *    the target ledger the digest of the row as now stored (messageDigestSql), written by this run.
 */
export async function applyPartsFixes(client: pg.ClientBase, run: PartsWriteRun, fixes: readonly PartsFix[]): Promise<AppliedFix[]> {
  if (fixes.length === 0) return [];
  const backup = partsBackupTable(run.stateSchema);
  const ledger = `${quoteIdent(run.stateSchema)}.target_ledger`;
  await client.query(
    `insert into ${backup} (run_id, message_id, chat_id, old_role, old_parts, old_xmin, old_digest)
     select $1::uuid, cm.id, cm.chat_id, cm.role, cm.parts, cm.xmin::text, md5(cm.parts::text)
       from public.chat_messages cm
       join unnest($2::text[], $3::xid[]) as i(id, xmin) on i.id = cm.id
      where cm.xmin = i.xmin
      order by cm.id
        for update of cm`,
    [run.runId, fixes.map((f) => f.id), fixes.map((f) => f.xmin)],
  );
  const input = stringifyJson(fixes.map((f) => ({ id: f.id, xmin: f.xmin, role: f.message.role, parts: f.message, room_id: f.roomId })));
  const { rows } = await client.query<{ id: string; old_digest: string; new_digest: string }>(
    `with input as (
       select i.* from jsonb_to_recordset($1::jsonb) as i(id text, xmin text, role text, parts jsonb, room_id uuid)
     ), updated as (
       update public.chat_messages cm
          set parts = i.parts, role = i.role
         from input i
         join ${backup} b on b.run_id = $2::uuid and b.message_id = i.id
        where cm.id = i.id and cm.xmin = i.xmin::xid
       returning cm.id, cm.chat_id, cm.role, cm.created_at, cm.parts, i.room_id, b.old_digest,
                 md5(cm.parts::text) as new_digest
     ), marked as (
       update ${backup} b set new_digest = u.new_digest
         from updated u where b.run_id = $2::uuid and b.message_id = u.id
     ), ledgered as (
       insert into ${ledger} (kind, id, room_id, digest, inserted_by, written_by, converter_version)
       select 'message', u.id, u.room_id, ${messageDigestSql('u')}, null, $2::uuid, $3
         from updated u where u.room_id is not null
       on conflict (kind, id) do update
         set digest = excluded.digest, written_by = excluded.written_by,
             converter_version = excluded.converter_version, written_at = now()
     )
     select u.id, u.old_digest, u.new_digest from updated u`,
    [input, run.runId, run.converterVersion],
  );
  return rows.map((row) => ({ id: row.id, oldDigest: row.old_digest, newDigest: row.new_digest }));
}
