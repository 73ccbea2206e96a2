import type { ExpectedMessageRow, MessageProblem, RoomComparison } from './compare.ts';
import type { TargetRoomRow } from '../../engine/source-reads.ts';
import { stringifyJson } from '../../migration/json.ts';
import type { ReasonCode } from '../../migration/reasons.ts';
import { valueFreeDetail } from '../../migration/skip-details.ts';
import type { SkippedMemory } from '../../report/room-result.ts';
import type { ConfirmedRoom } from './reads.ts';
import type { RoomExpectation, RoomMessages } from './expected.ts';
import {
  emptyMessageCounts,
  finishLine,
  type ReconcileItem,
  type ReconcileRoomLine,
  type RoomVerdict,
  type RowSide,
} from './line.ts';

export interface JudgeOptions {
  /** --show-values: put (truncated) values next to the digests. */
  showValues: boolean;
  valueChars: number;
}

/** Where a mapped room's target stands, before any field is compared. */
export type TargetState = 'present' | 'deleted' | 'missing';

/**
 * A room counts as migrated before when the ledger says so or its derived session exists (contract).
 * Then an absent chat was deleted in the app (target_deleted), whether or not its session went with it;
 * without either sign, absent rows are drift.
 */
export function targetState(room: RoomExpectation, comparison: RoomComparison): TargetState {
  if (comparison.chat_exists) return 'present';
  const ledgerSaysMigrated = room.row.ledger_status === 'migrated' || room.row.ledger_status === 'target_deleted';
  const migratedBefore = comparison.session_exists || ledgerSaysMigrated || comparison.ledger_session_digest !== null;
  return migratedBefore ? 'deleted' : 'missing';
}

/**
 * The tool wrote the row (ledger), and since then both the target and the source changed: backfill
 * leaves such rows alone (target_changed_in_app), so reconcile reports them and does not fail on them.
 * When the source did not change (ledger = expected), a changed row is damage: drift.
 */
function changedInApp(ledger: string | null, actual: string | null, expected: string | null): boolean {
  return ledger !== null && ledger !== actual && ledger !== expected;
}

function newLine(room: RoomExpectation, status: ReconcileRoomLine['status']): ReconcileRoomLine {
  const total = room.row.memory_count;
  return { roomId: room.row.id, sessionId: room.sessionId, status, reasons: [], memories: { total, migrated: 0, skipped: 0 }, skipped: [], drift: [], info: [] };
}

/** A room expected to be skipped: fine unless a session or chat exists for it (session_unexpected). */
export function judgeSkippedRoom(room: RoomExpectation, presence: TargetRoomRow | undefined): RoomVerdict {
  const line = newLine(room, 'skipped');
  const roomSkip = room.mapping.ok ? null : room.mapping.reason;
  if (roomSkip) line.reasons.push(roomSkip);
  line.memories.skipped = room.row.memory_count;
  if (presence?.session_exists || presence?.chat_exists) {
    line.drift.push({
      code: 'session_unexpected',
      kind: 'session',
      id: room.sessionId,
      actual: { values: { session: presence.session_exists, chat: presence.chat_exists } },
    });
  }
  return { line: finishLine(line), counts: emptyMessageCounts(), roomSkip };
}

/** A room whose chat the app deleted: informational, and its memories are no longer expected. */
export function judgeDeletedRoom(room: RoomExpectation, notes: readonly ReasonCode[]): RoomVerdict {
  const line = newLine(room, 'info');
  line.memories.skipped = room.row.memory_count;
  line.info.push({ code: 'target_deleted', kind: 'chat', id: room.row.id });
  return { line: finishLine(line, notes), counts: { ...emptyMessageCounts(), targetDeleted: room.row.memory_count }, roomSkip: null };
}

/**
 * A mapped room whose chat exists (compared field by field) or whose session and chat are both missing
 * (drift; its messages are then counted missing, not listed one by one, as the memories of a skipped
 * room are not).
 */
export function judgeMappedRoom(
  room: RoomExpectation,
  comparison: RoomComparison,
  messages: RoomMessages,
  problems: readonly MessageProblem[],
  addedMessages: number,
  options: JudgeOptions,
): RoomVerdict {
  const line = newLine(room, 'clean');
  const counts = { ...emptyMessageCounts(), converted: messages.converted };
  const expected = messages.expected.filter((m) => m.skip_reason === null);
  counts.expected = expected.length;
  line.skipped = messages.skipped;
  line.memories.migrated = expected.length;
  line.memories.skipped = messages.skipped.length;
  const notes: ReasonCode[] = room.mapping.ok && room.mapping.mapped.artistMissing ? ['artist_missing'] : [];

  if (!comparison.session_exists) {
    line.drift.push({ code: 'session_missing', kind: 'session', id: room.sessionId, expected: { digest: comparison.expected_session_digest } });
  }
  if (!comparison.chat_exists) {
    line.drift.push({ code: 'chat_missing', kind: 'chat', id: room.row.id, expected: { digest: comparison.expected_chat_digest } });
    counts.missing = expected.length;
    return { line: finishLine(line, notes), counts, roomSkip: null };
  }
  compareRoomRows(line, room, comparison, options);
  const app: NonNullable<ReconcileRoomLine['app']> = {};
  if (comparison.renamed) app.renamed = true;
  if (comparison.archived) app.archived = true;
  if (addedMessages > 0) app.addedMessages = addedMessages;
  if (Object.keys(app).length > 0) line.app = app;

  const byId = new Map(expected.map((m) => [m.id, m]));
  for (const problem of problems) {
    const item = messageItem(problem, byId.get(problem.id), options);
    if (item.code === 'target_changed_in_app') {
      line.info.push(item);
      counts.changedInApp += 1;
    } else {
      line.drift.push(item);
      if (item.code === 'message_missing') counts.missing += 1;
      else if (item.code === 'message_mismatch') counts.mismatch += 1;
      else counts.unexpected += 1;
    }
  }
  counts.clean = counts.expected - counts.missing - counts.mismatch - counts.changedInApp;
  return { line: finishLine(line, notes), counts, roomSkip: null };
}

