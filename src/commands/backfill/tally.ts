import { countReason, type ReasonCounts } from '../../migration/reasons.ts';
import type { BackfillRoomResult } from '../../report/room-result.ts';
import { addCounters, emptyMessageCounters, emptyRoomCounters, type MessageCounters, type RoomCounters } from '../../report/summary.ts';

export interface BackfillBudgets {
  maxSkippedRatio?: number | undefined;
  maxSkippedRooms?: number | undefined;
  maxFailed?: number | undefined;
}

/** Counters of a set of room results: one batch (stored with it) or one process, or a whole run. */
export interface BackfillStats {
  rooms: RoomCounters;
  messages: MessageCounters & { failed: number };
  reasons: ReasonCounts;
  /** Memories of rooms that were migrated (or unchanged), and how many of them were skipped. */
  memoriesOfMigratedRooms: number;
  skippedOfMigratedRooms: number;
}

export class BackfillTally {
  readonly stats: BackfillStats = {
    rooms: emptyRoomCounters(),
    messages: { ...emptyMessageCounters(), failed: 0 },
    reasons: {},
    memoriesOfMigratedRooms: 0,
    skippedOfMigratedRooms: 0,
  };

  static of(results: readonly BackfillRoomResult[]): BackfillTally {
    const tally = new BackfillTally();
    for (const result of results) tally.add(result);
    return tally;
  }

  add(result: BackfillRoomResult): void {
    const { rooms, messages, reasons } = this.stats;
    rooms.total += 1;
    messages.total += result.memories.total;
    messages.converted += result.converted ?? 0;
    switch (result.status) {
      case 'migrated':
      case 'unchanged':
        rooms[result.status] += 1;
        this.stats.memoriesOfMigratedRooms += result.memories.total;
        this.stats.skippedOfMigratedRooms += result.memories.skipped;
        messages.written += result.written?.messages ?? 0;
        messages.unchanged += result.memories.migrated - (result.written?.messages ?? 0);
        messages.skipped += result.memories.skipped;
        for (const skipped of result.skipped) countReason(reasons, skipped.reason);
        for (const note of result.notes ?? []) countReason(reasons, note.reason);
        messages.upgraded = (messages.upgraded ?? 0) + (result.notes ?? []).filter((note) => note.reason === 'message_upgraded').length;
        if (result.reasons.includes('artist_missing')) countReason(reasons, 'artist_missing');
        break;
      case 'skipped':
      case 'target_deleted':
        if (result.status === 'skipped') rooms.skipped += 1;
        else rooms.targetDeleted = (rooms.targetDeleted ?? 0) + 1;
        messages.skipped += result.memories.total;
        for (const code of result.reasons) countReason(reasons, code);
        break;
      case 'failed':
        rooms.failed += 1;
        messages.failed += result.memories.total;
        countReason(reasons, 'room_failed');
        break;
    }
  }

  /** Adds another tally's counters (a batch's stored stats) to this one. */
  merge(other: BackfillStats): void {
    addCounters(this.stats.rooms, other.rooms);
    addCounters(this.stats.messages, other.messages);
    addCounters(this.stats.reasons, other.reasons);
    this.stats.memoriesOfMigratedRooms += other.memoriesOfMigratedRooms;
    this.stats.skippedOfMigratedRooms += other.skippedOfMigratedRooms;
  }

  budgetProblems(budgets: BackfillBudgets): string[] {
    const { rooms } = this.stats;
    const problems: string[] = [];
    const maxFailed = budgets.maxFailed ?? 0;
    if (rooms.failed > maxFailed) {
      problems.push(`${rooms.failed} room(s) failed (allowed: ${maxFailed}); see rooms.jsonl lines with "status":"failed".`);
    }
    if (budgets.maxSkippedRooms !== undefined && rooms.skipped > budgets.maxSkippedRooms) {
      problems.push(`${rooms.skipped} rooms were skipped, over --max-skipped-rooms ${budgets.maxSkippedRooms}.`);
    }
    if (budgets.maxSkippedRatio !== undefined && this.stats.memoriesOfMigratedRooms > 0) {
      const ratio = this.stats.skippedOfMigratedRooms / this.stats.memoriesOfMigratedRooms;
      if (ratio > budgets.maxSkippedRatio) {
        problems.push(
          `${(ratio * 100).toFixed(2)}% of the memories of migrated rooms were skipped, over --max-skipped-ratio ${budgets.maxSkippedRatio}.`,
        );
      }
    }
    return problems;
  }
}
