import type pg from 'pg';
import { chatDigestSql, messageDigestSql, sessionDigestSql } from '../../engine/digests.ts';
import { timestampTextSql } from '../../engine/source-reads.ts';
import { quoteIdent } from '../../engine/sql-files.ts';

/**
 * The comparisons of reconcile, done inside the database: the expected rows arrive as one jsonb array
 * (a read-only transaction cannot create temp tables), are joined to the stored rows, and both sides
 * are digested by the server with the digests backfill's ledger records. Stored message content never
 * comes back to JavaScript (JSON.parse would change big integers), except truncated for --show-values.
 */

/** A session + chat the source maps a room to. */
export interface ExpectedRoomRow {
  room_id: string;
  id: string;
  account_id: string;
  title: string;
  /** The room's topic as it is: the original script copied a blank one as it was, not as Untitled. */
  topic: string | null;
  artist_id: string | null;
}

export interface RoomComparison {
  room_id: string;
  session_exists: boolean;
  chat_exists: boolean;
  account_differs: boolean;
  artist_differs: boolean;
  chat_session_differs: boolean;
  renamed: boolean;
  archived: boolean;
  expected_session_digest: string;
  actual_session_digest: string | null;
  expected_chat_digest: string;
  actual_chat_digest: string | null;
  ledger_session_digest: string | null;
  ledger_chat_digest: string | null;
  actual_account_id: string | null;
  actual_artist_id: string | null;
  actual_chat_session_id: string | null;
}

/** Left-joins the target ledger's entry for one row, or a never-matching stand-in without a ledger. */
function ledgerJoin(ledgerSchema: string | null, alias: string, kind: string, idSql: string): string {
  if (ledgerSchema === null) return `left join (select null::text as digest) ${alias} on false`;
  return `left join ${quoteIdent(ledgerSchema)}.target_ledger ${alias} on ${alias}.kind = '${kind}' and ${alias}.id = ${idSql}`;
}

export async function compareRooms(
  client: pg.ClientBase,
  expected: readonly ExpectedRoomRow[],
  options: { withArtistId: boolean; ledgerSchema: string | null },
): Promise<RoomComparison[]> {
  if (expected.length === 0) return [];
  const artistDiffers = options.withArtistId ? 's.artist_id is distinct from e.artist_id' : 'false';
  const artistValue = options.withArtistId ? 's.artist_id::text' : 'null::text';
  const { rows } = await client.query<RoomComparison>(
    `with e as (
       select t.* from jsonb_to_recordset($1::jsonb) as t(room_id uuid, id text, account_id uuid, title text, topic text, artist_id uuid)
     )
     select e.room_id::text as room_id,
            s.id is not null as session_exists,
            c.id is not null as chat_exists,
            s.id is not null and s.account_id is distinct from e.account_id as account_differs,
            s.id is not null and ${artistDiffers} as artist_differs,
            c.id is not null and c.session_id is distinct from e.id as chat_session_differs,
            -- Renamed in the app: a title that is neither what the tool writes nor the topic as it is (what
            -- the original script wrote, a blank one included).
            (s.id is not null and s.title is distinct from e.title and s.title is distinct from e.topic)
              or (c.id is not null and c.title is distinct from e.title and c.title is distinct from e.topic) as renamed,
            coalesce(s.status = 'archived', false) as archived,
            ${sessionDigestSql('e', options.withArtistId)} as expected_session_digest,
            case when s.id is not null then ${sessionDigestSql('s', options.withArtistId)} end as actual_session_digest,
            ${chatDigestSql('ec')} as expected_chat_digest,
            case when c.id is not null then ${chatDigestSql('c')} end as actual_chat_digest,
            ls.digest as ledger_session_digest,
            lc.digest as ledger_chat_digest,
            s.account_id::text as actual_account_id,
            ${artistValue} as actual_artist_id,
            c.session_id as actual_chat_session_id
       from e
       cross join lateral (select e.id as session_id, e.title as title) ec
       left join public.sessions s on s.id = e.id
       left join public.chats c on c.id = e.room_id::text
       ${ledgerJoin(options.ledgerSchema, 'ls', 'session', 'e.id')}
       ${ledgerJoin(options.ledgerSchema, 'lc', 'chat', 'e.room_id::text')}`,
    [JSON.stringify(expected)],
  );
  return rows;
}

