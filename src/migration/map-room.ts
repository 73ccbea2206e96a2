import type { RoomSkipReason } from './reasons.ts';
import { sessionIdForRoom } from './session-id.ts';

/** A legacy room as backfill and reconcile read it: the facts mapRoom needs, and its memory count. */
export interface LegacyRoomRow {
  id: string;
  account_id: string | null;
  topic: string | null;
  updated_at: string;
  artist_id: string | null;
  account_exists: boolean;
  artist_exists: boolean;
  memory_count: number;
}

export const UNTITLED = 'Untitled';

/** A legacy room as the tool reads it, with the facts about its accounts that decide its fate. */
export interface LegacyRoom {
  id: string;
  accountId: string | null;
  topic: string | null;
  updatedAt: Date;
  artistId: string | null;
  accountExists: boolean;
  artistExists: boolean;
}

export interface MappedRoom {
  session: { id: string; accountId: string; title: string; artistId: string | null; createdAt: Date };
  chat: { id: string; sessionId: string; title: string; createdAt: Date };
  /** artist_missing: rooms.artist_id names an account that no longer exists; migrated with NULL. */
  artistMissing: boolean;
}

export type RoomMapping = { ok: true; mapped: MappedRoom } | { ok: false; reason: RoomSkipReason };

/** rooms → sessions + chats, per the mapping of the schema spec. Pure. */
export function mapRoom(room: LegacyRoom): RoomMapping {
  if (room.accountId === null) return { ok: false, reason: 'room_no_account' };
  if (!room.accountExists) return { ok: false, reason: 'room_account_missing' };
  const title = room.topic !== null && room.topic.trim() !== '' ? room.topic : UNTITLED;
  const sessionId = sessionIdForRoom(room.id);
  const artistMissing = room.artistId !== null && !room.artistExists;
  return {
    ok: true,
    mapped: {
      session: {
        id: sessionId,
        accountId: room.accountId,
        title,
        artistId: artistMissing ? null : room.artistId,
        createdAt: room.updatedAt,
      },
      chat: { id: room.id, sessionId, title, createdAt: room.updatedAt },
      artistMissing,
    },
  };
}

/** mapRoom of a room row as backfill and reconcile read it (snake_case columns, updated_at as text). */
export function mapRoomRow(row: LegacyRoomRow): RoomMapping {
  return mapRoom({
    id: row.id,
    accountId: row.account_id,
    topic: row.topic,
    updatedAt: new Date(row.updated_at),
    artistId: row.artist_id,
    accountExists: row.account_exists,
    artistExists: row.artist_exists,
  });
}
