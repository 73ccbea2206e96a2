import { countReason, type ReasonCounts } from '../../migration/reasons.ts';
import type { RoomMessageCounts, RoomVerdict } from './line.ts';

/** reconcile's room counters (summary.rooms). */
export interface ReconcileRoomCounters {
  total: number;
  clean: number;
  drift: number;
  skipped: number;
  info: number;
}

/** reconcile's message counters (summary.messages): the rooms' counts, and what only the run adds up. */
export interface ReconcileMessageCounters extends RoomMessageCounts {
  /** Memories of the rooms walked. */
  total: number;
  /** Memories expected to be skipped (message-level skips, and every memory of a skipped room). */
  skipped: number;
  /** Messages the app added to migrated chats: never compared. */
  addedInApp: number;
}

/**
 * Adds up room verdicts. `reasons` counts each item at its own level (contract): room codes count
 * rooms, message codes count messages, and the memories of a skipped room count only in
 * messages.skipped.
 */
export class ReconcileTally {
  readonly rooms: ReconcileRoomCounters = { total: 0, clean: 0, drift: 0, skipped: 0, info: 0 };
  readonly messages: ReconcileMessageCounters = {
    total: 0, expected: 0, clean: 0, missing: 0, mismatch: 0, unexpected: 0,
    changedInApp: 0, skipped: 0, targetDeleted: 0, addedInApp: 0, converted: 0,
  };
  readonly reasons: ReasonCounts = {};
  /** Rooms the app renamed or archived: information for the summary, never drift. */
  readonly app = { renamed: 0, archived: 0 };
  /** Rooms confirmed from the ledger without converting, and rooms converted and compared. */
  readonly compared = { byDigest: 0, inFull: 0 };
  driftItems = 0;

  add({ line, counts, roomSkip }: RoomVerdict): void {
    this.rooms.total += 1;
    this.compared[line.confirmedBy === 'digest' ? 'byDigest' : 'inFull'] += 1;
    this.rooms[line.status] += 1;
    const m = this.messages;
    m.total += line.memories.total;
    m.expected += counts.expected;
    m.clean += counts.clean;
    m.missing += counts.missing;
    m.mismatch += counts.mismatch;
    m.unexpected += counts.unexpected;
    m.changedInApp += counts.changedInApp;
    m.targetDeleted += counts.targetDeleted;
    m.converted += counts.converted;
    m.addedInApp += line.app?.addedMessages ?? 0;
    if (line.app?.renamed) this.app.renamed += 1;
    if (line.app?.archived) this.app.archived += 1;
    if (roomSkip !== null) {
      // A skipped room: its code counts the room, its memories count only as skipped messages.
      countReason(this.reasons, roomSkip);
      m.skipped += line.memories.total;
    } else {
      m.skipped += line.skipped.length;
      for (const skipped of line.skipped) countReason(this.reasons, skipped.reason);
    }
    if (line.reasons.includes('artist_missing')) countReason(this.reasons, 'artist_missing');
    for (const item of [...line.drift, ...line.info]) countReason(this.reasons, item.code);
    this.driftItems += line.drift.length;
  }
}
