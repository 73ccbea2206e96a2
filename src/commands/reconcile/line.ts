import type { ReasonCode, RoomSkipReason } from '../../migration/reasons.ts';
import type { SkippedMemory } from '../../report/room-result.ts';

/** One side of a compared row: the server-side digest, and the values only with --show-values. */
export interface RowSide {
  digest?: string | null;
  values?: Record<string, unknown>;
}

/**
 * One thing that differs. Its identity (for --baseline) is (roomId, code, id): `id` is the session id,
 * the chat id (= room id) or the message id (= memory id), per `kind`.
 */
export interface ReconcileItem {
  code: ReasonCode;
  kind: 'session' | 'chat' | 'message';
  id: string;
  /** The compared fields that differ. */
  fields?: string[];
  expected?: RowSide;
  actual?: RowSide;
  /** message_unexpected: why the memory is expected to be skipped. */
  skipReason?: string;
  /** With --baseline: whether the earlier run already reported this item. */
  known?: boolean;
}

/** Changes the app makes in normal use: reported, never compared. */
export interface AppChanges {
  renamed?: true;
  archived?: true;
  /** Messages in the chat whose ids are no memory of the room: written by the app since. */
  addedMessages?: number;
}

/** One line of reconcile's rooms.jsonl. */
export interface ReconcileRoomLine {
  roomId: string;
  sessionId: string;
  status: 'clean' | 'drift' | 'skipped' | 'info';
  reasons: ReasonCode[];
  /** migrated: memories the source maps to a message; skipped: expected to be skipped. */
  memories: { total: number; migrated: number; skipped: number };
  skipped: SkippedMemory[];
  drift: ReconcileItem[];
  info: ReconcileItem[];
  app?: AppChanges;
  /** With --baseline: items the earlier run reported for this room that are gone now. */
  fixed?: { code: string; id: string }[];
  /** 'digest': confirmed from the ledger without converting (the default for rooms unchanged since backfill). */
  confirmedBy?: 'digest';
}

/** Per-room message tallies, for the summary. */
export interface RoomMessageCounts {
  expected: number;
  clean: number;
  missing: number;
  mismatch: number;
  unexpected: number;
  changedInApp: number;
  converted: number;
  /** Memories of a room whose chat the app deleted: not expected in the target any more. */
  targetDeleted: number;
}

export interface RoomVerdict {
  line: ReconcileRoomLine;
  counts: RoomMessageCounts;
  /** Why the whole room is expected to be skipped; null for a mapped room. */
  roomSkip: RoomSkipReason | null;
}

export function emptyMessageCounts(): RoomMessageCounts {
  return { expected: 0, clean: 0, missing: 0, mismatch: 0, unexpected: 0, changedInApp: 0, converted: 0, targetDeleted: 0 };
}

/** The line's reasons: each code once, skips first, then drift, then information. */
export function finishLine(line: ReconcileRoomLine, notes: readonly ReasonCode[] = []): ReconcileRoomLine {
  const codes = [...line.skipped.map((s) => s.reason), ...notes, ...line.drift.map((d) => d.code), ...line.info.map((i) => i.code)];
  line.reasons = [...new Set([...line.reasons, ...codes])];
  if (line.drift.length > 0) line.status = 'drift';
  else if (line.status !== 'skipped') line.status = line.info.length > 0 ? 'info' : 'clean';
  return line;
}
