import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixParts } from '../../src/commands/fix-parts/fix-parts.ts';
import { resolveConnection } from '../../src/engine/connection.ts';
import { ensurePartsBackupTable } from '../../src/engine/parts-backup.ts';
import { applyPartsFixes } from '../../src/commands/fix-parts/write.ts';
import { ensureStateSchema } from '../../src/engine/state-schema.ts';
import { convertMemory, repairStoredParts, validateEnvelope } from '../../src/migration/convert.ts';
import { canonicalJson, parseJson } from '../../src/migration/json.ts';
import { sessionIdForRoom } from '../../src/migration/session-id.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { runCli } from '../support/cli.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom } from '../support/legacy-data.ts';

const RECONCILE_MODULE = fileURLToPath(new URL('../../src/commands/reconcile/reconcile.ts', import.meta.url));
const BIG_INTEGER = '12345678901234567890123';

let setup: Awaited<ReturnType<typeof createMigrationDatabase>>;
let scenario: Scenario;
let before: Map<string, Row>;
let firstRunId: string;
let reportRoot: string;

/** The real binary, with its reports in a temporary folder. */
async function cli(args: string[]): Promise<Awaited<ReturnType<typeof runCli>>> {
  return runCli([...args, '--report-dir', join(reportRoot, crypto.randomUUID())], { databaseUrl: setup.db.url });
}

interface Row {
  id: string;
  xmin: string;
  role: string;
  parts: string;
}

async function messages(pool: pg.Pool): Promise<Map<string, Row>> {
  const { rows } = await pool.query<Row>(`select id, xmin::text as xmin, role, parts::text as parts from chat_messages order by id`);
  return new Map(rows.map((r) => [r.id, r]));
}

function row(map: Map<string, Row>, id: string): Row {
  const found = map.get(id);
  if (!found) throw new Error(`no chat_messages row ${id}`);
  return found;
}

async function expectedFromMemory(pool: pg.Pool, id: string): Promise<string> {
  const { rows } = await pool.query<{ content: string; updated_at: Date }>(`select content::text as content, updated_at from memories where id = $1`, [id]);
  const memory = rows[0];
  if (!memory) throw new Error(`no memory ${id}`);
  const conversion = await convertMemory({ id, content: parseJson(memory.content), updatedAt: memory.updated_at });
  if (!conversion.ok) throw new Error(`memory ${id} does not convert: ${conversion.detail}`);
  return canonicalJson(conversion.message);
}

const canonical = (text: string): string => canonicalJson(parseJson(text));

beforeAll(async () => {
  reportRoot = await mkdtemp(join(tmpdir(), 'fix-parts-test-'));
  setup = await createMigrationDatabase();
  scenario = await seedOriginalScriptTarget(setup.pool);
  before = await messages(setup.pool);
});

afterAll(async () => {
  await setup.close();
  await rm(reportRoot, { recursive: true, force: true });
});

