import type pg from 'pg';
import { messageDigestSql } from '../../engine/digests.ts';
import { partsBackupTable } from '../../engine/parts-backup.ts';
import { timestampTextSql } from '../../engine/source-reads.ts';
import { quoteIdent } from '../../engine/sql-files.ts';
import { looksLikeLegacyId, messageScopeFilter, type MessageRange, type ResolvedMessageScope } from '../../engine/message-scope.ts';

export interface StoredMessageRow {
  id: string;
  chat_id: string;
  session_id: string;
  role: string;
  /** The row version read (xmin): the compare-and-set write applies only to this version. */
  xmin: string;
  /** The ledger's digest for this message, when the tool wrote it before. */
  ledger_digest: string | null;
  /** The row still holds what the tool last wrote (ledger digest, or a fix-parts backup's new digest). */
  tool_owned: boolean;
}

/** Which of the tool's state tables exist yet (a dry run on a fresh database has neither). */
export interface OwnershipTables {
  stateSchema: string;
  ledger: boolean;
  backup: boolean;
}

/**
 * The chat_messages rows of one range in the scope, in id order, with whether each still holds what
 * the tool last wrote: the ledger's digest (backfill, fix-parts in migrated chats) or a fix-parts
 * backup's new digest (also in chats the app created, which have no legacy room to ledger under).
 */
export async function readMessagesInRange(
  client: pg.ClientBase,
  range: MessageRange,
  scope: ResolvedMessageScope,
  tables: OwnershipTables,
): Promise<StoredMessageRow[]> {
  const filter = messageScopeFilter(scope, 3);
  const state = quoteIdent(tables.stateSchema);
  // Every lookup is a LATERAL … LIMIT 1, which the planner can only run as an index probe per row: with
  // plain joins it merged or hashed the whole ledger and backup for each batch (statistics taken while
  // they were small), which made a run quadratic in their size.
  const ledgerJoin = tables.ledger
    ? `left join lateral (select l.digest from ${state}.target_ledger l where l.kind = 'message' and l.id = cm.id limit 1) l on true`
    : '';
  const ledgerDigest = tables.ledger ? 'l.digest' : 'null::text';
  // Digests serialise parts, so they are taken only where there is something to compare them with:
  // CASE, not coalesce(l.digest = …), since a strict operator's arguments are computed even when one is null.
  const ledgerOwned = tables.ledger
    ? `case when l.digest is null then false else l.digest = ${messageDigestSql('cm')} end`
    : 'false';
  const backupJoin = tables.backup
    ? `left join lateral (select true as owned from ${partsBackupTable(tables.stateSchema)} b
                           where b.message_id = cm.id and b.restored_at is null and b.new_digest = md5(cm.parts::text) limit 1) bk on true`
    : '';
  const backupOwned = tables.backup ? 'bk.owned is not null' : 'false';
  const { rows } = await client.query<StoredMessageRow>(
    `select cm.id, cm.chat_id, c.session_id, cm.role, cm.xmin::text as xmin,
            ${ledgerDigest} as ledger_digest, ${ledgerOwned} or ${backupOwned} as tool_owned
       from public.chat_messages cm
       join lateral (select c.session_id from public.chats c where c.id = cm.chat_id limit 1) c on true
       ${ledgerJoin}
       ${backupJoin}
      where ($1::text is null or cm.id > $1::text) and cm.id <= $2::text and ${filter.sql}
      order by cm.id`,
    [range.after, range.last, ...filter.params],
  );
  return rows;
}

/**
 * The stored parts (jsonb text, to parse losslessly) of the given rows. Read separately, in the same
 * snapshot, and only for the rows whose value is not already known from their memory (script_shape):
 * on a target the original script filled, that is almost none, and the values never cross the wire.
 */
export async function readStoredParts(client: pg.ClientBase, messageIds: readonly string[]): Promise<Map<string, string>> {
  if (messageIds.length === 0) return new Map();
  const { rows } = await client.query<{ id: string; parts: string }>(
    `select cm.id, cm.parts::text as parts from public.chat_messages cm where cm.id = any($1::text[])`,
    [messageIds],
  );
  return new Map(rows.map((row) => [row.id, row.parts]));
}

export interface MessageMemoryRow {
  id: string;
  /** content as jsonb text: parse it losslessly. */
  content: string;
  updated_at: string;
  /**
   * The row holds exactly what the original script wrote from this memory: a bare copy of content.parts
   * (its first shape, 'bare'), or {id, role, parts: content.parts} (after its in-place repair,
   * 'envelope'); null when it holds neither. Compared as jsonb by the server, so no value makes a round
   * trip through JavaScript, and the row's value is then known from the memory without parsing it.
   * jsonb compares numbers by value, so the memory's spelling of them stands in for the row's. The two
   * parse differently only for a number of more than 15 digits written two ways (1.50…01 and 1.5…010),
   * which a copy made through JavaScript cannot produce without changing its value.
   */
  script_shape: ScriptShape | null;
}

export type ScriptShape = 'bare' | 'envelope';

/**
 * The memories whose id (as text) is one of the given message ids. Only ids of the uuid text form are
 * looked up (others cannot match `m.id::text`); they are sent as uuid[] so that the memories primary
 * key serves the lookup, and the join itself compares text: `cm.id = m.id::text`.
 */
export async function readMemoriesOfMessages(client: pg.ClientBase, messageIds: readonly string[]): Promise<Map<string, MessageMemoryRow>> {
  const candidates = messageIds.filter(looksLikeLegacyId);
  if (candidates.length === 0) return new Map();
  const { rows } = await client.query<MessageMemoryRow>(
    `select m.id::text as id, m.content::text as content, ${timestampTextSql('m.updated_at')} as updated_at,
            case
              when cm.parts = m.content->'parts' then 'bare'
              when jsonb_typeof(cm.parts) = 'object'
                   and cm.parts->'parts' = coalesce(m.content->'parts', 'null')
                   and cm.parts - 'parts' = jsonb_build_object('id', m.id::text, 'role', m.content->'role') then 'envelope'
            end as script_shape
       from public.memories m
       join public.chat_messages cm on cm.id = m.id::text
      where m.id = any($1::uuid[])`,
    [candidates],
  );
  return new Map(rows.map((row) => [row.id, row]));
}