function compareRoomRows(line: ReconcileRoomLine, room: RoomExpectation, c: RoomComparison, options: JudgeOptions): void {
  const expected = room.mapping.ok ? room.mapping.mapped : null;
  const values = (value: Record<string, unknown>): Pick<RowSide, 'values'> => (options.showValues ? { values: value } : {});
  if (c.account_differs) {
    const inApp = changedInApp(c.ledger_session_digest, c.actual_session_digest, c.expected_session_digest);
    (inApp ? line.info : line.drift).push({
      code: inApp ? 'target_changed_in_app' : 'session_mismatch',
      kind: 'session',
      id: room.sessionId,
      fields: ['account_id'],
      expected: { digest: c.expected_session_digest, ...values({ account_id: expected?.session.accountId }) },
      actual: { digest: c.actual_session_digest, ...values({ account_id: c.actual_account_id }) },
    });
  }
  // Always drift: stamp-artist-id owns this column, and the ledger's digest may predate it.
  if (c.artist_differs) {
    line.drift.push({
      code: 'artist_mismatch',
      kind: 'session',
      id: room.sessionId,
      fields: ['artist_id'],
      expected: { digest: c.expected_session_digest, ...values({ artist_id: expected?.session.artistId }) },
      actual: { digest: c.actual_session_digest, ...values({ artist_id: c.actual_artist_id }) },
    });
  }
  if (c.chat_session_differs) {
    const inApp = changedInApp(c.ledger_chat_digest, c.actual_chat_digest, c.expected_chat_digest);
    (inApp ? line.info : line.drift).push({
      code: inApp ? 'target_changed_in_app' : 'chat_mismatch',
      kind: 'chat',
      id: room.row.id,
      fields: ['session_id'],
      expected: { digest: c.expected_chat_digest, ...values({ session_id: room.sessionId }) },
      actual: { digest: c.actual_chat_digest, ...values({ session_id: c.actual_chat_session_id }) },
    });
  }
}

function messageItem(problem: MessageProblem, expected: ExpectedMessageRow | undefined, options: JudgeOptions): ReconcileItem {
  const { id } = problem;
  if (problem.skip_reason !== null) {
    return { code: 'message_unexpected', kind: 'message', id, skipReason: problem.skip_reason, actual: { digest: problem.actual_digest } };
  }
  if (!problem.present) return { code: 'message_missing', kind: 'message', id, expected: { digest: problem.expected_digest } };
  const inApp = changedInApp(problem.ledger_digest, problem.actual_digest, problem.expected_digest);
  const item: ReconcileItem = {
    code: inApp ? 'target_changed_in_app' : 'message_mismatch',
    kind: 'message',
    id,
    fields: problem.fields,
    expected: { digest: problem.expected_digest },
    actual: { digest: problem.actual_digest },
  };
  if (options.showValues && expected && item.expected && item.actual) {
    const shown = (all: Record<string, unknown>) => Object.fromEntries(problem.fields.map((field) => [field, all[field]]));
    item.expected.values = shown({
      chat_id: expected.chat_id,
      role: expected.role,
      created_at: expected.created_at,
      parts: stringifyJson(expected.parts).slice(0, options.valueChars),
    });
    item.actual.values = shown({
      chat_id: problem.actual_chat_id,
      role: problem.actual_role,
      created_at: problem.actual_created_at,
      parts: problem.actual_parts,
    });
  }
  return item;
}

/**
 * A room confirmed by digest (readConfirmedRooms): clean as backfill recorded it, its skips those of the
 * ledger. Messages the app added to its chat are not counted (that needs a scan by chat id).
 */
export function judgeConfirmedRoom(room: RoomExpectation, ledger: ConfirmedRoom): RoomVerdict {
  const line = newLine(room, 'clean');
  line.skipped = (JSON.parse(ledger.skipped) as SkippedMemory[]).map((s) => ({ ...s, detail: valueFreeDetail(s.detail) }));
  line.memories = { total: ledger.memories_total, migrated: ledger.memories_total - ledger.memories_skipped, skipped: ledger.memories_skipped };
  line.confirmedBy = 'digest';
  if (ledger.archived) line.app = { archived: true };
  const counts = { ...emptyMessageCounts(), expected: line.memories.migrated, clean: line.memories.migrated };
  const notes = (ledger.reasons as ReasonCode[]).filter((code) => code === 'artist_missing');
  return { line: finishLine(line, notes), counts, roomSkip: null };
}
