import type pg from 'pg';
import { quoteIdent } from '../../engine/sql-files.ts';
import { applyStateDdl } from '../../engine/state-schema.ts';

/**
 * fix-parts' backup table, in the tool's state schema: the old value of every chat_messages row a run
 * changed, copied by the server (INSERT … SELECT), so that `fix-parts --undo <runId>` can put back the
 * exact stored value (a value sent back through JavaScript could differ: JSON.parse changes big
 * integers). Created here rather than in sql/state.sql because only fix-parts uses it.
 */
export function partsBackupDdl(schema: string): string {
  const s = quoteIdent(schema);
  // The state schema exists by now (stateSchemaDdl made it, once, where it was absent).
  return `
    create table if not exists ${s}.parts_backup (
      run_id uuid not null,
      message_id text not null,
      chat_id text not null,
      old_role text not null,
      old_parts jsonb not null,
      -- the row version read before the change, for forensics (which write the backup replaced)
      old_xmin text not null,
      old_digest text not null,
      -- md5(parts::text) of what the run wrote; undo restores only rows that still hold it
      new_digest text,
      backed_up_at timestamptz not null default now(),
      restored_at timestamptz,
      primary key (run_id, message_id)
    );
    -- "did a fix-parts run write this row?" is asked per message, across runs
    create index if not exists parts_backup_message_id_idx on ${s}.parts_backup (message_id);`;
}

export function partsBackupTable(schema: string): string {
  return `${quoteIdent(schema)}.parts_backup`;
}

export async function partsBackupExists(db: pg.Pool | pg.ClientBase, schema: string): Promise<boolean> {
  const { rows } = await db.query<{ present: boolean }>(`select to_regclass($1) is not null as present`, [
    partsBackupTable(schema),
  ]);
  return rows[0]?.present === true;
}

/** Creates the backup table on first use. */
export async function ensurePartsBackupTable(pool: pg.Pool, schema: string): Promise<void> {
  if (await partsBackupExists(pool, schema)) return;
  await applyStateDdl(pool, `recoup-migrate:parts-backup:${schema}`, partsBackupDdl(schema));
}
