import { readdirSync, readFileSync } from 'node:fs';
import { convertToModelMessages, type UIMessage } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertContent, validateEnvelope, type ContentConversion } from '../../src/migration/convert.ts';
import { parseJson, stringifyJson } from '../../src/migration/json.ts';
import { runCli } from '../support/cli.ts';
import { continueChat, FINAL_TOOL_STATES, isToolPart, type Part } from '../support/continuation.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom } from '../support/legacy-data.ts';
import { replayTurns, type ReplayMessage, type ReplayTurn } from '../support/replay-turns.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

/**
 * Every chat the real legacy AI SDKs wrote (fixtures/legacy-sdk/v4 and v5), one room each, through a
 * real Postgres and the real CLI: backfill writes every message, a rerun writes nothing, reconcile
 * passes, and each chat as stored in chat_messages validates, has no open tool call, and is a chat
 * ai@6.0.190 continues.
 */

interface LegacyInvocation {
  state?: string;
}

interface LegacyContent {
  id?: string;
  role?: string;
  parts?: { type: string; toolInvocation?: LegacyInvocation }[];
}

interface FixtureFile {
  sdk: string;
  generator: string;
  chats: { name: string; messages: LegacyContent[] }[];
}

interface Chat {
  /** The fixture file's name without .json: the npm alias of the SDK that wrote it (ai-4-3, ...). */
  alias: string;
  sdk: string;
  major: 'v4' | 'v5';
  name: string;
  messages: LegacyContent[];
  /** What the converter itself makes of each message. */
  conversions: ContentConversion[];
  roomId: string;
  /** The memory id of each message, in the chat's order. */
  memoryIds: string[];
}

interface StoredEnvelope {
  id: string;
  role: 'user' | 'assistant';
  parts: Part[];
  metadata?: unknown;
}

const chats: Chat[] = (['v4', 'v5'] as const).flatMap((major) => {
  const dir = new URL(`../../fixtures/legacy-sdk/${major}/`, import.meta.url);
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .flatMap((file) => {
      const fixture = parseJson(readFileSync(new URL(file, dir), 'utf8')) as FixtureFile;
      const alias = file.slice(0, -'.json'.length);
      return fixture.chats.map((chat) => ({
        alias,
        sdk: fixture.sdk,
        major,
        name: chat.name,
        messages: chat.messages,
        conversions: chat.messages.map((message, index) => convertContent(`${alias} ${chat.name} ${index}`, message)),
        roomId: '',
        memoryIds: [],
      }));
    });
});

const totalMessages = chats.reduce((sum, chat) => sum + chat.messages.length, 0);
const conversions = chats.flatMap((chat) => chat.conversions);
/** The messages the converter finds empty: the only ones backfill may leave out. */
const expectedEmpty = conversions.filter((result) => !result.ok && result.reason === 'message_empty').length;

