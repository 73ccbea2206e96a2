import type pg from 'pg';
import type { CommandContext } from '../../engine/context.ts';
import { PreconditionError } from '../../engine/errors.ts';
import { assertNoConflictingLease } from '../../engine/leases.ts';
import { inspectDatabase, type DatabaseShape } from '../../engine/preflight.ts';
import {
  forEachMemoryPage,
  isUnchangedSinceLedger,
  MEMORY_PAGE_SIZE,
  readRoomsInRange,
  timestampTextSql,
  type MemoryRow,
  type RoomRange,
} from '../../engine/source-reads.ts';
import { stateSchemaExists } from '../../engine/state-schema.ts';
import { inTransaction } from '../../engine/transactions.ts';
import { isJsonObject, stringifyJson } from '../../migration/json.ts';
import type { ReasonCode, ReasonCounts, RoomSkipReason } from '../../migration/reasons.ts';
import { summaryHead, type ExitCode } from '../../report/summary.ts';
import { judgeRooms, type JudgeObserver } from './batch.ts';
import type { ExpectedMessageRow, MessageProblem, RoomComparison } from './compare.ts';
import { expectMessages, expectRoom, type RoomExpectation, type RoomMessages } from './expected.ts';
import { parseContent } from '../../engine/memory-conversion.ts';
import type { AppChanges, ReconcileItem, RoomVerdict } from './line.ts';
import { readReconcileRooms } from './reads.ts';
import { SHOWN_VALUE_CHARS } from './reconcile.ts';
import { ReconcileTally } from './tally.ts';
import { partTypeName, roleName } from '../../migration/skip-details.ts';

/**
 * `explain --room <id>`: reconcile for one room, in depth. The room is judged by reconcile's own code
 * (judgeRooms: the same reads, conversion and comparisons, in one REPEATABLE READ read-only transaction),
 * and explain adds what a person needs to act: each memory's legacy shape beside what the converter makes
 * of it and what the target holds, a part-by-part diff of a mismatch, and the command that would fix it.
 * Without --show-values nothing of a message's content is shown: ids, roles, part types, counts, digests
 * and reason codes only.
 */

export type MessageVerdict = 'clean' | 'missing' | 'mismatch' | 'changed_in_app' | 'skipped' | 'unexpected' | 'app';
const VERDICTS: readonly MessageVerdict[] = ['clean', 'missing', 'mismatch', 'changed_in_app', 'skipped', 'unexpected', 'app'];

/** Where the room's target stands: present, never written (missing), deleted in the app, or not expected at all. */
export type TargetState = 'present' | 'missing' | 'deleted' | 'skipped';

/** What would fix a drift item: the commands in order (none: nothing in the tool fixes it), and why. */
export interface Fix {
  commands: string[];
  note: string;
}

/** The legacy memory's shape: names, types and counts, never values (`value` only with --show-values). */
export interface LegacyShape {
  /** The JSON type of memories.content. */
  json: string;
  role?: string | null;
  /** The part types, or the JSON type of a `parts` that is not an array ('absent' when there is none). */
  parts?: string[] | string;
  /** Length of a `content` string. */
  contentChars?: number;
  toolInvocations?: number;
  attachments?: number;
  /** Other top-level keys, by name. */
  keys?: string[];
  value?: string;
}

/** What the converter makes of the memory. */
export type ConvertedShape =
  | { ok: true; role: string; parts: (string | null)[]; metadata?: string[]; value?: string }
  | { ok: false; reason: ReasonCode; detail: string };

/** The target row: its form ('envelope', 'bare array', …), role and part types. */
export interface TargetShape {
  present: boolean;
  shape?: string;
  role?: string | null;
  parts?: (string | null)[];
  value?: string;
}

/** One part that differs, by index: in both (differs), only in the converter's (missing), only in the target (extra). */
export interface PartChange {
  index: number;
  change: 'differs' | 'missing' | 'extra';
  expected: string | null;
  actual: string | null;
  values?: { expected?: string; actual?: string };
}

/** A mismatch, readable: the fields reconcile found different, and which parts. */
export interface MessageDiff {
  fields: string[];
  /** role, created_at and chat_id as each side holds them (not content: shown without --show-values). */
  values?: Record<string, { expected: unknown; actual: unknown }>;
  /** The target's form, when it is not the converter's envelope {id, role, parts, metadata?}. */
  shape?: { expected: string; actual: string };
  /** Envelope keys besides parts whose values differ (id, role, metadata). */
  envelope?: string[];
  parts: PartChange[];
  digest: { expected: string | null; actual: string | null };
}