/** A chat_messages row the source maps a memory to; or, with skip_reason, a memory expected to be skipped. */
export interface ExpectedMessageRow {
  id: string;
  room_id: string;
  chat_id: string;
  role: string | null;
  /** The converted UIMessage envelope (serialised losslessly by the caller). */
  parts: unknown;
  created_at: string;
  skip_reason: string | null;
}

/** A message that is not as expected: absent, different, or present although its memory is skipped. */
export interface MessageProblem {
  id: string;
  room_id: string;
  skip_reason: string | null;
  present: boolean;
  expected_digest: string | null;
  actual_digest: string | null;
  fields: string[];
  ledger_digest: string | null;
  actual_role: string | null;
  actual_created_at: string | null;
  actual_chat_id: string | null;
  /** Truncated stored parts; only with --show-values, else null. */
  actual_parts: string | null;
}

/** Returns only the problem rows: memory-flat however many messages match. */
export async function compareMessages(
  client: pg.ClientBase,
  expectedJson: string,
  options: { ledgerSchema: string | null; showValuesChars: number | null },
): Promise<MessageProblem[]> {
  const partsValue = options.showValuesChars === null ? 'null::text' : 'left(m.parts::text, $2)';
  const params: unknown[] = [expectedJson];
  if (options.showValuesChars !== null) params.push(options.showValuesChars);
  const { rows } = await client.query<MessageProblem>(
    `with e as (
       select t.* from jsonb_to_recordset($1::jsonb)
         as t(id text, room_id uuid, chat_id text, role text, parts jsonb, created_at timestamptz, skip_reason text)
     )
     select e.id, e.room_id::text as room_id, e.skip_reason,
            m.id is not null as present,
            case when e.skip_reason is null then ${messageDigestSql('e')} end as expected_digest,
            case when m.id is not null then ${messageDigestSql('m')} end as actual_digest,
            case when e.skip_reason is null and m.id is not null then array_remove(array[
              case when m.chat_id is distinct from e.chat_id then 'chat_id' end,
              case when m.role is distinct from e.role then 'role' end,
              case when m.created_at is distinct from e.created_at then 'created_at' end,
              case when m.parts::text is distinct from e.parts::text then 'parts' end
            ], null) else '{}'::text[] end as fields,
            l.digest as ledger_digest,
            m.role as actual_role,
            ${timestampTextSql('m.created_at')} as actual_created_at,
            m.chat_id as actual_chat_id,
            ${partsValue} as actual_parts
       from e
       left join public.chat_messages m on m.id = e.id
       ${ledgerJoin(options.ledgerSchema, 'l', 'message', 'e.id')}
      where case when e.skip_reason is null
                 then m.id is null or ${messageDigestSql('m')} <> ${messageDigestSql('e')}
                 else m.id is not null end`,
    params,
  );
  return rows;
}

/**
 * Messages in the given chats whose ids are none of the given memory ids: what the app wrote into a
 * migrated chat since. Counted per chat, never compared. chat_messages has no index on chat_id in
 * production's schema, so this is one hashed scan of it per batch.
 */
export async function countAddedMessages(
  client: pg.ClientBase,
  chatIds: readonly string[],
  memoryIds: readonly string[],
): Promise<Map<string, number>> {
  if (chatIds.length === 0) return new Map();
  const { rows } = await client.query<{ chat_id: string; count: number }>(
    `select m.chat_id, count(*)::int as count
       from public.chat_messages m
       join unnest($1::text[]) as c(id) on c.id = m.chat_id
      where not exists (select 1 from unnest($2::text[]) as x(id) where x.id = m.id)
      group by m.chat_id`,
    [chatIds, memoryIds],
  );
  return new Map(rows.map((row) => [row.chat_id, row.count]));
}
