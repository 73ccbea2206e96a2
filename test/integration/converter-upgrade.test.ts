import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTERRUPTED_TOOL_CALL_ERROR } from '../../src/migration/convert-parts.ts';
import { messageDigestSql } from '../../src/engine/digests.ts';
import { runCli } from '../support/cli.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

interface LegacyChat {
  name: string;
  messages: Record<string, unknown>[];
}

function chatOf(file: string, name: string): LegacyChat {
  const fixture = JSON.parse(readFileSync(new URL(`../../fixtures/legacy-sdk/${file}`, import.meta.url), 'utf8')) as { chats: LegacyChat[] };
  const chat = fixture.chats.find((c) => c.name === name);
  if (!chat) throw new Error(`no chat ${name} in ${file}`);
  return chat;
}

type Part = Record<string, unknown>;

/**
 * What converter 1 wrote for the same memories: no step-starts in v4 messages (it dropped `step`), and
 * v5/v6 tool calls left open. Made from converter 2's output, so the test does not need the old code.
 */
function asConverterOneWroteIt(envelope: { parts: Part[] }, fromV4: boolean): { parts: Part[] } {
  const parts = envelope.parts
    .filter((part) => !(fromV4 && part.type === 'step-start'))
    .map((part) => {
      if (fromV4 || part.state !== 'output-error' || part.errorText !== INTERRUPTED_TOOL_CALL_ERROR) return part;
      const { errorText: _errorText, ...open } = part;
      return { ...open, state: 'input-available' };
    });
  return { ...envelope, parts };
}

async function rows(db: Db): Promise<Map<string, string>> {
  const { rows } = await db.pool.query<{ id: string; parts: string }>('select id, parts::text as parts from chat_messages order by id');
  return new Map(rows.map((r) => [r.id, r.parts]));
}

/**
 * A database backfilled by an earlier converter version, made from real SDK messages: a multi-step
 * answer of ai 4.2.7 (no step-starts) and a chat of ai 6.0 beta stopped while its tool ran.
 */
