import { readdirSync, readFileSync } from 'node:fs';
import type { UIMessage } from 'ai';
import { describe, expect, it } from 'vitest';
import { convertContent, validateEnvelope } from '../../src/migration/convert.ts';
import { parseJson } from '../../src/migration/json.ts';
import { continueChat, FINAL_TOOL_STATES, isToolPart, type Part } from '../support/continuation.ts';

/**
 * Chats recorded with the real AI SDKs 5.0.0-beta.25, 5.0.48 and 6.0.0-beta.99
 * (fixtures/legacy-sdk/generate-v5.ts), converted: each must be a chat that ai@6.0.190 continues.
 */

interface StoredMessage {
  id: string;
  role: 'user' | 'assistant';
  parts: Part[];
  content: string;
}

interface StoredChat {
  name: string;
  messages: StoredMessage[];
}

interface FixtureFile {
  sdk: string;
  generator: string;
  chats: StoredChat[];
}

const FIXTURE_DIR = new URL('../../fixtures/legacy-sdk/v5/', import.meta.url);

const fixtures = readdirSync(FIXTURE_DIR)
  .filter((file) => file.endsWith('.json'))
  .sort()
  .map((file) => parseJson(readFileSync(new URL(file, FIXTURE_DIR), 'utf8')) as FixtureFile);

describe('legacy v5/v6 SDK fixtures', () => {
  it('hold the chats of 5.0.0-beta.25, 5.0.48 and 6.0.0-beta.99', () => {
    expect(fixtures.map((file) => file.sdk)).toEqual(['ai@5.0.0-beta.25', 'ai@5.0.48', 'ai@6.0.0-beta.99']);
    for (const file of fixtures) expect(file.chats.length).toBeGreaterThan(0);
  });
});

for (const { sdk, chats } of fixtures) {
  for (const chat of chats) {
    describe(`${sdk} ${chat.name}`, () => {
      const conversions = chat.messages.map((stored) => ({ stored, result: convertContent(memoryId(stored), stored) }));
      const converted = conversions.flatMap(({ stored, result }) => (result.ok ? [{ stored, message: result.message as UIMessage }] : []));

      it('every message converts and ai@6.0.190 validates it', async () => {
        for (const { stored, result } of conversions) {
          if (!result.ok) {
            expect(result, stored.id).toMatchObject({ reason: 'message_empty' });
            expect(stored.parts.filter((part) => part.type === 'text' || isToolPart(part)), stored.id).toEqual([]);
            continue;
          }
          expect(await validateEnvelope(result.message), stored.id).toBeNull();
        }
      });

      it('every tool call is in a final state', () => {
        const open = converted.flatMap(({ message }) =>
          (message.parts as Part[])
            .filter((part) => isToolPart(part) && !FINAL_TOOL_STATES.includes(part.state ?? ''))
            .map((part) => `${message.id}: ${part.type} ${part.toolCallId} is ${part.state}`),
        );
        expect(open).toEqual([]);
      });

      it('no text and no tool call is lost', () => {
        for (const { stored, message } of converted) {
          const parts = message.parts as Part[];
          for (const text of texts(stored.parts)) expect(texts(parts), stored.id).toContain(text);
          for (const id of toolCallIds(stored.parts)) expect(toolCallIds(parts), stored.id).toContain(id);
        }
      });

      it('ai@6.0.190 continues the chat without running a tool', async () => {
        const messages = converted.map(({ message }) => message);
        expect(await continueChat(messages, chat)).toEqual({ errors: [], unansweredToolCalls: [], executedTools: [] });
        // Resumed as it stands (no new question), up to each assistant message: where an open approval would run.
        for (const [index, { message }] of converted.entries()) {
          if (message.role !== 'assistant') continue;
          const resumed = await continueChat(messages.slice(0, index + 1), chat, { askAgain: false });
          expect(resumed.executedTools, message.id).toEqual([]);
        }
      });
    });
  }
}

describe('the continuation check (negative controls)', () => {
  it('fails over a raw stored input-available tool part, which ai@6.0.190 validates', async () => {
    const { chat, upTo } = firstStoredWith('input-available');
    const raw = chat.messages.slice(0, upTo + 1).map(unconverted);
    for (const message of raw) expect(await validateEnvelope(message)).toBeNull();
    const { errors } = await continueChat(raw, chat);
    expect(errors).toContainEqual(expect.stringMatching(/^AI_MissingToolResultsError: /));
  });

  it('finds the call without a result in the prompt of a raw approved-but-never-run tool part', async () => {
    // ai@6.0.190 raises no error here (an answered approval exempts the call from its check) and sends
    // the call without a result, which a real provider rejects.
    const { chat, upTo } = firstStoredWith('approval-responded');
    const raw = chat.messages.slice(0, upTo + 1).map(unconverted);
    for (const message of raw) expect(await validateEnvelope(message)).toBeNull();
    const continuation = await continueChat(raw, chat);
    expect(continuation.errors).toEqual([]);
    expect(continuation.unansweredToolCalls).toHaveLength(1);
  });

  it('runs the tool of a raw approved-but-never-run part when the chat is resumed as it stands', async () => {
    const { chat, upTo } = firstStoredWith('approval-responded');
    const raw = chat.messages.slice(0, upTo + 1).map(unconverted);
    const resumed = await continueChat(raw, chat, { askAgain: false });
    expect(resumed.executedTools).toHaveLength(1);
  });
});

// --- Conversion -----------------------------------------------------------------------------------

function memoryId(stored: StoredMessage): string {
  return `memory-${stored.id}`;
}

function texts(parts: Part[]): string[] {
  return parts.flatMap((part) => (part.type === 'text' && typeof part.text === 'string' && part.text.trim() !== '' ? [part.text] : []));
}

function toolCallIds(parts: Part[]): string[] {
  return parts.flatMap((part) => (isToolPart(part) && typeof part.toolCallId === 'string' ? [part.toolCallId] : []));
}

/** The stored parts as they are: valid v6 parts, not converted. */
function unconverted({ id, role, parts }: StoredMessage): UIMessage {
  return { id, role, parts } as UIMessage;
}

function firstStoredWith(state: string): { chat: StoredChat; upTo: number } {
  for (const { chats } of fixtures) {
    for (const chat of chats) {
      const upTo = chat.messages.findIndex((message) => message.parts.some((part) => isToolPart(part) && part.state === state));
      if (upTo !== -1) return { chat, upTo };
    }
  }
  throw new Error(`no stored message has a tool part in ${state}`);
}
