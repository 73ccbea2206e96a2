import type pg from 'pg';
import type { Logger } from '../../engine/logger.ts';
import type { BeforeCommit } from '../../engine/batch-runner.ts';
import type { DatabaseShape } from '../../engine/preflight.ts';
import { quoteIdent } from '../../engine/sql-files.ts';
import { stateDdlIfNeeded } from '../../engine/state-schema.ts';
import { partsBackupDdlIfNeeded } from '../../engine/parts-backup.ts';
import {
  forEachMemoryPage,
  MEMORY_PAGE_SIZE,
  readRoomsInRange,
  readTargetPresence,
  type MemoryRow,
  type RoomRange,
  type RoomScope,
} from '../../engine/source-reads.ts';
import { CHATS_TABLE, MESSAGES_TABLE, sessionsTable } from './target-tables.ts';
import { inTransaction } from '../../engine/transactions.ts';
import { insertFresh, trackedWrite, type TrackedOutcome, type TrackedTable } from './tracked-write.ts';
import { CONVERTER_VERSION } from '../../migration/convert.ts';
import { stringifyJson } from '../../migration/json.ts';
import type { MappedRoom } from '../../migration/map-room.ts';
import type { BackfillRoomResult } from '../../report/room-result.ts';
import { classifyRoom, finishRoomResults, tallyOutcomes, unchangedResult, type RoomWork } from './rooms.ts';
import { isUnchangedSinceLedger } from '../../engine/source-reads.ts';
import { convertMemoryRow } from '../../engine/memory-conversion.ts';

export interface BackfillBatchContext {
  pool: pg.Pool;
  stateSchema: string;
  runId: string;
  dryRun: boolean;
  shape: DatabaseShape;
  scope: RoomScope;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  logger: Logger;
}

interface MessageRow {
  id: string;
  room_id: string;
  chat_id: string;
  role: string;
  parts: unknown;
  created_at: string;
}

/**
 * Migrates the rooms of one keyset range in one REPEATABLE READ transaction: the fingerprints, the rows
 * migrated and the writes all see one snapshot, so a memory inserted meanwhile is never recorded as seen
 * without being migrated. Throws if the database rejects the batch; the caller isolates the room.
 */
export async function backfillRange(
  context: BackfillBatchContext,
  range: RoomRange,
  onlyRooms?: readonly string[],
  beforeCommit?: BeforeCommit<BackfillRoomResult[]>,
): Promise<BackfillRoomResult[]> {
  const scope = onlyRooms ? { ...context.scope, rooms: onlyRooms } : context.scope;
  return await inTransaction(
    context.pool,
    {
      isolation: 'repeatable read',
      statementTimeoutMs: context.statementTimeoutMs,
      lockTimeoutMs: context.lockTimeoutMs,
      rollback: context.dryRun,
      asyncCommit: true,
    },
    async (client) => {
      if (beforeCommit) await beforeCommit.lock(client);
      if (context.dryRun) {
        await stateDdlIfNeeded(client, context.stateSchema);
        await partsBackupDdlIfNeeded(client, context.stateSchema);
      }
      const rows = await readRoomsInRange(client, range, scope, {
        stateSchema: context.stateSchema,
        roomsHaveArtistId: context.shape.roomsHasArtistId,
      });
      const results: BackfillRoomResult[] = [];
      const work: RoomWork[] = [];
      for (const row of rows) {
        if (isUnchangedSinceLedger(row)) results.push(unchangedResult(row));
        else work.push(classifyRoom(row));
      }
      if (work.length > 0) await migrateRooms(client, context, work);
      const all = [...results, ...work.map((w) => w.result)];
      if (beforeCommit) await beforeCommit(client, all);
      return all;
    },
  );
}

async function migrateRooms(client: pg.ClientBase, context: BackfillBatchContext, work: RoomWork[]): Promise<void> {
  const mappable = work.filter((w) => w.mapped !== null);
  const presence = await readTargetPresence(client, mappable.map((w) => ({ roomId: w.row.id, sessionId: w.sessionId })));
  const migrating: RoomWork[] = [];
  for (const room of mappable) {
    const target = presence.get(room.row.id);
    const migratedBefore = room.row.ledger_status === 'migrated' || room.row.ledger_status === 'target_deleted' || target?.session_exists === true;
    if (migratedBefore && target?.chat_exists !== true) {
      // The app deleted the chat (or its session): never re-created.
      room.ledgerStatus = 'target_deleted';
      room.result.status = 'target_deleted';
      room.result.reasons = ['target_deleted', ...room.result.reasons];
      room.result.memories = { total: room.row.memory_count, migrated: 0, skipped: room.row.memory_count };
      delete room.result.written;
    } else {
      migrating.push(room);
    }
  }

  // Rooms nothing was written for yet take the plain insert; the rest are classified row by row.
  const fresh = new Set(
    migrating.filter((w) => w.row.ledger_status === null && presence.get(w.row.id)?.session_exists === false && presence.get(w.row.id)?.chat_exists === false).map((w) => w.row.id),
  );
  await writeRoomRows(client, context, migrating, fresh);
  const byRoom = new Map(migrating.map((w) => [w.row.id, w]));
  await forEachMemoryPage(client, migrating.map((w) => w.row.id), MEMORY_PAGE_SIZE, async (memories) => {
    const messages = await convertMemories(memories, byRoom);
    if (messages.length === 0) return;
    tallyOutcomes(byRoom, 'messages', await writeRows(client, context, MESSAGES_TABLE, messages, fresh));
  });
  finishRoomResults(migrating);
  await writeRoomLedger(client, context, work);
}

