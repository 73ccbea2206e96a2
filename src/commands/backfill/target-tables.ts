import { chatDigestSql, messageDigestSql, sessionDigestSql } from '../../engine/digests.ts';
import type { TrackedTable } from './tracked-write.ts';

/** sessions as the tool writes them; artist_id only where the column exists. */
export function sessionsTable(withArtistId: boolean): TrackedTable {
  const insert: Record<string, string> = {
    id: 'c.id',
    account_id: 'c.account_id',
    title: 'c.title',
    created_at: 'c.created_at',
    updated_at: 'c.created_at',
  };
  if (withArtistId) insert.artist_id = 'c.artist_id';
  return {
    kind: 'session',
    table: 'sessions',
    recordset: 'id text, room_id uuid, account_id uuid, title text, artist_id uuid, created_at timestamptz',
    insert,
    update: withArtistId ? ['account_id', 'title', 'artist_id'] : ['account_id', 'title'],
    digest: (alias) => sessionDigestSql(alias, withArtistId),
  };
}

export const CHATS_TABLE: TrackedTable = {
  kind: 'chat',
  table: 'chats',
  recordset: 'id text, room_id uuid, session_id text, title text, created_at timestamptz',
  insert: {
    id: 'c.id',
    session_id: 'c.session_id',
    title: 'c.title',
    created_at: 'c.created_at',
    updated_at: 'c.created_at',
  },
  update: ['session_id', 'title'],
  digest: chatDigestSql,
};

export const MESSAGES_TABLE: TrackedTable = {
  kind: 'message',
  table: 'chat_messages',
  recordset: 'id text, room_id uuid, chat_id text, role text, parts jsonb, created_at timestamptz',
  insert: {
    id: 'c.id',
    chat_id: 'c.chat_id',
    role: 'c.role',
    parts: 'c.parts',
    created_at: 'c.created_at',
  },
  update: ['chat_id', 'role', 'parts', 'created_at'],
  digest: messageDigestSql,
};
