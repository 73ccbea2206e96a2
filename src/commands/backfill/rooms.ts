import type { SourceRoomRow } from '../../engine/source-reads.ts';
import type { TrackedOutcome } from './tracked-write.ts';
import { mapRoomRow, type MappedRoom } from '../../migration/map-room.ts';
import type { ReasonCode } from '../../migration/reasons.ts';
import { sessionIdForRoom } from '../../migration/session-id.ts';
import type { BackfillRoomResult, SkippedMemory } from '../../report/room-result.ts';
import { valueFreeDetail } from '../../migration/skip-details.ts';

/** Statuses the room ledger records; a re-run skips a room whose fingerprint is unchanged. */
export type LedgerStatus = 'migrated' | 'skipped' | 'target_deleted';

/** One room of a backfill batch: what it maps to, and its result as the batch goes. */
export interface RoomWork {
  row: SourceRoomRow;
  sessionId: string;
  mapped: MappedRoom | null;
  result: BackfillRoomResult;
  ledgerStatus: LedgerStatus;
}

export function unchangedResult(row: SourceRoomRow): BackfillRoomResult {
  // Details an earlier version stored quoted what the message held: reported again, they are made value-free.
  const skipped = row.ledger_skipped ? (JSON.parse(row.ledger_skipped) as SkippedMemory[]).map((s) => ({ ...s, detail: valueFreeDetail(s.detail) })) : [];
  const status = row.ledger_status === 'migrated' ? 'unchanged' : (row.ledger_status as BackfillRoomResult['status']);
  const total = row.ledger_memories_total ?? row.memory_count;
  const skippedCount = row.ledger_memories_skipped ?? 0;
  return {
    roomId: row.id,
    sessionId: sessionIdForRoom(row.id),
    status,
    reasons: (row.ledger_reasons ?? []) as ReasonCode[],
    memories: { total, migrated: total - skippedCount, skipped: skippedCount },
    skipped,
    converted: 0,
  };
}

export function classifyRoom(row: SourceRoomRow): RoomWork {
  const sessionId = sessionIdForRoom(row.id);
  const mapping = mapRoomRow(row);
  const base = { roomId: row.id, sessionId, skipped: [], converted: 0 };
  if (!mapping.ok) {
    return {
      row,
      sessionId,
      mapped: null,
      ledgerStatus: 'skipped',
      result: {
        ...base,
        status: 'skipped',
        reasons: [mapping.reason],
        memories: { total: row.memory_count, migrated: 0, skipped: row.memory_count },
      },
    };
  }
  return {
    row,
    sessionId,
    mapped: mapping.mapped,
    ledgerStatus: 'migrated',
    result: {
      ...base,
      status: 'unchanged',
      reasons: mapping.mapped.artistMissing ? ['artist_missing'] : [],
      memories: { total: row.memory_count, migrated: 0, skipped: 0 },
      written: { sessions: 0, chats: 0, messages: 0 },
    },
  };
}

export function tallyOutcomes(byRoom: Map<string, RoomWork>, kind: 'sessions' | 'chats' | 'messages', outcomes: readonly TrackedOutcome[]): void {
  for (const outcome of outcomes) {
    const room = byRoom.get(outcome.roomId);
    if (!room?.result.written) continue;
    if (outcome.inserted || outcome.updated) room.result.written[kind] += 1;
    const note = noteFor(kind, outcome);
    if (note) (room.result.notes ??= []).push({ kind: NOTE_KIND[kind], id: outcome.id, reason: note });
  }
}

export function finishRoomResults(rooms: readonly RoomWork[]): void {
  for (const room of rooms) {
    const { result } = room;
    const written = result.written ?? { sessions: 0, chats: 0, messages: 0 };
    result.status = written.sessions + written.chats + written.messages > 0 ? 'migrated' : 'unchanged';
    const skippedCount = result.skipped.length;
    result.memories = { total: room.row.memory_count, migrated: room.row.memory_count - skippedCount, skipped: skippedCount };
    for (const code of [...result.skipped.map((s) => s.reason), ...(result.notes ?? []).map((n) => n.reason)]) {
      if (!result.reasons.includes(code)) result.reasons.push(code);
    }
  }
}

const NOTE_KIND = { sessions: 'session', chats: 'chat', messages: 'message' } as const;

function noteFor(kind: 'sessions' | 'chats' | 'messages', outcome: TrackedOutcome): ReasonCode | null {
  if (outcome.action === 'app_changed') return 'target_changed_in_app';
  if (outcome.action === 'upgrade' && outcome.updated) return 'message_upgraded';
  if (outcome.action === 'foreign' && kind === 'messages') return 'message_needs_fix_parts';
  if (outcome.action === 'insert' && !outcome.inserted) return 'concurrent_change';
  return null;
}
