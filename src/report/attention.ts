import type { ReasonCode } from '../migration/reasons.ts';

// How many rooms each list of summary.md names; the rest are counted, and all are in rooms.jsonl.
export const ATTENTION_CAP = 20;

// Line statuses that need a person: the run could not do the room, or found it wrong.
const NEEDS_A_PERSON = new Set(['failed', 'drift', 'unrepairable', 'conflict']);

/** One room (or chat) of rooms.jsonl as summary.md names it: ids, status, codes and error, never values. */
export interface AttentionEntry {
  id: string;
  status: string;
  reasons: ReasonCode[];
  /** Memories skipped in the room (for the skip list, which names the rooms with the most). */
  skipped: number;
  error?: string;
}

interface ReportLine {
  roomId?: string;
  chatId?: string;
  status?: string;
  reasons?: ReasonCode[];
  skipped?: unknown[];
  error?: string;
}

/**
 * The rooms of a run that a person should look at, gathered as rooms.jsonl is written, in bounded
 * memory: every room that failed or drifted (the first ATTENTION_CAP of them), and the rooms with the
 * most skipped memories (or skipped whole).
 */
export class AttentionList {
  readonly needsPerson: AttentionEntry[] = [];
  needsPersonTotal = 0;
  readonly skipped: AttentionEntry[] = [];
  skippedTotal = 0;

  add(line: object): void {
    const l = line as ReportLine;
    const id = l.roomId ?? l.chatId;
    if (!id || !l.status) return;
    const skipped = Array.isArray(l.skipped) ? l.skipped.length : 0;
    const entry: AttentionEntry = { id, status: l.status, reasons: l.reasons ?? [], skipped, ...(l.error ? { error: l.error } : {}) };
    if (NEEDS_A_PERSON.has(l.status)) {
      this.needsPersonTotal += 1;
      if (this.needsPerson.length < ATTENTION_CAP) this.needsPerson.push(entry);
    } else if (l.status === 'skipped' || skipped > 0) {
      this.skippedTotal += 1;
      this.keepTopSkip(entry);
    }
  }

  private keepTopSkip(entry: AttentionEntry): void {
    if (this.skipped.length < ATTENTION_CAP) {
      this.skipped.push(entry);
      return;
    }
    let least = 0;
    for (let i = 1; i < this.skipped.length; i += 1) if (this.skipped[i]!.skipped < this.skipped[least]!.skipped) least = i;
    if (entry.skipped > this.skipped[least]!.skipped) this.skipped[least] = entry;
  }
}
