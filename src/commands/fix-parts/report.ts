import { countReason, type ReasonCode, type ReasonCounts } from '../../migration/reasons.ts';
import type { MessageCounters } from '../../report/summary.ts';

export type FixClass = 'rebuilt' | 'repaired' | 'upgraded' | 'removed' | 'unchanged' | 'app' | 'unrepairable' | 'concurrent' | 'failed';

export type ClassCounts = Record<FixClass, number>;

export function emptyClassCounts(): ClassCounts {
  return { rebuilt: 0, repaired: 0, upgraded: 0, removed: 0, unchanged: 0, app: 0, unrepairable: 0, concurrent: 0, failed: 0 };
}

// --show-values prints values cut to this many characters: enough to recognise a message.
const SHOWN_VALUE_LENGTH = 300;

/** One message outcome, as the batch reports it. */
export type MessageOutcome =
  | { id: string; class: 'rebuilt' | 'repaired' | 'upgraded'; before: string; after: string; beforeValue?: string; afterValue?: string }
  // The original script's copy of a memory the converter skips (reason: the skip's), deleted.
  | { id: string; class: 'removed'; reason: ReasonCode; detail: string; before: string; beforeValue?: string }
  | { id: string; class: 'unchanged' }
  | { id: string; class: 'app'; reason: 'target_changed_in_app' | null }
  | { id: string; class: 'unrepairable' | 'concurrent'; reason: ReasonCode; detail: string }
  // The database rejected the row's write, alone in its transaction (room_failed, with its error).
  | { id: string; class: 'failed'; reason: 'room_failed'; detail: string };

export interface ChatOutcome {
  chatId: string;
  sessionId: string;
  messages: MessageOutcome[];
}

/** One line of fix-parts' rooms.jsonl: one chat (whose id is its legacy room's, for migrated chats). */
export interface FixPartsChatLine {
  roomId: string;
  chatId: string;
  sessionId: string;
  status: 'fixed' | 'unchanged' | 'unrepairable' | 'failed';
  reasons: ReasonCode[];
  /** total: rows examined; migrated: rows this run rewrote; skipped: rows left invalid or raced. */
  memories: { total: number; migrated: number; skipped: number };
  classes: ClassCounts;
  changed: ChangedMessage[];
  skipped: { memoryId: string; reason: ReasonCode; detail: string }[];
  notes: { messageId: string; reason: ReasonCode }[];
}

/** A row this run changed, in rooms.jsonl (after: null for a row removed). */
export type ChangedMessage =
  | { messageId: string; class: 'rebuilt' | 'repaired' | 'upgraded'; before: string; after: string; beforeValue?: string; afterValue?: string }
  | { messageId: string; class: 'removed'; reason: ReasonCode; detail: string; before: string; beforeValue?: string };

export function shownValue(text: string): string {
  return text.length <= SHOWN_VALUE_LENGTH ? text : `${text.slice(0, SHOWN_VALUE_LENGTH - 1)}…`;
}

/**
 * Run totals, and one line per chat. A chat's messages are spread over the id-ordered batches, so
 * lines are gathered until the end (a few small counters per chat; message ids only where something
 * happened).
 */
export class FixPartsTally {
  readonly classes = emptyClassCounts();
  readonly reasons: ReasonCounts = {};
  converted = 0;
  private readonly chats = new Map<string, FixPartsChatLine>();

  add(outcome: ChatOutcome): void {
    const line = this.lineFor(outcome);
    for (const message of outcome.messages) {
      this.classes[message.class] += 1;
      line.classes[message.class] += 1;
      line.memories.total += 1;
      switch (message.class) {
        case 'rebuilt':
        case 'repaired':
        case 'upgraded':
        case 'removed': {
          const { id, ...rest } = message;
          line.changed.push({ messageId: id, ...rest });
          line.memories.migrated += 1;
          if (message.class === 'upgraded') this.addReason(line, 'message_upgraded');
          if (message.class === 'removed') this.addReason(line, message.reason);
          break;
        }
        case 'app':
          if (message.reason) this.note(line, message.id, message.reason);
          break;
        case 'unrepairable':
        case 'concurrent':
        case 'failed':
          line.skipped.push({ memoryId: message.id, reason: message.reason, detail: message.detail });
          line.memories.skipped += 1;
          this.addReason(line, message.reason);
          break;
        case 'unchanged':
          break;
      }
    }
    line.status =
      line.classes.failed > 0 ? 'failed' : line.classes.unrepairable > 0 ? 'unrepairable' : line.memories.migrated > 0 ? 'fixed' : 'unchanged';
  }

  lines(): IterableIterator<FixPartsChatLine> {
    return this.chats.values();
  }

  chatCounts(): { total: number; fixed: number; unchanged: number; unrepairable: number; failed: number } {
    const counts = { total: 0, fixed: 0, unchanged: 0, unrepairable: 0, failed: 0 };
    for (const line of this.chats.values()) {
      counts.total += 1;
      counts[line.status] += 1;
    }
    return counts;
  }

  messageCounters(): MessageCounters {
    const c = this.classes;
    return {
      total: c.rebuilt + c.repaired + c.upgraded + c.removed + c.unchanged + c.app + c.unrepairable + c.concurrent + c.failed,
      written: c.rebuilt + c.repaired + c.upgraded,
      ...(c.upgraded > 0 ? { upgraded: c.upgraded } : {}),
      ...(c.removed > 0 ? { removed: c.removed } : {}),
      unchanged: c.unchanged + c.app,
      skipped: c.unrepairable + c.concurrent,
      converted: this.converted,
      failed: c.failed,
    };
  }

  private note(line: FixPartsChatLine, messageId: string, reason: ReasonCode): void {
    line.notes.push({ messageId, reason });
    this.addReason(line, reason);
  }

  private addReason(line: FixPartsChatLine, reason: ReasonCode): void {
    countReason(this.reasons, reason);
    if (!line.reasons.includes(reason)) line.reasons.push(reason);
  }

  private lineFor(outcome: ChatOutcome): FixPartsChatLine {
    let line = this.chats.get(outcome.chatId);
    if (!line) {
      line = {
        roomId: outcome.chatId,
        chatId: outcome.chatId,
        sessionId: outcome.sessionId,
        status: 'unchanged',
        reasons: [],
        memories: { total: 0, migrated: 0, skipped: 0 },
        classes: emptyClassCounts(),
        changed: [],
        skipped: [],
        notes: [],
      };
      this.chats.set(outcome.chatId, line);
    }
    return line;
  }
}