export interface ExplainedMessage {
  /** The memory (null for a message the app wrote); a migrated message's id is its memory's id. */
  memoryId: string | null;
  messageId: string;
  /** The memory's updated_at (the message's created_at), or the app message's created_at. */
  createdAt: string | null;
  role: string | null;
  legacy?: LegacyShape;
  converted?: ConvertedShape;
  target: TargetShape;
  verdict: MessageVerdict;
  reasons: ReasonCode[];
  /** A skip's detail (the converter's or validator's words, never the content). */
  detail?: string;
  /** Why a verdict that needs no fix is what it is. */
  note?: string;
  /** For drift (missing, mismatch, unexpected): what would fix it. */
  fix: Fix | null;
  diff?: MessageDiff;
}

/** A room-level item of reconcile's verdict (session, chat, artist), with its fix when it is drift. */
export interface RoomItem {
  level: 'drift' | 'info';
  code: ReasonCode;
  kind: ReconcileItem['kind'];
  id: string;
  fields?: string[];
  fix?: Fix;
}

export interface ExplainedRoom {
  id: string;
  accountId: string | null;
  accountExists: boolean;
  artistId: string | null;
  artistExists: boolean;
  /** Whether the room has a topic (the chat's title); the topic itself only with --show-values. */
  topic: boolean;
  topicValue?: string | null;
  memories: number;
  sessionId: string;
  chatId: string;
  /** reconcile's status for the room. */
  status: RoomVerdict['line']['status'];
  target: TargetState;
  skipReason: RoomSkipReason | null;
  reasons: ReasonCode[];
  items: RoomItem[];
  app?: AppChanges;
  /** The room's entry in backfill's ledger, and whether a backfill re-run would look at the room at all. */
  backfill: { ledger: string | null; walksRoom: boolean };
}

export type VerdictCounts = Record<MessageVerdict, number>;

/** explain's summary: the common head, the room, and one entry per memory (then the app's messages). */
export type ExplainSummary = ReturnType<typeof summaryHead> & {
  reasons: ReasonCounts;
  reportDir: null;
  ledger: boolean;
  room: ExplainedRoom;
  verdicts: VerdictCounts;
  /** One entry per memory, then one per app message (the summary's `messages` stays the contract's counters' name). */
  entries: ExplainedMessage[];
  problems?: string[];
};

