import type pg from 'pg';
import type { DatabaseShape } from '../../engine/preflight.ts';
import { compareMessages, compareRooms, countAddedMessages, type ExpectedRoomRow, type MessageProblem, type RoomComparison } from './compare.ts';
import { readConfirmedRooms, readReconcileRooms, type ConfirmedRoom } from './reads.ts';
import { forEachMemoryPage, MEMORY_PAGE_SIZE, readTargetPresence, type MemoryRow, type RoomRange, type RoomScope } from '../../engine/source-reads.ts';
import { inTransaction } from '../../engine/transactions.ts';
import { stringifyJson } from '../../migration/json.ts';
import type { ReasonCode } from '../../migration/reasons.ts';
import { expectedRoomRow, expectMessages, expectRoom, isSampled, type RoomExpectation, type RoomMessages } from './expected.ts';
import type { RoomVerdict } from './line.ts';
import { judgeConfirmedRoom, judgeDeletedRoom, judgeMappedRoom, judgeSkippedRoom, targetState, type JudgeOptions } from './room.ts';

export interface ReconcileBatchContext {
  pool: pg.Pool;
  shape: DatabaseShape;
  scope: RoomScope;
  sample: number | undefined;
  /** The state schema when it exists (its ledgers refine the verdicts); null: compare without them. */
  ledgerSchema: string | null;
  /** --full: convert and compare every room; else rooms unchanged since backfill are confirmed by digest. */
  full: boolean;
  /** The ledger records row versions (row_xmin): messages are confirmed by them, not hashed. */
  ledgerHasRowXmin: boolean;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  judge: JudgeOptions;
}

export interface BatchOutcome {
  verdicts: RoomVerdict[];
  /** Rooms of the range walked, sampled or not: what the progress bar counts. */
  walked: number;
}

const NO_MESSAGES: RoomMessages = { expected: [], skipped: [], converted: 0 };

/**
 * Audits the rooms of one keyset range in one read-only REPEATABLE READ transaction: source and target
 * are read from one snapshot, so a backfill running meanwhile cannot make a half-written room look
 * like drift. Each comparison is one statement over the whole batch.
 */
export async function reconcileRange(context: ReconcileBatchContext, range: RoomRange): Promise<BatchOutcome> {
  return await inTransaction(
    context.pool,
    { isolation: 'repeatable read', readOnly: true, statementTimeoutMs: context.statementTimeoutMs, lockTimeoutMs: context.lockTimeoutMs },
    async (client) => {
      const rows = await readReconcileRooms(client, range, context.scope, {
        ledgerSchema: context.ledgerSchema,
        roomsHaveArtistId: context.shape.roomsHasArtistId,
      });
      const rooms = rows.filter((row) => isSampled(row.id, context.sample)).map(expectRoom);
      const confirmed = context.ledgerSchema !== null && !context.full && rooms.length > 0
        ? await readConfirmedRooms(client, range, context.scope, {
            ledgerSchema: context.ledgerSchema,
            ledgerHasRowXmin: context.ledgerHasRowXmin,
            roomsHaveArtistId: context.shape.roomsHasArtistId,
            sessionsHaveArtistId: context.shape.sessionsHasArtistId,
          })
        : new Map<string, ConfirmedRoom>();
      const judged = await judgeRooms(client, context, rooms.filter((room) => !confirmed.has(room.row.id)));
      const byRoom = new Map(judged.map((verdict) => [verdict.line.roomId, verdict]));
      const verdicts = rooms.map((room) => {
        const ledger = confirmed.get(room.row.id);
        return ledger ? judgeConfirmedRoom(room, ledger) : (byRoom.get(room.row.id) as RoomVerdict);
      });
      return { verdicts, walked: rows.length };
    },
  );
}

/**
 * What `explain` watches while rooms are judged: the comparisons behind each verdict, as judgeRooms
 * makes them, so that it shows exactly what reconcile decides by. Called in the judging transaction.
 */
export interface JudgeObserver {
  /** The session and chat comparisons of the mapped rooms. */
  rooms?(comparisons: readonly RoomComparison[]): void;
  /** One page of memories, what they convert to (parts still attached), and its problem rows. */
  page?(memories: readonly MemoryRow[], messages: ReadonlyMap<string, RoomMessages>, problems: readonly MessageProblem[]): Promise<void>;
}

