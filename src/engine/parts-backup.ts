import type pg from 'pg';
import { quoteIdent } from './sql-files.ts';
import { applyStateDdl } from './state-schema.ts';

/**
 * The backup of every chat_messages row the tool rewrote or removed after it was first written: fix-parts
 * (rows rebuilt, repaired, upgraded, or removed) and backfill (rows it brought up to date: a newer
 * converter, a changed memory). The server copies the old value (INSERT … SELECT), so that an undo puts
 * back exactly what was stored (a value sent back through JavaScript could differ: JSON.parse changes
 * big integers). In the state schema, created on first use.
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
    create index if not exists parts_backup_message_id_idx on ${s}.parts_backup (message_id);
    ${PARTS_BACKUP_V2.map((column) => `alter table ${s}.parts_backup add column if not exists ${column};`).join('\n    ')}`;
}

// Added by converter upgrades and removals (0.2); a backup table made before gets them on first use.
const PARTS_BACKUP_V2 = [
  // 'rewrite': parts and role were replaced; 'remove': the row was deleted (old_row holds all of it)
  `action text not null default 'rewrite'`,
  `old_row jsonb`,
  // the target ledger's entry before the change, put back by an undo (null: there was none)
  `old_ledger_digest text`,
  `old_converter_version int`,
];

export function partsBackupTable(schema: string): string {
  return `${quoteIdent(schema)}.parts_backup`;
}

export async function partsBackupExists(db: pg.Pool | pg.ClientBase, schema: string): Promise<boolean> {
  const { rows } = await db.query<{ present: boolean }>(`select to_regclass($1) is not null as present`, [
    partsBackupTable(schema),
  ]);
  return rows[0]?.present === true;
}

/** Whether the backup table exists with every column this version writes. */
async function partsBackupCurrent(db: pg.Pool | pg.ClientBase, schema: string): Promise<boolean> {
  const { rows } = await db.query<{ current: boolean }>(
    `select exists (select 1 from pg_attribute
                     where attrelid = to_regclass($1) and attname = 'old_converter_version' and not attisdropped) as current`,
    [partsBackupTable(schema)],
  );
  return rows[0]?.current === true;
}

/** Creates (or brings up to date) the backup table on first use. */
export async function ensurePartsBackupTable(pool: pg.Pool, schema: string): Promise<void> {
  if (await partsBackupCurrent(pool, schema)) return;
  await applyStateDdl(pool, `recoup-migrate:parts-backup:${schema}`, partsBackupDdl(schema));
}

/** For a dry run: the DDL inside its rolled-back transaction, only where the table is not current. */
export async function partsBackupDdlIfNeeded(client: pg.ClientBase, schema: string): Promise<void> {
  if (!(await partsBackupCurrent(client, schema))) await client.query(partsBackupDdl(schema));
}

export interface RestoredBackupRow {
  message_id: string;
  chat_id: string;
  /** The old value was put back (a rewrite undone, or a removed row inserted again) by this call. */
  restored: boolean;
  /** Restored by an earlier undo of the same run. */
  already_restored: boolean;
  /** The row no longer exists (deleted in the app, or with its chat), or its chat is gone. */
  gone: boolean;
}

/**
 * Restores a run's backed-up rows, in the caller's transaction: one keyset page (`after`, `pageSize`),
 * or all of them (`pageSize` null). A rewritten row gets its old parts and role back where it still
 * holds what the run wrote (md5(parts::text) = new_digest): a row the app changed since stays as the
 * app left it. A removed row is inserted again, exactly as it was, where no row holds its id and its
 * chat still exists. The target ledger gets back its entry from before the run (or loses the run's).
 */
export async function restoreBackup(
  client: pg.ClientBase,
  stateSchema: string,
  runId: string,
  page: { after: string | null; pageSize: number | null },
): Promise<RestoredBackupRow[]> {
  const backup = partsBackupTable(stateSchema);
  const ledger = `${quoteIdent(stateSchema)}.target_ledger`;
  const { rows } = await client.query<RestoredBackupRow>(
    `with page as (
       select b.message_id from ${backup} b
        where b.run_id = $1::uuid and ($2::text is null or b.message_id > $2::text)
        order by b.message_id limit $3
     ), rewritten as (
       update public.chat_messages cm
          set parts = b.old_parts, role = b.old_role
         from ${backup} b join page p on p.message_id = b.message_id
        where b.run_id = $1::uuid and b.action = 'rewrite' and b.restored_at is null and b.new_digest is not null
          and cm.id = b.message_id and md5(cm.parts::text) = b.new_digest
       returning cm.id
     ), reinserted as (
       insert into public.chat_messages
       select (jsonb_populate_record(null::public.chat_messages, b.old_row)).*
         from ${backup} b join page p on p.message_id = b.message_id
        where b.run_id = $1::uuid and b.action = 'remove' and b.restored_at is null
          and not exists (select 1 from public.chat_messages cm where cm.id = b.message_id)
          and exists (select 1 from public.chats c where c.id = b.chat_id)
       on conflict do nothing
       returning id
     ), restored as (
       select id from rewritten union all select id from reinserted
     ), marked as (
       update ${backup} b set restored_at = now()
         from restored r where b.run_id = $1::uuid and b.message_id = r.id
     ), unledgered as (
       delete from ${ledger} l using restored r, ${backup} b
        where l.kind = 'message' and l.id = r.id and l.written_by = $1::uuid
          and b.run_id = $1::uuid and b.message_id = r.id and b.old_ledger_digest is null
     ), reledgered as (
       update ${ledger} l set digest = b.old_ledger_digest, converter_version = b.old_converter_version, written_at = now()
         from restored r join ${backup} b on b.run_id = $1::uuid and b.message_id = r.id
        where l.kind = 'message' and l.id = r.id and b.old_ledger_digest is not null
     )
     select b.message_id, b.chat_id, r.id is not null as restored, b.restored_at is not null as already_restored,
            case when b.action = 'remove' then c.id is null else cm.id is null end as gone
       from page p
       join ${backup} b on b.run_id = $1::uuid and b.message_id = p.message_id
       left join restored r on r.id = p.message_id
       left join public.chat_messages cm on cm.id = p.message_id
       left join public.chats c on c.id = b.chat_id
      order by b.message_id`,
    [runId, page.after, page.pageSize],
  );
  return rows;
}
