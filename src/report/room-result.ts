import type { ReasonCode } from '../migration/reasons.ts';

export interface SkippedMemory {
  memoryId: string;
  reason: ReasonCode;
  detail: string;
}

/** One line of backfill's rooms.jsonl. */
export interface BackfillRoomResult {
  roomId: string;
  sessionId: string;
  status: 'migrated' | 'unchanged' | 'skipped' | 'failed' | 'target_deleted';
  reasons: ReasonCode[];
  memories: { total: number; migrated: number; skipped: number };
  skipped: SkippedMemory[];
  /** Target rows this run inserted or updated for the room. */
  written?: { sessions: number; chats: number; messages: number };
  /** Target rows left alone, and why: the app changed them, or the original script wrote them. */
  notes?: { kind: 'session' | 'chat' | 'message'; id: string; reason: ReasonCode }[];
  error?: string;
  /** Messages whose content was converted in this run (0 for rooms skipped by fingerprint). */
  converted?: number;
}
