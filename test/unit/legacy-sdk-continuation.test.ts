import { readdirSync, readFileSync } from 'node:fs';
import { convertToModelMessages, dynamicTool, jsonSchema, simulateReadableStream, streamText, tool, type ToolSet, type UIMessage } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { describe, expect, it } from 'vitest';
import { convertContent, validateEnvelope } from '../../src/migration/convert.ts';
import { parseJson } from '../../src/migration/json.ts';

/**
 * Chats recorded with the real AI SDKs 5.0.0-beta.25, 5.0.48 and 6.0.0-beta.99
 * (fixtures/legacy-sdk/generate-v5.ts), converted: each must be a chat that ai@6.0.190 continues.
 */

interface Part {
  type: string;
  state?: string;
  text?: string;
  toolCallId?: string;
  toolName?: string;
  approval?: unknown;
}

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
const FINAL_TOOL_STATES = ['output-available', 'output-error', 'output-denied'];

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
        const continuation = await continueChat(converted.map(({ message }) => message), chat);
        expect(continuation).toEqual({ errors: [], unansweredToolCalls: [], executedTools: [] });
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
});

// --- Conversion -----------------------------------------------------------------------------------

function memoryId(stored: StoredMessage): string {
  return `memory-${stored.id}`;
}

function isToolPart(part: Part): boolean {
  return part.type === 'dynamic-tool' || part.type.startsWith('tool-');
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

// --- Continuation ---------------------------------------------------------------------------------

interface Continuation {
  /** Every error streamText reported (onError, the stream, or a rejected result), as `name: message`. */
  errors: string[];
  /** Tool calls the model was sent without their result: OpenAI and Anthropic reject such a prompt. */
  unansweredToolCalls: string[];
  executedTools: string[];
}

/** The user asks one more question in the chat; the model answers with text. */
async function continueChat(messages: UIMessage[], chat: StoredChat): Promise<Continuation> {
  const executedTools: string[] = [];
  const prompts: unknown[] = [];
  const model = new MockLanguageModelV3({
    doStream: async ({ prompt }) => {
      prompts.push(prompt);
      return { stream: simulateReadableStream({ chunks: ANSWER, initialDelayInMs: null, chunkDelayInMs: null }) };
    },
  });
  const tools = chatTools(chat, (name) => executedTools.push(name));
  const errors = new Set<unknown>();
  try {
    const result = streamText({
      model,
      messages: [...(await convertToModelMessages(messages, { tools })), { role: 'user', content: 'and now?' }],
      tools,
      onError: ({ error }) => void errors.add(error),
    });
    for await (const part of result.fullStream) if (part.type === 'error') errors.add(part.error);
    await result.text;
  } catch (error) {
    errors.add(error);
  }
  return { errors: [...errors].map(describeError), unansweredToolCalls: prompts.flatMap(unansweredToolCalls), executedTools };
}

const ANSWER = [
  { type: 'stream-start' as const, warnings: [] },
  { type: 'text-start' as const, id: 'answer' },
  { type: 'text-delta' as const, id: 'answer', delta: 'Here is where we are.' },
  { type: 'text-end' as const, id: 'answer' },
  {
    type: 'finish' as const,
    finishReason: { unified: 'stop' as const, raw: 'stop' },
    usage: {
      inputTokens: { total: 10, noCache: 10, cacheRead: undefined, cacheWrite: undefined },
      outputTokens: { total: 5, text: 5, reasoning: undefined },
    },
  },
];

/**
 * The chat's tools, each able to run: with needsApproval where the chat asked for approval, so that
 * the SDK would run an approved call it found open. None may run.
 */
function chatTools(chat: StoredChat, onExecute: (name: string) => void): ToolSet {
  const tools: ToolSet = {};
  const parts = chat.messages.flatMap((message) => message.parts).filter(isToolPart);
  for (const part of parts) {
    const name = part.type === 'dynamic-tool' ? String(part.toolName) : part.type.slice('tool-'.length);
    const needsApproval = parts.some((other) => other.type === part.type && other.toolName === part.toolName && other.approval !== undefined);
    const execute = async () => {
      onExecute(name);
      return { ranDuringContinuation: true };
    };
    const inputSchema = jsonSchema({ type: 'object' });
    tools[name] = part.type === 'dynamic-tool' ? dynamicTool({ inputSchema, execute }) : tool({ inputSchema, execute, needsApproval });
  }
  return tools;
}

interface PromptMessage {
  role: string;
  content: unknown;
}

interface PromptPart {
  type: string;
  toolCallId?: string;
  providerExecuted?: boolean;
}

/** The ids of client tool calls in the prompt that no tool result answers before the next user turn. */
function unansweredToolCalls(prompt: unknown): string[] {
  const unanswered: string[] = [];
  const pending = new Set<string>();
  for (const message of prompt as PromptMessage[]) {
    const parts = Array.isArray(message.content) ? (message.content as PromptPart[]) : [];
    if (message.role === 'user') {
      unanswered.push(...pending);
      pending.clear();
    }
    for (const part of parts) {
      if (part.type === 'tool-call' && part.providerExecuted !== true) pending.add(String(part.toolCallId));
      if (part.type === 'tool-result') pending.delete(String(part.toolCallId));
    }
  }
  return [...unanswered, ...pending];
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