const PROVIDER_FETCHED_URLS = { '*/*': [/^https?:\/\//] };

/** Each legacy SDK's own replay (convertToCoreMessages), loaded live, for the SDKs whose messages carry parts. */
type ConvertToCoreMessages = (messages: unknown[]) => ReplayMessage[];
const SDKS_WITH_PARTS = ['ai-4-1-34', 'ai-4-2', 'ai-4-3'] as const;
const legacyConverters = new Map<string, ConvertToCoreMessages>(
  await Promise.all(
    SDKS_WITH_PARTS.map(async (alias) => [alias, ((await import(alias)) as { convertToCoreMessages: ConvertToCoreMessages }).convertToCoreMessages] as const),
  ),
);

describe('chats written by the real legacy AI SDKs, through Postgres and the CLI', () => {
  let env: Db;
  beforeAll(async () => {
    env = await createMigrationDatabase();
    const accountId = await insertAccount(env.pool, 'legacy sdk chats');
    const base = Date.parse('2025-06-01T00:00:00Z');
    for (const [c, chat] of chats.entries()) {
      chat.roomId = await insertRoom(env.pool, { accountId, topic: `${chat.sdk} ${chat.name}` });
      for (const [m, message] of chat.messages.entries()) {
        // One minute per chat, one second per message: the chat's order is its memories' updated_at.
        const updatedAt = new Date(base + c * 60_000 + m * 1_000).toISOString();
        chat.memoryIds.push(await insertMemory(env.pool, chat.roomId, stringifyJson(message), updatedAt));
      }
    }
  });
  afterAll(async () => env?.close());

  it('the fixtures hold the v4 and v5/v6 chats, and the converter leaves out only empty messages', () => {
    expect(chats.filter((chat) => chat.major === 'v4').length).toBeGreaterThan(0);
    expect(chats.filter((chat) => chat.major === 'v5').length).toBeGreaterThan(0);
    for (const result of conversions) if (!result.ok) expect(result.reason, result.detail).toBe('message_empty');
  });

  it('backfill writes every message but the empty ones; a rerun writes nothing; reconcile passes', async () => {
    const backfill = await runCli(['backfill', '--json', '--report-dir', 'reports-backfill'], { databaseUrl: env.db.url });
    expect(backfill.code, backfill.stderr).toBe(0);
    expect(backfill.json!.rooms).toMatchObject({ migrated: chats.length, failed: 0 });
    expect(backfill.json!.messages).toMatchObject({ written: totalMessages - expectedEmpty });
    expect(backfill.json!.reasons).toEqual(expectedEmpty === 0 ? {} : { message_empty: expectedEmpty });

    const rerun = await runCli(['backfill', '--json', '--report-dir', 'reports-rerun'], { databaseUrl: env.db.url });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.json!.rooms).toMatchObject({ failed: 0 });
    expect(rerun.json!.messages).toMatchObject({ written: 0 });

    const reconcile = await runCli(['reconcile', '--json', '--report-dir', 'reports-reconcile'], { databaseUrl: env.db.url });
    expect(reconcile.code, reconcile.stdout + reconcile.stderr).toBe(0);
  });

  for (const chat of chats) {
    it(`${chat.sdk} ${chat.name}: its stored messages validate, close every tool call, and ai@6.0.190 continues the chat`, async () => {
      const rows = await storedChat(env, chat);
      const kept = chat.memoryIds.filter((_, index) => chat.conversions[index]!.ok);
      expect(rows.map((row) => row.id)).toEqual(kept);

      for (const row of rows) expect(await validateEnvelope(row), row.id).toBeNull();
      const open = rows.flatMap((row) =>
        row.parts
          .filter((part) => isToolPart(part) && !FINAL_TOOL_STATES.includes(part.state ?? ''))
          .map((part) => `${row.id}: ${part.type} ${part.toolCallId} is ${part.state}`),
      );
      expect(open).toEqual([]);

      // The attachments' fixture URLs (files.example.com) do not resolve; a provider such as OpenAI or
      // Anthropic fetches http(s) files itself, so the model takes them rather than ai@6 downloading them.
      const continuation = await continueChat(rows as unknown as UIMessage[], { messages: rows }, { supportedUrls: PROVIDER_FETCHED_URLS });
      expect(continuation).toEqual({ errors: [], unansweredToolCalls: [], executedTools: [] });
    });
  }

  it('v4 multi-step messages, as stored, replay in ai@6 in the turns of the SDK that wrote them', async () => {
    const checked = new Map<string, number>();
    for (const chat of chats) {
      const convert = legacyConverters.get(chat.alias);
      if (convert === undefined) continue;
      const rows = new Map((await storedChat(env, chat)).map((row) => [row.id, row]));
      for (const [index, message] of chat.messages.entries()) {
        // Only what the SDK replays as it stored it: an open call (an aborted chat) must first be
        // closed as the converter closes it; test/unit/legacy-sdk-replay.test.ts covers those.
        if (!Array.isArray(message.parts) || !message.parts.every((part) => part.toolInvocation === undefined || part.toolInvocation.state === 'result')) continue;
        const expected = replayTurns(convert([message]));
        if (expected.filter((turn) => turn.role === 'assistant').length < 2) continue;
        const row = rows.get(chat.memoryIds[index]!);
        const title = `${chat.sdk} ${chat.name} message ${index}`;
        expect(row, title).toBeDefined();
        const replayed: ReplayTurn[] = replayTurns(await convertToModelMessages([row as unknown as UIMessage]));
        expect(replayed, title).toEqual(expected);
        checked.set(chat.alias, (checked.get(chat.alias) ?? 0) + 1);
      }
    }
    for (const alias of SDKS_WITH_PARTS) expect(checked.get(alias) ?? 0, alias).toBeGreaterThan(0);
  });
});

/** The chat's rows as the app reads them: in order. */
async function storedChat(env: Db, chat: Chat): Promise<StoredEnvelope[]> {
  const { rows } = await env.pool.query<{ parts: StoredEnvelope }>(
    'select parts from chat_messages where chat_id = $1 order by created_at, id',
    [chat.roomId],
  );
  return rows.map((row) => row.parts);
}