describe('fix-parts on the target as the original script left it', () => {
  it('--dry-run reports what it would do and writes nothing', async () => {
    const result = await cli(['fix-parts', '--dry-run', '--json']);
    expect(result.json?.dryRun).toBe(true);
    expect(result.json?.classes).toEqual(scenario.expectedClasses);
    const after = await messages(setup.pool);
    for (const [id, stored] of before) expect(row(after, id)).toEqual(stored);
    const { rows } = await setup.pool.query(`select to_regclass('recoup_migrate.parts_backup') as t`);
    expect(rows[0].t).toBeNull();
  });

  it('--chat (alias of --room), --limit and --since narrow the walk', async () => {
    const chat = await cli(['fix-parts', '--dry-run', '--json', '--chat', scenario.orphanRoomId, '--room', scenario.appChatId]);
    expect(chat.json?.chats.total).toBe(2);
    expect(chat.json?.messages.total).toBe(5);
    expect(chat.json?.classes).toMatchObject({ repaired: 3, unrepairable: 1, app: 1 });
    const shown = await cli(['fix-parts', '--dry-run', '--json', '--show-values', '--chat', scenario.orphanRoomId]);
    expect(await readFile(join(shown.json?.reportDir as string, 'rooms.jsonl'), 'utf8')).toContain('orphan text');
    // A row the script wrote is known from its memory and not read, except to show its old value.
    const shownScript = await cli(['fix-parts', '--dry-run', '--json', '--show-values', '--chat', scenario.scriptRoomId]);
    const scriptLine = JSON.parse(await readFile(join(shownScript.json?.reportDir as string, 'rooms.jsonl'), 'utf8')) as { changed: { messageId: string; beforeValue: string }[] };
    expect(scriptLine.changed.find((c) => c.messageId === scenario.bigIntegerId)?.beforeValue).toContain('98765432109876543210');
    const limited = await cli(['fix-parts', '--dry-run', '--json', '--limit', '4', '--batch-size', '3']);
    expect(limited.json?.messages.total).toBe(4);
    const future = await cli(['fix-parts', '--dry-run', '--json', '--since', '2999-01-01T00:00:00Z']);
    expect(future.json?.messages.total).toBe(0);
    // The script's rows carry their memories' 2025 times; the app's rows were written now.
    const recent = await cli(['fix-parts', '--dry-run', '--json', '--since', '2026-01-01T00:00:00Z']);
    expect(recent.json?.messages.total).toBe(6);
  });

  it('rebuilds the script rows from memory, repairs invalid rows, and leaves every other row byte-identical', async () => {
    const result = await cli(['fix-parts', '--json', '--batch-size', '3']);
    expect(result.json, result.stderr).not.toBeNull();
    firstRunId = result.json?.runId as string;
    // Unrepairable rows are left and make the run exit 1.
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.json?.classes).toEqual(scenario.expectedClasses);
    expect(result.json?.reasons).toEqual({ message_empty: 1, parts_unrepairable: 1, target_changed_in_app: 1 });
    const after = await messages(setup.pool);

    for (const id of ids(scenario.rebuilt)) {
      const stored = row(after, id);
      expect(canonical(stored.parts), id).toBe(await expectedFromMemory(setup.pool, id));
      expect(await validateEnvelope(parseJson(stored.parts)), id).toBeNull();
    }
    for (const id of ids(scenario.repaired)) {
      const old = row(before, id);
      const repaired = repairStoredParts(id, old.role as 'user' | 'assistant', parseJson(old.parts));
      expect(repaired.ok).toBe(true);
      if (repaired.ok) expect(canonical(row(after, id).parts), id).toBe(canonicalJson(repaired.message));
      expect(await validateEnvelope(parseJson(row(after, id).parts)), id).toBeNull();
    }
    for (const id of [...ids(scenario.untouched), ...ids(scenario.unrepairable)]) {
      expect(row(after, id), id).toEqual(row(before, id));
    }
    for (const id of ids(scenario.removed)) expect(after.has(id), id).toBe(false);
    // The big integer survived the rebuild digit for digit.
    expect(row(after, scenario.bigIntegerId).parts).toContain(BIG_INTEGER);
  });

  it('backs up the old values server-side and records the new digests in the ledger', async () => {
    const { rows } = await setup.pool.query<{ message_id: string; old_parts: string; new_digest: string; current: string; ledger: string; digest: string }>(
      `select b.message_id, b.old_parts::text as old_parts, b.new_digest, md5(cm.parts::text) as current,
              l.digest as ledger, md5(row(cm.chat_id, cm.role, extract(epoch from cm.created_at), cm.parts::text)::text) as digest
         from recoup_migrate.parts_backup b
         join chat_messages cm on cm.id = b.message_id
         left join recoup_migrate.target_ledger l on l.kind = 'message' and l.id = b.message_id and l.written_by = b.run_id
        where b.run_id = $1`,
      [firstRunId],
    );
    expect(rows.map((r) => r.message_id).sort()).toEqual([...ids(scenario.rebuilt), ...ids(scenario.repaired)].sort());
    for (const backup of rows) {
      expect(backup.old_parts, backup.message_id).toBe(row(before, backup.message_id).parts);
      expect(backup.new_digest).toBe(backup.current);
      // Rows in an app chat (non-uuid chat id) have no legacy room, so no ledger entry.
      if (backup.message_id === scenario.appChatInvalidId) expect(backup.ledger).toBeNull();
      else expect(backup.ledger, backup.message_id).toBe(backup.digest);
    }
  });

  it('reports one line per chat with the changed message ids and their digests', async () => {
    const { rows } = await setup.pool.query<{ summary: { reportDir: string } }>(`select summary from recoup_migrate.runs where run_id = $1`, [firstRunId]);
    const reportDir = rows[0]?.summary.reportDir as string;
    const lines = (await readFile(join(reportDir, 'rooms.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    const byChat = new Map(lines.map((l) => [l.chatId as string, l]));
    expect(byChat.size).toBe(lines.length);
    const scriptChat = byChat.get(scenario.scriptRoomId);
    expect(scriptChat?.status).toBe('fixed');
    expect(scriptChat?.sessionId).toBe(sessionIdForRoom(scenario.scriptRoomId));
    const changed = scriptChat?.changed as { messageId: string; before: string; after: string }[];
    const bigInteger = changed.find((c) => c.messageId === scenario.bigIntegerId);
    expect(bigInteger?.before).toMatch(/^[0-9a-f]{32}$/);
    expect(bigInteger?.after).not.toBe(bigInteger?.before);
    const { rows: digests } = await setup.pool.query<{ old_digest: string; recomputed: string; current: string }>(
      `select b.old_digest, md5(b.old_parts::text) as recomputed, md5(cm.parts::text) as current
         from recoup_migrate.parts_backup b join chat_messages cm on cm.id = b.message_id where b.message_id = $1`,
      [scenario.bigIntegerId],
    );
    expect(digests[0]).toEqual({ old_digest: bigInteger?.before, recomputed: bigInteger?.before, current: bigInteger?.after });
    expect(byChat.get(scenario.orphanRoomId)?.status).toBe('unrepairable');
    expect(byChat.get(scenario.appChatId)?.status).toBe('fixed');
    // No message content without --show-values.
    expect(JSON.stringify(lines)).not.toContain('orphan text');
  });

  it('a second run finds nothing to do and writes no row', async () => {
    const snapshot = await messages(setup.pool);
    const result = await cli(['fix-parts', '--json']);
    // What it rewrote is now the tool's (ledger, or its backup for the app's own chat): unchanged.
    const fixed = scenario.expectedClasses.rebuilt + scenario.expectedClasses.repaired + scenario.expectedClasses.unchanged;
    expect(result.json?.classes).toEqual({ ...scenario.expectedClasses, rebuilt: 0, repaired: 0, removed: 0, unchanged: fixed });
    expect(result.json?.messages.written).toBe(0);
    expect(await messages(setup.pool)).toEqual(snapshot);
  });

  it('--undo puts back the exact old values (big integer included), then a re-run fixes them again', async () => {
    const undo = await cli(['fix-parts', '--undo', firstRunId, '--json']);
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.json?.restored.restored).toBe(scenario.rebuilt.length + scenario.repaired.length + scenario.removed.length);
    const restored = await messages(setup.pool);
    for (const [id, stored] of before) {
      expect(row(restored, id).parts, id).toBe(stored.parts);
      expect(row(restored, id).role, id).toBe(stored.role);
    }
    expect(row(restored, scenario.bigIntegerId).parts).toContain(BIG_INTEGER);
    const again = await cli(['fix-parts', '--json']);
    expect(again.json?.classes).toEqual(scenario.expectedClasses);
  });

  it('--undo leaves a row the app changed after the run', async () => {
    const run = await cli(['fix-parts', '--json']);
    expect(run.json?.classes.rebuilt).toBe(0); // already fixed by the re-run above
    const { rows: runs } = await setup.pool.query<{ run_id: string }>(
      `select run_id from recoup_migrate.parts_backup where restored_at is null group by run_id`,
    );
    const lastFixRun = runs[0]?.run_id as string;
    const appValue = JSON.stringify({ id: scenario.lossyId, role: 'user', parts: [{ type: 'text', text: 'edited in the app' }] });
    await setup.pool.query(`update chat_messages set parts = $2::jsonb where id = $1`, [scenario.lossyId, appValue]);
    const undo = await cli(['fix-parts', '--undo', lastFixRun, '--json']);
    expect(undo.json?.restored.kept).toBe(1);
    expect(undo.json?.reasons).toEqual({ target_changed_in_app: 1 });
    const { rows } = await setup.pool.query<{ parts: string }>(`select parts::text as parts from chat_messages where id = $1`, [scenario.lossyId]);
    expect(canonical(rows[0]?.parts as string)).toBe(canonical(appValue));
    // Put the scenario back to "fixed" for what follows.
    await setup.pool.query(`update chat_messages set parts = $2::jsonb where id = $1`, [scenario.lossyId, row(before, scenario.lossyId).parts]);
    await cli(['fix-parts', '--json']);
  });
});

describe('compare-and-set', () => {
  it('never overwrites a row the app changed between the read and the write (command, via its test seam)', async () => {
    const account = await insertAccount(setup.pool);
    const roomId = await insertRoom(setup.pool, { accountId: account, topic: 'race' });
    const memoryId = await insertMemory(setup.pool, roomId, { role: 'user', parts: [{ type: 'text', text: 'race' }], experimental_attachments: [{ name: 'a.png', contentType: 'image/png', url: 'https://x.test/a.png' }] });
    await scenario.migrateLikeTheScript(roomId, [[memoryId, 'envelope']]);
    const appValue = JSON.stringify({ id: memoryId, role: 'user', parts: [{ type: 'text', text: 'written by the app meanwhile' }] });
    const logger = createLogger('silent');
    const pool = new pg.Pool({ connectionString: setup.db.url, max: 3 });
    try {
      const summary = await fixParts(
        {
          scope: { chats: [roomId] },
          batchSize: 10,
          concurrency: 1,
          dryRun: false,
          statementTimeoutMs: 60_000,
          lockTimeoutMs: 5_000,
          beforeWrite: async () => {
            const other = new pg.Client({ connectionString: setup.db.url });
            await other.connect();
            await other.query(`update chat_messages set parts = $2::jsonb where id = $1`, [memoryId, appValue]);
            await other.end();
          },
        },
        {
          pool,
          connection: resolveConnection({ databaseUrl: setup.db.url }),
          logger,
          stateSchema: 'recoup_migrate',
          runId: crypto.randomUUID(),
          startedAt: new Date(),
          reportDir: join(reportRoot, crypto.randomUUID()),
          progress: false,
          showValues: false,
          stopSignal: new AbortController().signal,
        },
      );
      expect(summary.classes).toMatchObject({ concurrent: 1, rebuilt: 0 });
      expect(summary.reasons).toEqual({ concurrent_change: 1 });
    } finally {
      await pool.end();
    }
    const { rows } = await setup.pool.query<{ parts: string }>(`select parts::text as parts from chat_messages where id = $1`, [memoryId]);
    expect(canonical(rows[0]?.parts as string)).toBe(canonical(appValue));
    const { rows: backups } = await setup.pool.query(`select 1 from recoup_migrate.parts_backup where message_id = $1`, [memoryId]);
    expect(backups).toHaveLength(0);
  });

  it('applyPartsFixes writes only rows still at the version read (xmin), even when a write kept the same value', async () => {
    await ensureStateSchema(setup.pool, 'recoup_migrate');
    await ensurePartsBackupTable(setup.pool, 'recoup_migrate');
    const id = scenario.appValidId;
    const { rows } = await setup.pool.query<{ xmin: string }>(`select xmin::text as xmin from chat_messages where id = $1`, [id]);
    const stale = rows[0]?.xmin as string;
    const other = new pg.Client({ connectionString: setup.db.url });
    await other.connect();
    await other.query(`update chat_messages set parts = parts where id = $1`, [id]);
    const { rows: now } = await other.query<{ parts: string }>(`select parts::text as parts from chat_messages where id = $1`, [id]);
    await other.end();
    const client = await setup.pool.connect();
    try {
      const applied = await applyPartsFixes(
        client,
        { stateSchema: 'recoup_migrate', runId: crypto.randomUUID(), converterVersion: 1 },
        [{ id, xmin: stale, message: { id, role: 'user', parts: [{ type: 'text', text: 'stale write' }] }, roomId: null }],
      );
      expect(applied).toEqual([]);
    } finally {
      client.release();
    }
    const { rows: after } = await setup.pool.query<{ parts: string }>(`select parts::text as parts from chat_messages where id = $1`, [id]);
    expect(after[0]?.parts).toBe(now[0]?.parts);
  });
});

describe('a row the database keeps rejecting', () => {
  it('is isolated and reported failed (room_failed, with the error); the rest of its batch is fixed; a re-run fixes it once the cause is gone', async () => {
    const env = await createMigrationDatabase();
    try {
      const own = await seedOriginalScriptTarget(env.pool);
      const victim = own.rebuilt[0]!;
      await env.pool.query(`create function refuse_victim() returns trigger language plpgsql as $$
        begin if new.id = '${victim}' then raise exception 'parts of % are frozen by a test', new.id; end if; return new; end $$`);
      await env.pool.query(`create trigger refuse_victim before update on chat_messages for each row execute function refuse_victim()`);
      const reports = await mkdtemp(join(tmpdir(), 'fix-parts-failed-'));
      const first = await runCli(['fix-parts', '--json', '--report-dir', join(reports, 'first')], { databaseUrl: env.db.url });
      expect(first.code).toBe(1);
      expect(first.json!.classes).toEqual({ ...own.expectedClasses, rebuilt: own.expectedClasses.rebuilt - 1, failed: 1 });
      expect(first.json!.reasons.room_failed).toBe(1);
      expect(first.json!.problems.join(' ')).toMatch(/1 message\(s\) failed/);
      const lines = (await readFile(join(reports, 'first', 'rooms.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      const failedLine = lines.find((l) => l.status === 'failed');
      expect(failedLine.skipped).toEqual([{ memoryId: victim, reason: 'room_failed', detail: expect.stringContaining(`parts of ${victim} are frozen by a test`) }]);
      // Every other row of the batch was fixed: only the victim still holds what the script wrote.
      const after = await messages(env.pool);
      for (const id of own.rebuilt.slice(1)) expect(canonical(row(after, id).parts), id).toBe(await expectedFromMemory(env.pool, id));
      expect(canonical(row(after, victim).parts)).not.toBe(await expectedFromMemory(env.pool, victim));

      await env.pool.query('drop trigger refuse_victim on chat_messages');
      const second = await runCli(['fix-parts', '--json', '--report-dir', join(reports, 'second')], { databaseUrl: env.db.url });
      expect(second.code).toBe(1); // the scenario's unrepairable rows stay
      expect(second.json!.classes).toMatchObject({ rebuilt: 1, failed: 0 });
      expect(canonical(row(await messages(env.pool), victim).parts)).toBe(await expectedFromMemory(env.pool, victim));
      await rm(reports, { recursive: true, force: true });
    } finally {
      await env.close();
    }
  });
});

describe('the runbook: backfill, fix-parts, reconcile', () => {
  it.skipIf(!existsSync(RECONCILE_MODULE))('reconcile reports the script rooms clean after backfill and fix-parts', async () => {
    const backfill = await cli(['backfill', '--json', '--room', scenario.scriptRoomId, '--room', scenario.orphanRoomId]);
    expect(backfill.code, backfill.stderr).toBe(0);
    const fix = await cli(['fix-parts', '--json', '--chat', scenario.scriptRoomId, '--chat', scenario.orphanRoomId]);
    expect(fix.json?.classes.rebuilt).toBe(0);
    const reconcile = await cli(['reconcile', '--json', '--room', scenario.scriptRoomId, '--room', scenario.orphanRoomId]);
    expect(reconcile.json?.rooms?.drift, reconcile.stdout).toBe(0);
    expect(reconcile.code, reconcile.stdout).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------
// The scenario: legacy memories, and the target as the original script wrote it (session id =
// sessionIdForRoom(room), chat id = room id, message id = memory id, parts = content->'parts' first,
// {id, role, parts} later), plus rows the app wrote itself.

type ScriptShape = 'bare' | 'envelope';

interface Scenario {
  scriptRoomId: string;
  orphanRoomId: string;
  appChatId: string;
  bigIntegerId: string;
  lossyId: string;
  appChatInvalidId: string;
  appValidId: string;
  rebuilt: string[];
  repaired: string[];
  untouched: string[];
  unrepairable: string[];
  removed: string[];
  expectedClasses: { rebuilt: number; repaired: number; upgraded: number; removed: number; unchanged: number; app: number; unrepairable: number; concurrent: number; failed: number };
  migrateLikeTheScript(roomId: string, messages: [string, ScriptShape][]): Promise<void>;
}

const ids = (list: readonly string[]): string[] => [...list];

const attachment = { name: 'cover.png', contentType: 'image/png', url: 'https://files.test/cover.png' };

async function seedOriginalScriptTarget(pool: pg.Pool): Promise<Scenario> {
  const account = await insertAccount(pool);
  let minute = 0;
  const at = (): string => `2025-04-01T10:${String(minute++).padStart(2, '0')}:00.123456Z`;
  const memory = async (roomId: string, content: string | object): Promise<string> => insertMemory(pool, roomId, content, at());

  const migrateLikeTheScript = async (roomId: string, rows: [string, ScriptShape][]): Promise<void> => {
    const sessionId = sessionIdForRoom(roomId);
    await pool.query(
      `insert into sessions (id, account_id, title, created_at, updated_at)
       select $2, r.account_id, coalesce(r.topic, 'Untitled'), r.updated_at, r.updated_at from rooms r where r.id = $1
       on conflict do nothing`,
      [roomId, sessionId],
    );
    await pool.query(
      `insert into chats (id, session_id, title, created_at, updated_at)
       select r.id::text, $2, coalesce(r.topic, 'Untitled'), r.updated_at, r.updated_at from rooms r where r.id = $1
       on conflict do nothing`,
      [roomId, sessionId],
    );
    for (const [memoryId, shape] of rows) {
      await pool.query(
        `insert into chat_messages (id, chat_id, role, parts, created_at)
         select m.id::text, m.room_id::text, m.content->>'role',
                case when $2 = 'bare' then m.content->'parts'
                     else jsonb_build_object('id', m.id::text, 'role', m.content->'role', 'parts', m.content->'parts') end,
                m.updated_at
           from memories m where m.id = $1`,
        [memoryId, shape],
      );
    }
  };
  const insertMessage = async (id: string, chatId: string, role: string, partsJson: string): Promise<string> => {
    await pool.query(`insert into chat_messages (id, chat_id, role, parts, created_at) values ($1, $2, $3, $4::jsonb, now())`, [id, chatId, role, partsJson]);
    return id;
  };

  // The script's room: every v4 part type, tool states, lossy-but-valid rows, a big integer.
  const scriptRoomId = await insertRoom(pool, { accountId: account, topic: 'Script room', updatedAt: '2025-04-02T00:00:00Z' });
  const bareText = await memory(scriptRoomId, { role: 'user', content: 'hello', parts: [{ type: 'text', text: 'hello' }], experimental_attachments: [attachment] });
  const toolResult = await memory(scriptRoomId, {
    role: 'assistant', id: 'msg-abc', createdAt: '2025-04-01T10:00:00.000Z', content: 'Done',
    toolInvocations: [{ state: 'result', step: 0, toolCallId: 'call_1', toolName: 'search_web', args: { q: 'x' }, result: { hits: 3 } }],
    parts: [{ type: 'step-start' }, { type: 'tool-invocation', toolInvocation: { state: 'result', step: 0, toolCallId: 'call_1', toolName: 'search_web', args: { q: 'x' }, result: { hits: 3 } } }, { type: 'text', text: 'Done' }],
  });
  const toolCall = await memory(scriptRoomId, {
    role: 'assistant', content: 'Looking',
    parts: [{ type: 'tool-invocation', toolInvocation: { state: 'call', toolCallId: 'call_2', toolName: 'get_artist', args: {} } }, { type: 'text', text: 'Looking' }],
  });
  const partialCall = await memory(scriptRoomId, {
    role: 'assistant', content: 'Start',
    parts: [{ type: 'text', text: 'Start' }, { type: 'tool-invocation', toolInvocation: { state: 'partial-call', toolCallId: 'call_3', toolName: 'x_y', args: { a: 1 } } }],
  });
  const reasoning = await memory(scriptRoomId, {
    role: 'assistant', content: 'answer',
    parts: [{ type: 'reasoning', reasoning: 'think', details: [{ type: 'text', text: 'think', signature: 'sig-1' }, { type: 'redacted', data: 'opaque' }] }, { type: 'text', text: 'answer' }],
  });
  const sourceFile = await memory(scriptRoomId, {
    role: 'assistant', content: 'see',
    parts: [{ type: 'source', source: { sourceType: 'url', id: 's1', url: 'https://a.test', title: 'A' } }, { type: 'file', mimeType: 'image/png', data: 'iVBORw0KGgo=' }, { type: 'text', text: 'see' }],
  });
  const lossyId = await memory(scriptRoomId, { role: 'user', content: 'look', parts: [{ type: 'text', text: 'look' }], experimental_attachments: [attachment] });
  const streaming = await memory(scriptRoomId, { role: 'assistant', content: '[object Object]', parts: [{ type: 'text', text: 'streamed', state: 'streaming' }] });
  const bigIntegerId = await memory(
    scriptRoomId,
    `{"role":"assistant","content":"","parts":[{"type":"tool-invocation","toolInvocation":{"state":"result","toolCallId":"call_big","toolName":"get_stats","args":{"artistId":${BIG_INTEGER}},"result":{"followers":98765432109876543210}}}]}`,
  );
  const alreadyRight = await memory(scriptRoomId, { role: 'user', content: 'plain', parts: [{ type: 'text', text: 'plain' }] });
  await memory(scriptRoomId, { role: 'user', content: 'no parts: the script skipped me' });
  await migrateLikeTheScript(scriptRoomId, [
    [bareText, 'bare'], [toolResult, 'envelope'], [toolCall, 'envelope'], [partialCall, 'bare'], [reasoning, 'bare'],
    [sourceFile, 'envelope'], [lossyId, 'envelope'], [streaming, 'envelope'], [bigIntegerId, 'envelope'], [alreadyRight, 'envelope'],
  ]);
  const appInScriptChat = await insertMessage('Vx3kq9_appmsg01', scriptRoomId, 'user', JSON.stringify({ id: 'Vx3kq9_appmsg01', role: 'user', parts: [{ type: 'text', text: 'new in the app' }] }));

  // A room whose memories are gone: its rows can only be repaired from themselves.
  const orphanRoomId = await insertRoom(pool, { accountId: account, topic: 'Orphans', updatedAt: '2025-04-02T00:00:00Z' });
  await migrateLikeTheScript(orphanRoomId, []);
  const orphanBare = await insertMessage(crypto.randomUUID(), orphanRoomId, 'user', JSON.stringify([{ type: 'text', text: 'orphan text' }]));
  const orphanId = crypto.randomUUID();
  const orphanEnvelope = await insertMessage(orphanId, orphanRoomId, 'assistant', JSON.stringify({
    id: orphanId, role: 'assistant', parts: [{ type: 'tool-invocation', toolInvocation: { state: 'call', toolCallId: 'call_9', toolName: 'lookup', args: { q: 1 } } }],
  }));
  const orphanString = await insertMessage(crypto.randomUUID(), orphanRoomId, 'user', JSON.stringify('just a string'));

  // A room the app changed after the script: an edited row, and a row the converter skips.
  const editedRoomId = await insertRoom(pool, { accountId: account, topic: 'Edited', updatedAt: '2025-04-02T00:00:00Z' });
  const edited = await memory(editedRoomId, { role: 'user', content: 'before', parts: [{ type: 'text', text: 'before' }] });
  const blank = await memory(editedRoomId, { role: 'user', content: ' ', parts: [{ type: 'text', text: '   ' }] });
  await migrateLikeTheScript(editedRoomId, [[edited, 'envelope'], [blank, 'envelope']]);
  await pool.query(`update chat_messages set parts = $2::jsonb where id = $1`, [edited, JSON.stringify({ id: edited, role: 'user', parts: [{ type: 'text', text: 'edited in the app' }] })]);

  // A chat the app created (its own ids): a valid row, and an invalid one.
  await pool.query(`insert into sessions (id, account_id, title) values ('sess_app_01', $1, 'App session')`, [account]);
  await pool.query(`insert into chats (id, session_id, title) values ('chat_app_01', 'sess_app_01', 'App chat')`);
  const appValid = await insertMessage('msg_app_valid', 'chat_app_01', 'assistant', JSON.stringify({ id: 'msg_app_valid', role: 'assistant', parts: [{ type: 'text', text: 'app answer' }] }));
  const appChatInvalidId = await insertMessage('msg_app_bare', 'chat_app_01', 'user', JSON.stringify([{ type: 'text', text: 'app bare' }]));

  const rebuilt = [bareText, toolResult, toolCall, partialCall, reasoning, sourceFile, lossyId, streaming, bigIntegerId];
  const repaired = [orphanBare, orphanEnvelope, appChatInvalidId];
  return {
    scriptRoomId,
    orphanRoomId,
    appChatId: 'chat_app_01',
    bigIntegerId,
    lossyId,
    appChatInvalidId,
    appValidId: appValid,
    rebuilt,
    repaired,
    untouched: [alreadyRight, appInScriptChat, edited, appValid],
    unrepairable: [orphanString],
    // The script's copy of a memory the converter skips: backfill writes no message there, so it goes.
    removed: [blank],
    expectedClasses: { rebuilt: rebuilt.length, repaired: repaired.length, upgraded: 0, removed: 1, unchanged: 1, app: 3, unrepairable: 1, concurrent: 0, failed: 0 },
    migrateLikeTheScript,
  };
}