/** Judges rooms already read (in the caller's transaction): reconcile's whole verdict, room by room. */
export async function judgeRooms(
  client: pg.ClientBase,
  context: Pick<ReconcileBatchContext, 'shape' | 'ledgerSchema' | 'judge'>,
  rooms: RoomExpectation[],
  observer: JudgeObserver = {},
): Promise<RoomVerdict[]> {
  const mapped: { room: RoomExpectation; expected: ExpectedRoomRow }[] = [];
  const skipped: RoomExpectation[] = [];
  for (const room of rooms) {
    const expected = expectedRoomRow(room);
    if (expected) mapped.push({ room, expected });
    else skipped.push(room);
  }
  const presence = await readTargetPresence(client, skipped.map((room) => ({ roomId: room.row.id, sessionId: room.sessionId })));
  const roomComparisons = await compareRooms(client, mapped.map((m) => m.expected), {
    withArtistId: context.shape.sessionsHasArtistId,
    ledgerSchema: context.ledgerSchema,
  });
  observer.rooms?.(roomComparisons);
  const comparisons = new Map(roomComparisons.map((c) => [c.room_id, c]));

  const verdicts = new Map<string, RoomVerdict>();
  for (const room of skipped) verdicts.set(room.row.id, judgeSkippedRoom(room, presence.get(room.row.id)));
  const live: { room: RoomExpectation; comparison: RoomComparison }[] = [];
  for (const { room } of mapped) {
    const comparison = comparisons.get(room.row.id);
    if (!comparison) throw new Error(`No comparison came back for room ${room.row.id}`);
    if (targetState(room, comparison) === 'deleted') verdicts.set(room.row.id, judgeDeletedRoom(room, notesOf(room)));
    else live.push({ room, comparison });
  }

  // Rooms whose chat is missing are not compared message by message: every message would be missing.
  const withChat = new Set(live.filter((l) => l.comparison.chat_exists).map((l) => l.room.row.id));
  const messages = new Map<string, RoomMessages>();
  const problems: MessageProblem[] = [];
  const expectedIds: string[] = [];
  // Page by page, so a huge room never sits in memory whole; a page's parts are dropped once compared
  // (kept only where they are to be shown).
  await forEachMemoryPage(client, live.map((l) => l.room.row.id), MEMORY_PAGE_SIZE, async (page) => {
    const pageMessages = await expectMessages(page);
    const expectedRows = [...pageMessages].flatMap(([id, room]) => (withChat.has(id) ? room.expected : []));
    const pageProblems = expectedRows.length > 0 ? await compareMessages(client, stringifyJson(expectedRows), {
      ledgerSchema: context.ledgerSchema,
      showValuesChars: context.judge.showValues ? context.judge.valueChars : null,
    }) : [];
    problems.push(...pageProblems);
    await observer.page?.(page, pageMessages, pageProblems);
    for (const row of expectedRows) expectedIds.push(row.id);
    const keepParts = new Set(context.judge.showValues ? pageProblems.map((p) => p.id) : []);
    for (const [roomId, room] of pageMessages) {
      for (const row of room.expected) if (!keepParts.has(row.id)) row.parts = null;
      const merged = messages.get(roomId);
      if (!merged) messages.set(roomId, room);
      else {
        merged.expected.push(...room.expected);
        merged.skipped.push(...room.skipped);
        merged.converted += room.converted;
      }
    }
  });
  const added = await countAddedMessages(client, [...withChat], expectedIds);
  const problemsByRoom = new Map<string, MessageProblem[]>();
  for (const problem of problems) {
    const list = problemsByRoom.get(problem.room_id);
    if (list) list.push(problem);
    else problemsByRoom.set(problem.room_id, [problem]);
  }
  for (const { room, comparison } of live) {
    const id = room.row.id;
    verdicts.set(id, judgeMappedRoom(room, comparison, messages.get(id) ?? NO_MESSAGES, problemsByRoom.get(id) ?? [], added.get(id) ?? 0, context.judge));
  }
  return rooms.map((room) => verdicts.get(room.row.id) as RoomVerdict);
}

function notesOf(room: RoomExpectation): ReasonCode[] {
  return room.mapping.ok && room.mapping.mapped.artistMissing ? ['artist_missing'] : [];
}