export interface ExplainOptions {
  roomId: string;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

const npx = (args: string) => `npx recoup-migrate ${args}`;

export async function explain(options: ExplainOptions, context: CommandContext): Promise<ExplainSummary> {
  const { pool, stateSchema } = context;
  // As reconcile: the preflight, the ledger when there is one, and no teardown running.
  const shape = await inspectDatabase(pool, { target: true, state: { schema: stateSchema, write: false } });
  const ledgerSchema = (await stateSchemaExists(pool, stateSchema)) ? stateSchema : null;
  if (ledgerSchema) await assertNoConflictingLease(pool, ledgerSchema, { command: 'reconcile', runId: context.runId });
  const judge = { showValues: context.showValues, valueChars: SHOWN_VALUE_CHARS };
  const roomId = options.roomId.toLowerCase();

  const seen = await inTransaction(
    pool,
    { isolation: 'repeatable read', readOnly: true, statementTimeoutMs: options.statementTimeoutMs, lockTimeoutMs: options.lockTimeoutMs },
    async (client) => {
      const range = onlyRoom(roomId);
      const [row] = await readReconcileRooms(client, range, { rooms: [roomId] }, { ledgerSchema, roomsHaveArtistId: shape.roomsHasArtistId });
      if (!row) throw new PreconditionError(`No room ${roomId} in public.rooms: nothing to explain. Check the id (a room's id is also its chat's id).`);
      const room = expectRoom(row);
      const watcher = new Watcher(client, judge.showValues ? judge.valueChars : null);
      const [verdict] = (await judgeRooms(client, { shape, ledgerSchema, judge }, [room], watcher)) as [RoomVerdict];
      // reconcile reads no memory of a skipped room or of a chat the app deleted; explain shows them anyway.
      if (watcher.memories.length === 0 && row.memory_count > 0) {
        await forEachMemoryPage(client, [row.id], MEMORY_PAGE_SIZE, async (page) => watcher.page(page, await expectMessages(page), []));
      }
      const walksRoom = ledgerSchema ? await backfillWalksRoom(client, range, roomId, ledgerSchema, shape) : true;
      const target = targetOf(verdict);
      const app = target === 'present' ? await readAppMessages(client, row.id, watcher.memories.map((m) => m.memory.id), watcher.valueChars) : [];
      return { room, verdict, watcher, walksRoom, app, target };
    },
  );

  const { room, verdict, watcher, walksRoom, app, target } = seen;
  const fixes = new Fixes(room, ledgerSchema, walksRoom);
  const judged = new RoomJudgement(verdict, target);
  const messages = [...watcher.memories.map((m) => explainMemory(m, judged, fixes)), ...app];
  const verdicts = Object.fromEntries(VERDICTS.map((v) => [v, 0])) as VerdictCounts;
  for (const message of messages) verdicts[message.verdict] += 1;
  // The room's counts as reconcile would add them up: the same codes, the same levels.
  const tally = new ReconcileTally();
  tally.add(verdict);
  const exitCode: ExitCode = verdict.line.drift.length > 0 ? 1 : 0;
  const line = verdict.line;
  return {
    ...summaryHead('explain', { runId: context.runId, startedAt: context.startedAt }, { dryRun: false, complete: true, exitCode }),
    reasons: tally.reasons,
    reportDir: null,
    ledger: ledgerSchema !== null,
    room: {
      id: room.row.id,
      accountId: room.row.account_id,
      accountExists: room.row.account_exists,
      artistId: room.row.artist_id,
      artistExists: room.row.artist_exists,
      topic: room.row.topic !== null && room.row.topic.trim() !== '',
      ...(context.showValues ? { topicValue: room.row.topic?.slice(0, SHOWN_VALUE_CHARS) ?? null } : {}),
      memories: room.row.memory_count,
      sessionId: room.sessionId,
      chatId: room.row.id,
      status: line.status,
      target,
      skipReason: verdict.roomSkip,
      reasons: line.reasons,
      items: [
        ...line.drift.filter((item) => item.kind !== 'message').map((item) => roomItem('drift', item, fixes.forRoomItem(item, watcher.comparison))),
        ...line.info.filter((item) => item.kind !== 'message').map((item) => roomItem('info', item, null)),
      ],
      ...(line.app ? { app: line.app } : {}),
      backfill: { ledger: room.row.ledger_status, walksRoom },
    },
    verdicts,
    entries: context.showValues ? messages : messages.map(withoutValues),
    ...(exitCode === 1 ? { problems: [describeDrift(line.drift, room.row.id)] } : {}),
  };
}

/**
 * An entry as shown without --show-values, in one place for every field that names a part type or a role:
 * the AI SDKs' own names stay, a tool's name, a data part's name or a made-up role do not (they are content).
 */
function withoutValues(entry: ExplainedMessage): ExplainedMessage {
  const types = (parts: readonly (string | null)[]) => parts.map((type) => (type === null ? null : partTypeName(type)));
  const role = (value: string | null | undefined) => (typeof value === 'string' ? roleName(value) : value);
  const shown: ExplainedMessage = { ...entry, role: role(entry.role) ?? null, target: { ...entry.target } };
  if (entry.target.parts) shown.target.parts = types(entry.target.parts);
  if (entry.target.role !== undefined) shown.target.role = role(entry.target.role) ?? null;
  if (entry.legacy) {
    shown.legacy = { ...entry.legacy, role: role(entry.legacy.role) };
    if (Array.isArray(entry.legacy.parts)) shown.legacy.parts = entry.legacy.parts.map((type) => (type.startsWith('(') ? type : partTypeName(type)));
  }
  if (entry.converted?.ok) shown.converted = { ...entry.converted, role: roleName(entry.converted.role), parts: types(entry.converted.parts) };
  if (entry.diff) {
    const values = entry.diff.values?.role
      ? { ...entry.diff.values, role: { expected: role(entry.diff.values.role.expected as string | null), actual: role(entry.diff.values.role.actual as string | null) } }
      : entry.diff.values;
    shown.diff = {
      ...entry.diff,
      ...(values ? { values } : {}),
      parts: entry.diff.parts.map((change) => ({ ...change, expected: change.expected && partTypeName(change.expected), actual: change.actual && partTypeName(change.actual) })),
    };
  }
  return shown;
}

/** The keyset range that holds exactly this room: (the uuid just below it, it]. */
function onlyRoom(roomId: string): RoomRange {
  const value = BigInt(`0x${roomId.replace(/-/g, '')}`);
  if (value === 0n) return { after: null, last: roomId };
  const hex = (value - 1n).toString(16).padStart(32, '0');
  return { after: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`, last: roomId };
}

function targetOf(verdict: RoomVerdict): TargetState {
  if (verdict.roomSkip !== null) return 'skipped';
  if (verdict.line.info.some((item) => item.code === 'target_deleted')) return 'deleted';
  if (verdict.line.drift.some((item) => item.code === 'chat_missing')) return 'missing';
  return 'present';
}

/**
 * Whether `backfill --room` would look at the room at all: it skips a room whose legacy fingerprint and
 * converter version are those its ledger recorded (isUnchangedSinceLedger), however its target
 * rows look now.
 */
async function backfillWalksRoom(client: pg.ClientBase, range: RoomRange, roomId: string, ledgerSchema: string, shape: DatabaseShape): Promise<boolean> {
  const [row] = await readRoomsInRange(client, range, { rooms: [roomId] }, { stateSchema: ledgerSchema, roomsHaveArtistId: shape.roomsHasArtistId });
  return !(row && isUnchangedSinceLedger(row));
}

function describeDrift(drift: readonly ReconcileItem[], roomId: string): string {
  const codes = [...new Set(drift.map((item) => item.code))].join(', ');
  return `${drift.length} drift item(s) in room ${roomId} (${codes}); each memory's verdict and fix are listed above (or under "entries" in --json).`;
}

function roomItem(level: RoomItem['level'], item: ReconcileItem, fix: Fix | null): RoomItem {
  return { level, code: item.code, kind: item.kind, id: item.id, ...(item.fields ? { fields: item.fields } : {}), ...(fix ? { fix } : {}) };
}

// --- what the watcher sees while reconcile judges the room -------------------------------------------

/** The target row of a memory, with the parts of both sides as the server sees them (digests per part). */
interface TargetRow {
  id: string;
  present: boolean;
  role: string | null;
  shape: string | null;
  expected_parts: PartRow[];
  actual_parts: PartRow[] | null;
  envelope: string[];
  expected_value: string | null;
  actual_value: string | null;
}
interface PartRow {
  type: string | null;
  digest: string;
  value?: string;
}

interface WatchedMemory {
  memory: { id: string; updatedAt: string };
  legacy: LegacyShape;
  converted: ConvertedShape;
  expected: ExpectedMessageRow | undefined;
  target: TargetRow | undefined;
  problem: MessageProblem | undefined;
}

/** Collects, page by page, each memory of the room beside what the converter makes of it and the target's row. */
class Watcher implements JudgeObserver {
  readonly memories: WatchedMemory[] = [];
  comparison: RoomComparison | null = null;

  constructor(
    private readonly client: pg.ClientBase,
    /** --show-values: how much of a value to show; null: none. */
    readonly valueChars: number | null,
  ) {}

  rooms(comparisons: readonly RoomComparison[]): void {
    this.comparison = comparisons[0] ?? null;
  }

  async page(memories: readonly MemoryRow[], messages: ReadonlyMap<string, RoomMessages>, problems: readonly MessageProblem[]): Promise<void> {
    const expected = new Map<string, ExpectedMessageRow>();
    const skipped = new Map<string, { reason: ReasonCode; detail: string }>();
    for (const room of messages.values()) {
      for (const row of room.expected) expected.set(row.id, row);
      for (const skip of room.skipped) skipped.set(skip.memoryId, skip);
    }
    const targets = await readTargetRows(this.client, memories.map((m) => ({ id: m.id, parts: expected.get(m.id)?.parts ?? null })), this.valueChars);
    const problemById = new Map(problems.map((p) => [p.id, p]));
    for (const memory of memories) {
      const row = expected.get(memory.id);
      const skip = skipped.get(memory.id);
      const target = targets.get(memory.id);
      this.memories.push({
        memory: { id: memory.id, updatedAt: memory.updated_at },
        legacy: legacyShape(memory.content, this.valueChars),
        converted: skip ? { ok: false, reason: skip.reason, detail: skip.detail } : convertedShape(row, target, this.valueChars),
        expected: row,
        target,
        problem: problemById.get(memory.id),
      });
    }
  }
}

/** The legacy content's shape: its JSON type, role, part types and which legacy fields it has. */
function legacyShape(content: string, valueChars: number | null): LegacyShape {
  const parsed = parseContent(content);
  const shape: LegacyShape = { json: jsonType(parsed) };
  if (valueChars !== null) shape.value = content.slice(0, valueChars);
  if (!isJsonObject(parsed)) return shape;
  const { role, parts, content: text, toolInvocations, experimental_attachments: attachments, ...rest } = parsed;
  shape.role = typeof role === 'string' ? role : null;
  shape.parts = Array.isArray(parts) ? parts.map((part) => (isJsonObject(part) && typeof part.type === 'string' ? part.type : `(${jsonType(part)})`)) : parts === undefined ? 'absent' : jsonType(parts);
  if (typeof text === 'string') shape.contentChars = text.length;
  if (Array.isArray(toolInvocations)) shape.toolInvocations = toolInvocations.length;
  if (Array.isArray(attachments)) shape.attachments = attachments.length;
  const keys = Object.keys(rest);
  if (keys.length > 0) shape.keys = keys;
  return shape;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (isJsonObject(value)) return 'object';
  if (typeof value === 'object') return 'number'; // a lossless number
  return typeof value;
}

/** The converter's envelope: role, part types (as the server reads them) and the metadata it kept. */
function convertedShape(row: ExpectedMessageRow | undefined, target: TargetRow | undefined, valueChars: number | null): ConvertedShape {
  const envelope = isJsonObject(row?.parts) ? row.parts : {};
  const metadata = isJsonObject(envelope.metadata) ? envelope.metadata : null;
  const kept = metadata
    ? Object.entries(metadata).flatMap(([key, value]) => (key === 'legacy' && isJsonObject(value) ? Object.keys(value).map((k) => `legacy.${k}`) : [key]))
    : [];
  return {
    ok: true,
    role: row?.role ?? '',
    parts: (target?.expected_parts ?? []).map((part) => part.type),
    ...(kept.length > 0 ? { metadata: kept } : {}),
    ...(valueChars !== null && target?.expected_value ? { value: target.expected_value } : {}),
  };
}

// --- SQL: part lists, digested by the server ---------------------------------------------------------

/** The form of a stored message: the v6 envelope, the original script's bare array, or something else. */
function shapeSql(expr: string): string {
  return `case jsonb_typeof(${expr}) when 'array' then 'bare array'
            when 'object' then case when jsonb_typeof(${expr} -> 'parts') = 'array' then 'envelope' else 'object without parts' end
            else jsonb_typeof(${expr}) end`;
}

/**
 * The parts of a message (an envelope's, or a bare array), as [{type, digest, value?}] in order. The digest
 * is md5 of the part's jsonb text, the canonical form reconcile compares, so equal digests are equal parts.
 */
function partListSql(expr: string, valueParam: string | null): string {
  const value = valueParam ? `, 'value', left(p.value::text, ${valueParam})` : '';
  return `(select coalesce(jsonb_agg(jsonb_build_object('type', p.value ->> 'type', 'digest', md5(p.value::text)${value}) order by p.n), '[]'::jsonb)
             from jsonb_array_elements(case jsonb_typeof(${expr}) when 'array' then ${expr}
                                         when 'object' then case when jsonb_typeof(${expr} -> 'parts') = 'array' then ${expr} -> 'parts' end end)
                  with ordinality as p(value, n))`;
}

/** The target row of each memory, beside its expected envelope (null for a memory the converter skips). */
async function readTargetRows(client: pg.ClientBase, rows: { id: string; parts: unknown }[], valueChars: number | null): Promise<Map<string, TargetRow>> {
  if (rows.length === 0) return new Map();
  const value = valueChars !== null ? '$2::int' : null;
  const params: unknown[] = [stringifyJson(rows)];
  if (valueChars !== null) params.push(valueChars);
  const { rows: found } = await client.query<TargetRow>(
    `with e as (select t.id, t.parts from jsonb_to_recordset($1::jsonb) as t(id text, parts jsonb))
     select e.id, m.id is not null as present, m.role, ${shapeSql('m.parts')} as shape,
            ${partListSql('e.parts', value)} as expected_parts,
            case when m.id is not null then ${partListSql('m.parts', value)} end as actual_parts,
            case when jsonb_typeof(e.parts) = 'object' and jsonb_typeof(m.parts) = 'object' then array(
              select k from (select jsonb_object_keys(e.parts) as k union select jsonb_object_keys(m.parts)) keys
               where k <> 'parts' and (e.parts -> k)::text is distinct from (m.parts -> k)::text order by k)
            else '{}'::text[] end as envelope,
            ${value ? `left(e.parts::text, ${value})` : 'null::text'} as expected_value,
            ${value ? `left(m.parts::text, ${value})` : 'null::text'} as actual_value
       from e left join public.chat_messages m on m.id = e.id`,
    params,
  );
  return new Map(found.map((row) => [row.id, row]));
}

/**
 * The messages the app wrote into the room's chat: those whose ids are none of its memories' (the rows
 * reconcile counts as app.addedMessages). chat_messages has no index on chat_id in production: one scan.
 */
async function readAppMessages(client: pg.ClientBase, chatId: string, memoryIds: readonly string[], valueChars: number | null): Promise<ExplainedMessage[]> {
  const value = valueChars !== null ? '$3::int' : null;
  const params: unknown[] = [chatId, memoryIds];
  if (valueChars !== null) params.push(valueChars);
  const { rows } = await client.query<{ id: string; role: string | null; created_at: string; shape: string; parts: PartRow[]; value: string | null }>(
    `select m.id, m.role, ${timestampTextSql('m.created_at')} as created_at, ${shapeSql('m.parts')} as shape,
            ${partListSql('m.parts', value)} as parts, ${value ? `left(m.parts::text, ${value})` : 'null::text'} as value
       from public.chat_messages m
      where m.chat_id = $1 and not (m.id = any($2::text[]))
      order by m.created_at, m.id`,
    params,
  );
  return rows.map((row) => ({
    memoryId: null,
    messageId: row.id,
    createdAt: row.created_at,
    role: row.role,
    target: { present: true, shape: row.shape, role: row.role, parts: row.parts.map((p) => p.type), ...(row.value !== null ? { value: row.value } : {}) },
    verdict: 'app',
    reasons: [],
    note: 'a message the app wrote into this chat (no memory has its id): never compared, not drift',
    fix: null,
  }));
}

// --- verdicts, diffs and fixes -------------------------------------------------------------------------

/** reconcile's verdict on the room, looked up by memory: its message items and skips. */
class RoomJudgement {
  readonly items: Map<string, ReconcileItem>;
  readonly skips: Map<string, { reason: ReasonCode; detail: string }>;

  constructor(
    readonly verdict: RoomVerdict,
    readonly target: TargetState,
  ) {
    const { line } = verdict;
    this.items = new Map([...line.drift, ...line.info].filter((i) => i.kind === 'message').map((i) => [i.id, i]));
    this.skips = new Map(line.skipped.map((s) => [s.memoryId, s]));
  }
}

/** One memory's verdict, read off reconcile's line for the room (its message items, skips and room codes). */
function explainMemory(watched: WatchedMemory, judgement: RoomJudgement, fixes: Fixes): ExplainedMessage {
  const { memory, problem } = watched;
  const { verdict, target } = judgement;
  const item = judgement.items.get(memory.id);
  // A skipped room's memories are not converted by reconcile: the converter's own skip, as explain saw it.
  const skip = judgement.skips.get(memory.id) ?? (watched.converted.ok ? undefined : { reason: watched.converted.reason, detail: watched.converted.detail });
  const base = {
    memoryId: memory.id,
    messageId: memory.id,
    createdAt: memory.updatedAt,
    role: watched.legacy.role ?? null,
    legacy: watched.legacy,
    converted: watched.converted,
    target: targetShape(watched.target),
  };
  const judged = (v: MessageVerdict, reasons: ReasonCode[], rest: Partial<ExplainedMessage> = {}): ExplainedMessage => ({ ...base, verdict: v, reasons, fix: null, ...rest });
  switch (item?.code) {
    case 'message_missing':
      return judged('missing', [item.code], { fix: fixes.backfill('backfill adds the message (it never overwrites a row the app changed)') });
    case 'message_mismatch':
      return judged('mismatch', [item.code], { fix: fixes.forMismatch(problem), diff: diffOf(item, watched) });
    case 'message_unexpected':
      return judged('unexpected', [...(skip ? [skip.reason] : []), item.code], {
        ...(skip ? { detail: skip.detail } : {}),
        fix: fixes.forUnexpected(skip?.reason),
      });
    case 'target_changed_in_app':
      return judged('changed_in_app', [item.code], {
        note: 'the app changed this row after backfill wrote it, and its memory changed too: left alone on purpose (information, not drift)',
      });
    default:
      break;
  }
  if (verdict.roomSkip !== null) {
    return judged('skipped', [verdict.roomSkip], { note: `the room is skipped (${verdict.roomSkip}): none of its memories is migrated` });
  }
  if (target === 'deleted') {
    return judged('skipped', ['target_deleted'], { note: "the app deleted the room's chat: backfill never re-creates it, so its memories are no longer expected" });
  }
  if (skip) {
    return judged('skipped', [skip.reason], { detail: skip.detail, note: 'the converter skips this memory: nothing is written for it (an expected skip, not drift)' });
  }
  if (target === 'missing') {
    return judged('missing', ['chat_missing'], { fix: fixes.backfill("backfill creates the room's session, chat and messages") });
  }
  return judged('clean', []);
}

function targetShape(row: TargetRow | undefined): TargetShape {
  if (!row?.present) return { present: false };
  return {
    present: true,
    shape: row.shape ?? 'null',
    role: row.role,
    parts: (row.actual_parts ?? []).map((p) => p.type),
    ...(row.actual_value !== null ? { value: row.actual_value } : {}),
  };
}

/** The mismatch, readable: reconcile's fields, then the target's form, envelope keys and parts that differ. */
function diffOf(item: ReconcileItem, watched: WatchedMemory): MessageDiff {
  const { expected, problem, target } = watched;
  const fields = item.fields ?? [];
  const sides: Record<string, [unknown, unknown]> = {
    role: [expected?.role, problem?.actual_role],
    created_at: [expected?.created_at, problem?.actual_created_at],
    chat_id: [expected?.chat_id, problem?.actual_chat_id],
  };
  const values = Object.fromEntries(fields.filter((f) => f in sides).map((f) => [f, { expected: sides[f]![0], actual: sides[f]![1] }]));
  const diff: MessageDiff = {
    fields,
    ...(Object.keys(values).length > 0 ? { values } : {}),
    parts: [],
    digest: { expected: item.expected?.digest ?? null, actual: item.actual?.digest ?? null },
  };
  if (!fields.includes('parts') || !target) return diff;
  if (target.shape !== 'envelope') diff.shape = { expected: 'envelope', actual: target.shape ?? 'null' };
  if (target.envelope.length > 0) diff.envelope = target.envelope;
  diff.parts = partChanges(target.expected_parts, target.actual_parts ?? []);
  return diff;
}

/** Part by part, by index: what differs, what the target lacks, what it has beyond the converter's. */
function partChanges(expected: readonly PartRow[], actual: readonly PartRow[]): PartChange[] {
  const changes: PartChange[] = [];
  for (let index = 0; index < Math.max(expected.length, actual.length); index += 1) {
    const e = expected[index];
    const a = actual[index];
    if (e && a && e.digest === a.digest) continue;
    const change: PartChange = { index, change: e && a ? 'differs' : e ? 'missing' : 'extra', expected: e?.type ?? null, actual: a?.type ?? null };
    if (e?.value !== undefined || a?.value !== undefined) {
      change.values = { ...(e?.value !== undefined ? { expected: e.value } : {}), ...(a?.value !== undefined ? { actual: a.value } : {}) };
    }
    changes.push(change);
  }
  return changes;
}

/**
 * The commands that would fix drift, decided as the fixing commands decide: backfill's tracked write
 * (insert what is absent; update only a row that still holds what the tool last wrote), fix-parts (rows the
 * tool did not write) and stamp-artist-id (sessions.artist_id).
 */
class Fixes {
  constructor(
    private readonly room: RoomExpectation,
    private readonly ledgerSchema: string | null,
    private readonly walksRoom: boolean,
  ) {}

  private get id(): string {
    return this.room.row.id;
  }

  /** backfill --room; when backfill would skip the room as unchanged, its ledger entry must go first. */
  backfill(what: string): Fix {
    const run = npx(`backfill --room ${this.id}`);
    if (this.walksRoom || this.ledgerSchema === null) return { commands: [run], note: what };
    return {
      commands: [`psql "$DATABASE_URL" -c "delete from ${this.ledgerSchema}.room_ledger where room_id = '${this.id}'"`, run],
      note:
        `${what}, but as things stand it skips this room: its legacy rows have not changed since backfill recorded it, so a re-run ` +
        "does not look at its target rows. Forgetting the room's ledger entry (the tool's own bookkeeping; nothing in the target changes) makes backfill walk it again",
    };
  }

  /** A row for a memory the converter skips: fix-parts removes it when it is the original script's copy. */
  forUnexpected(skipReason: string | undefined): Fix {
    return {
      commands: [npx(`fix-parts --room ${this.id} --dry-run`), npx(`fix-parts --room ${this.id}`)],
      note:
        `the converter skips this memory${skipReason ? ` (${skipReason})` : ''}, yet a row holds it. fix-parts removes the row when it holds ` +
        'exactly what the original script copied from the memory (backed up: fix-parts --undo <runId> puts it back); a row holding anything ' +
        'else is the app\'s and stays, for you to review. The dry run says which (class "removed")',
    };
  }

  forMismatch(problem: MessageProblem | undefined): Fix {
    const ledger = problem?.ledger_digest ?? null;
    if (ledger === null) {
      return {
        commands: [npx(`fix-parts --room ${this.id} --dry-run`), npx(`fix-parts --room ${this.id}`)],
        note:
          'the tool did not write this row (the original script did, or the app), so backfill leaves it (message_needs_fix_parts). ' +
          'fix-parts rebuilds it from its memory when it holds what the script wrote, and repairs it when it fails AI SDK v6 validation; ' +
          'a valid row in another form is taken for the app\'s and kept. The dry run says which',
      };
    }
    if (ledger === problem?.actual_digest) return this.backfill('the row is as backfill wrote it and its memory changed since: backfill brings it up to date');
    return {
      commands: [],
      note:
        'nothing in the tool: the row changed after backfill wrote it while its memory did not, so backfill keeps it, and fix-parts ' +
        'repairs it only if it fails AI SDK v6 validation. Review it (--show-values shows both sides); to put back what the converter ' +
        'makes, delete the row, then re-add it as for a missing message',
    };
  }

  forRoomItem(item: ReconcileItem, comparison: RoomComparison | null): Fix {
    switch (item.code) {
      case 'session_missing':
      case 'chat_missing':
        return this.backfill("backfill creates the room's session, chat and messages");
      case 'session_mismatch':
        return this.forTrackedRow('session', comparison?.ledger_session_digest ?? null, comparison?.actual_session_digest ?? null);
      case 'chat_mismatch':
        return this.forTrackedRow('chat', comparison?.ledger_chat_digest ?? null, comparison?.actual_chat_digest ?? null);
      case 'artist_mismatch': {
        const expected = this.room.mapping.ok ? this.room.mapping.mapped.session.artistId : null;
        if (expected === null) {
          return { commands: [], note: 'nothing in the tool: the room maps to no artist (none, or its account is gone), and stamp-artist-id never clears a value' };
        }
        if (comparison?.actual_artist_id === null) return { commands: [npx(`stamp-artist-id --room ${this.id}`)], note: 'stamp-artist-id fills the NULL artist_id from rooms.artist_id' };
        return {
          commands: [npx(`stamp-artist-id --overwrite-conflicts --room ${this.id}`)],
          note: 'the session holds another artist: stamp-artist-id replaces it only with --overwrite-conflicts (the old value is backed up)',
        };
      }
      case 'session_unexpected':
        return { commands: [], note: 'nothing in the tool: the room is skipped, yet a session or chat exists for it. Review it and delete it by hand' };
      default:
        return { commands: [], note: 'nothing in the tool' };
    }
  }

  /** A session or chat row that differs: backfill updates it only while it holds what the tool last wrote. */
  private forTrackedRow(kind: string, ledger: string | null, actual: string | null): Fix {
    if (ledger !== null && ledger === actual) return this.backfill(`the ${kind} is as backfill wrote it and the room changed since: backfill brings it up to date`);
    const who = ledger === null ? 'the tool did not write it' : 'it changed after backfill wrote it';
    return { commands: [], note: `nothing in the tool: ${who}, and backfill never overwrites such a ${kind}. Review it and fix it by hand` };
  }
}