describe('a converter upgrade reaches what an earlier version wrote', () => {
  let env: Db;
  let v4Room: string;
  let v5Room: string;
  let oldRows: Map<string, string>;
  let upgradedIds: string[];
  let appChangedId: string;
  let upgradeRunId: string;
  const cli = (args: string[]) => runCli([...args, '--json'], { databaseUrl: env.db.url });

  beforeAll(async () => {
    env = await createMigrationDatabase();
    const account = await insertAccount(env.pool);
    v4Room = await insertRoom(env.pool, { accountId: account, topic: 'weather', updatedAt: '2025-04-01T00:00:00Z' });
    v5Room = await insertRoom(env.pool, { accountId: account, topic: 'report', updatedAt: '2025-09-01T00:00:00Z' });
    const insertChat = async (room: string, chat: LegacyChat, day: string) => {
      for (const [index, message] of chat.messages.entries()) {
        await insertMemory(env.pool, room, message, `${day}T00:00:0${index}Z`);
      }
    };
    await insertChat(v4Room, chatOf('v4/ai-4-2.json', 'three-steps/client'), '2025-04-01');
    await insertChat(v4Room, chatOf('v4/ai-4-2.json', 'text-tool-text/server'), '2025-04-02');
    await insertChat(v4Room, chatOf('v4/ai-4-2.json', 'two-turns/client'), '2025-04-03');
    await insertChat(v5Room, chatOf('v5/ai-6-0-beta.json', 'interrupted-tool-running'), '2025-09-01');

    const first = await cli(['backfill']);
    expect(first.code, first.stderr).toBe(0);

    // Rewind the database to what converter 1 left: its rows, its ledger digests, its version.
    upgradedIds = [];
    const { rows: written } = await env.pool.query<{ id: string; chat_id: string; parts: { parts: Part[] } }>('select id, chat_id, parts from chat_messages order by chat_id, created_at');
    for (const row of written) {
      const old = asConverterOneWroteIt(row.parts, row.chat_id === v4Room);
      if (JSON.stringify(old) === JSON.stringify(row.parts)) continue;
      upgradedIds.push(row.id);
      await env.pool.query('update chat_messages set parts = $2::jsonb where id = $1', [row.id, JSON.stringify(old)]);
    }
    await env.pool.query(
      `update recoup_migrate.target_ledger l set digest = ${messageDigestSql('cm')}, converter_version = 1
         from chat_messages cm where l.kind = 'message' and l.id = cm.id`,
    );
    await env.pool.query('update recoup_migrate.room_ledger set converter_version = 1');
    // One of them (a v4 one) the app changed since: never touched.
    appChangedId = written.find((row) => row.chat_id === v4Room && upgradedIds.includes(row.id))!.id;
    upgradedIds = upgradedIds.filter((id) => id !== appChangedId);
    await env.pool.query(`update chat_messages set parts = jsonb_set(parts, '{metadata}', '{"edited": true}') where id = $1`, [appChangedId]);
    oldRows = await rows(env);
  });
  afterAll(async () => env.close());

  it('starts where an upgrade has work: rows of converter 1 that converter 2 writes differently', async () => {
    // Both kinds: step boundaries (v4) and an open tool call (v6 beta).
    expect(upgradedIds.filter((id) => !oldRows.get(id)!.includes('"input-available"')).length).toBeGreaterThanOrEqual(2);
    expect(upgradedIds.filter((id) => oldRows.get(id)!.includes('"input-available"')).length).toBeGreaterThanOrEqual(1);
    const reconcile = await cli(['reconcile']);
    expect(reconcile.code).toBe(1);
    expect(reconcile.json!.reasons).toEqual({ message_mismatch: upgradedIds.length, target_changed_in_app: 1 });
  });

  it('backfill rewrites them, backed up, reported as message_upgraded, and records the new converter version', async () => {
    const preview = await cli(['backfill', '--dry-run']);
    expect(preview.json!.messages.upgraded).toBe(upgradedIds.length);
    expect(await rows(env)).toEqual(oldRows);

    const upgrade = await cli(['backfill']);
    expect(upgrade.code, upgrade.stderr).toBe(0);
    upgradeRunId = upgrade.json!.runId;
    expect(upgrade.json!.messages).toMatchObject({ written: upgradedIds.length, upgraded: upgradedIds.length });
    expect(upgrade.json!.reasons).toEqual({ message_upgraded: upgradedIds.length, target_changed_in_app: 1 });

    const now = await rows(env);
    for (const id of upgradedIds) expect(now.get(id), id).not.toBe(oldRows.get(id));
    expect(now.get(appChangedId)).toBe(oldRows.get(appChangedId));
    const { rows: backup } = await env.pool.query<{ message_id: string; old_parts: string }>(
      'select message_id, old_parts::text as old_parts from recoup_migrate.parts_backup where run_id = $1',
      [upgradeRunId],
    );
    expect(new Map(backup.map((b) => [b.message_id, b.old_parts]))).toEqual(new Map(upgradedIds.map((id) => [id, oldRows.get(id)])));
    const { rows: versions } = await env.pool.query<{ converter_version: number }>('select distinct converter_version from recoup_migrate.room_ledger');
    expect(versions).toEqual([{ converter_version: 2 }]);

    const reconcile = await cli(['reconcile']);
    expect(reconcile.json!.reasons).toEqual({ target_changed_in_app: 1 });
    const again = await cli(['backfill']);
    expect(again.json!.messages.written).toBe(0);
  });

  it('backfill --undo puts back exactly what was there, and the next backfill upgrades again', async () => {
    const undo = await runCli(['backfill', '--undo', upgradeRunId, '--json'], { databaseUrl: env.db.url });
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.json!.restored).toEqual({ messages: upgradedIds.length, kept: 0 });
    expect(await rows(env)).toEqual(oldRows);
    const { rows: ledger } = await env.pool.query<{ n: number }>(
      `select count(*)::int as n from recoup_migrate.target_ledger l join chat_messages cm on cm.id = l.id
        where l.kind = 'message' and l.converter_version = 1 and l.digest = ${messageDigestSql('cm')} and cm.id = any($1::text[])`,
      [upgradedIds],
    );
    // The ledger again says converter 1 wrote them (the app-changed row kept its old entry all along).
    expect(ledger[0]!.n).toBe(upgradedIds.length);

    const redo = await cli(['backfill']);
    expect(redo.json!.messages.upgraded).toBe(upgradedIds.length);
  });

  it('fix-parts upgrades a row the tool wrote, even without its memory, and --undo restores it', async () => {
    // Undo the last upgrade again, then drop the v5 room's memories: only the stored rows are left.
    const { rows: runs } = await env.pool.query<{ run_id: string }>(`select run_id from recoup_migrate.runs where command = 'backfill' order by started_at desc limit 1`);
    await runCli(['backfill', '--undo', runs[0]!.run_id, '--json'], { databaseUrl: env.db.url });
    await env.pool.query('delete from memories where room_id = $1', [v5Room]);
    const openCalls = upgradedIds.filter((id) => oldRows.get(id)!.includes('"input-available"'));
    expect(openCalls.length).toBeGreaterThan(0);

    const fix = await cli(['fix-parts', '--room', v5Room]);
    expect(fix.code, fix.stderr).toBe(0);
    expect(fix.json!.classes.upgraded).toBe(openCalls.length);
    expect(fix.json!.reasons).toEqual({ message_upgraded: openCalls.length });
    const now = await rows(env);
    for (const id of openCalls) {
      expect(now.get(id)).not.toContain('"input-available"');
      expect(now.get(id)).toContain(INTERRUPTED_TOOL_CALL_ERROR);
    }

    const undo = await runCli(['fix-parts', '--undo', fix.json!.runId, '--json'], { databaseUrl: env.db.url });
    expect(undo.json!.restored.restored).toBe(openCalls.length);
    const restored = await rows(env);
    for (const id of openCalls) expect(restored.get(id)).toBe(oldRows.get(id));
  });
});
