import { createHash } from 'node:crypto';
import type { ExpectedMessageRow, ExpectedRoomRow } from './compare.ts';
import type { ReconcileRoomRow } from './reads.ts';
import type { MemoryRow } from '../../engine/source-reads.ts';
import { mapRoomRow, type RoomMapping } from '../../migration/map-room.ts';
import { sessionIdForRoom } from '../../migration/session-id.ts';
import type { SkippedMemory } from '../../report/room-result.ts';
import { convertMemoryRow } from '../../engine/memory-conversion.ts';

/**
 * The expected side of reconcile: what backfill would write, computed with backfill's own mapping and
 * converter (mapRoom, sessionIdForRoom, convertMemory), so reconcile never holds a second opinion.
 */
export interface RoomExpectation {
  row: ReconcileRoomRow;
  sessionId: string;
  mapping: RoomMapping;
}

export function expectRoom(row: ReconcileRoomRow): RoomExpectation {
  const mapping = mapRoomRow(row);
  return { row, sessionId: sessionIdForRoom(row.id), mapping };
}

/** The session + chat row a mapped room should have (null for a room expected to be skipped). */
export function expectedRoomRow(room: RoomExpectation): ExpectedRoomRow | null {
  if (!room.mapping.ok) return null;
  const { session } = room.mapping.mapped;
  return { room_id: room.row.id, id: session.id, account_id: session.accountId, title: session.title, topic: room.row.topic, artist_id: session.artistId };
}

/** Per room: the messages expected in the target, and the memories expected to be skipped (with why). */
export interface RoomMessages {
  expected: ExpectedMessageRow[];
  skipped: SkippedMemory[];
  /** Memories run through the converter. */
  converted: number;
}

/**
 * Converts every memory as backfill does: the envelope is the row's parts, memories.updated_at (to the
 * microsecond, as text) its created_at, the room id its chat id. Skipped memories are kept as rows
 * with a skip_reason, so that a target message for one of them is found (message_unexpected).
 */
export async function expectMessages(memories: readonly MemoryRow[]): Promise<Map<string, RoomMessages>> {
  const byRoom = new Map<string, RoomMessages>();
  for (const memory of memories) {
    let room = byRoom.get(memory.room_id);
    if (!room) {
      room = { expected: [], skipped: [], converted: 0 };
      byRoom.set(memory.room_id, room);
    }
    const conversion = await convertMemoryRow(memory);
    room.converted += 1;
    const base = { id: memory.id, room_id: memory.room_id, chat_id: memory.room_id, created_at: memory.updated_at };
    if (conversion.ok) {
      room.expected.push({ ...base, role: conversion.message.role, parts: conversion.message, skip_reason: null });
    } else {
      room.skipped.push({ memoryId: memory.id, reason: conversion.reason, detail: conversion.detail });
      room.expected.push({ ...base, role: null, parts: null, skip_reason: conversion.reason });
    }
  }
  return byRoom;
}

// The first 32 bits of a room id's md5, as a fraction of 2^32: a stable, uniform draw per room.
const SAMPLE_HASH_BYTES = 4;
const SAMPLE_HASH_RANGE = 2 ** 32;

/** --sample: whether a room is in the audit. Deterministic per room id, so re-runs audit the same rooms. */
export function isSampled(roomId: string, fraction: number | undefined): boolean {
  if (fraction === undefined || fraction >= 1) return true;
  const draw = createHash('md5').update(roomId.toLowerCase()).digest().readUIntBE(0, SAMPLE_HASH_BYTES);
  return draw / SAMPLE_HASH_RANGE < fraction;
}