async function convertMemories(memories: MemoryRow[], rooms: Map<string, RoomWork>): Promise<MessageRow[]> {
  const messages: MessageRow[] = [];
  for (const memory of memories) {
    const room = rooms.get(memory.room_id);
    if (!room) continue;
    const conversion = await convertMemoryRow(memory);
    room.result.converted = (room.result.converted ?? 0) + 1;
    if (!conversion.ok) {
      room.result.skipped.push({ memoryId: memory.id, reason: conversion.reason, detail: conversion.detail });
      continue;
    }
    messages.push({
      id: memory.id,
      room_id: memory.room_id,
      chat_id: memory.room_id,
      role: conversion.message.role,
      parts: conversion.message,
      // memories.updated_at to the microsecond, not the Date the converter saw.
      created_at: memory.updated_at,
    });
  }
  return messages;
}

function runOf(context: BackfillBatchContext): { runId: string; converterVersion: number } {
  return { runId: context.runId, converterVersion: CONVERTER_VERSION };
}

/** insertFresh for the rows of fresh rooms, then trackedWrite for the others and for any that met a conflict. */
async function writeRows(
  client: pg.ClientBase,
  context: BackfillBatchContext,
  spec: TrackedTable,
  rows: readonly { id: string; room_id: string }[],
  fresh: ReadonlySet<string>,
): Promise<TrackedOutcome[]> {
  const freshRows = rows.filter((row) => fresh.has(row.room_id));
  const outcomes = freshRows.length > 0 ? await insertFresh(client, spec, context.stateSchema, stringifyJson(freshRows), runOf(context)) : [];
  const inserted = new Set(outcomes.map((outcome) => outcome.id));
  const rest = rows.filter((row) => !inserted.has(row.id));
  if (rest.length > 0) outcomes.push(...(await trackedWrite(client, spec, context.stateSchema, stringifyJson(rest), runOf(context))));
  return outcomes;
}

/** The rooms' sessions and chats, before their messages (which reference the chats). */
async function writeRoomRows(client: pg.ClientBase, context: BackfillBatchContext, rooms: RoomWork[], fresh: ReadonlySet<string>): Promise<void> {
  if (rooms.length === 0) return;
  const sessions = rooms.map((w) => {
    const s = (w.mapped as MappedRoom).session;
    return { id: s.id, room_id: w.row.id, account_id: s.accountId, title: s.title, artist_id: s.artistId, created_at: w.row.updated_at };
  });
  const chats = rooms.map((w) => {
    const c = (w.mapped as MappedRoom).chat;
    return { id: c.id, room_id: w.row.id, session_id: c.sessionId, title: c.title, created_at: w.row.updated_at };
  });
  const byRoom = new Map(rooms.map((w) => [w.row.id, w]));
  tallyOutcomes(byRoom, 'sessions', await writeRows(client, context, sessionsTable(context.shape.sessionsHasArtistId), sessions, fresh));
  tallyOutcomes(byRoom, 'chats', await writeRows(client, context, CHATS_TABLE, chats, fresh));
}

async function writeRoomLedger(client: pg.ClientBase, context: BackfillBatchContext, work: RoomWork[]): Promise<void> {
  const entries = work.map((w) => ({
    room_id: w.row.id,
    session_id: w.sessionId,
    status: w.ledgerStatus,
    fingerprint: w.row.fingerprint,
    reasons: w.result.reasons,
    memories_total: w.result.memories.total,
    memories_skipped: w.result.memories.skipped,
    skipped: w.result.skipped,
  }));
  const table = `${quoteIdent(context.stateSchema)}.room_ledger`;
  await client.query(
    `insert into ${table} (room_id, session_id, status, fingerprint, converter_version, reasons,
                           memories_total, memories_skipped, skipped, run_id, updated_at)
     select t.room_id, t.session_id, t.status, t.fingerprint, $2, t.reasons, t.memories_total,
            t.memories_skipped, t.skipped, $1::uuid, now()
       from jsonb_to_recordset($3::jsonb) as t(room_id uuid, session_id text, status text, fingerprint text,
            reasons text[], memories_total int, memories_skipped int, skipped jsonb)
     on conflict (room_id) do update
       set session_id = excluded.session_id, status = excluded.status, fingerprint = excluded.fingerprint,
           converter_version = excluded.converter_version, reasons = excluded.reasons,
           memories_total = excluded.memories_total, memories_skipped = excluded.memories_skipped,
           skipped = excluded.skipped, run_id = excluded.run_id, updated_at = now()`,
    [context.runId, CONVERTER_VERSION, JSON.stringify(entries)],
  );
}
