import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { convertToModelMessages, type UIMessage } from 'ai';
import { describe, expect, it } from 'vitest';
import { convertContent, validateEnvelope } from '../../src/migration/convert.ts';
import { parseJson } from '../../src/migration/json.ts';
import { replayTurns, type ReplayMessage, type ReplayTurn } from '../support/replay-turns.ts';

/**
 * Messages written by the legacy AI SDKs themselves (fixtures/legacy-sdk/generate-v4.ts), converted to
 * v6: ai@6 must replay each one to a model as the SDK that wrote it did.
 */

const LEGACY_SDKS = ['ai-3-4', 'ai-4-1-19', 'ai-4-1-34', 'ai-4-2', 'ai-4-3'] as const;
type LegacySdk = (typeof LEGACY_SDKS)[number];
/** The SDKs whose messages carry parts (ai 4.1.20 and later). */
const SDKS_WITH_PARTS: LegacySdk[] = ['ai-4-1-34', 'ai-4-2', 'ai-4-3'];

const FIXTURE_DIR = new URL('../../fixtures/legacy-sdk/v4/', import.meta.url);
const requireHere = createRequire(import.meta.url);

interface ToolInvocation {
  state?: string;
  step?: number;
  toolCallId?: string;
  result?: unknown;
}

interface LegacyPart {
  type: string;
  text?: string;
  toolInvocation?: ToolInvocation;
}

interface LegacyMessage {
  id: string;
  role: string;
  content?: unknown;
  parts?: LegacyPart[];
  toolInvocations?: ToolInvocation[];
}

interface FixtureFile {
  sdk: string;
  generator: string;
  chats: { name: string; messages: LegacyMessage[] }[];
}

function readFixture(sdk: LegacySdk): FixtureFile {
  return parseJson(readFileSync(new URL(`${sdk}.json`, FIXTURE_DIR), 'utf8')) as FixtureFile;
}

function installedVersion(sdk: LegacySdk): string {
  const packageJson = readFileSync(requireHere.resolve(`${sdk}/package.json`), 'utf8');
  return (JSON.parse(packageJson) as { version: string }).version;
}

// Each legacy SDK's own replay, loaded live: the version that wrote a message replays it.
type ConvertToCoreMessages = (messages: unknown[]) => ReplayMessage[];
const legacyConverters = new Map<LegacySdk, ConvertToCoreMessages>(
  await Promise.all(
    LEGACY_SDKS.map(async (sdk) => [sdk, ((await import(sdk)) as { convertToCoreMessages: ConvertToCoreMessages }).convertToCoreMessages] as const),
  ),
);

/**
 * The converter closes a call that never returned ('call', 'partial-call') as output-error, which ai@6
 * replays as the call and an error result. The legacy SDKs refuse to replay an open call
 * (MessageConversionError), so their side is replayed with the call closed the same way. (createdAt
 * stays an ISO string: convertToCoreMessages never reads it.)
 */
function legacyReplay(sdk: LegacySdk, message: LegacyMessage): ReplayTurn[] {
  return replayTurns(legacyConverters.get(sdk)!([closeOpenCalls(message)]));
}

function closeOpenCalls(message: LegacyMessage): LegacyMessage {
  const close = (invocation: ToolInvocation): ToolInvocation =>
    'result' in invocation ? invocation : { ...invocation, state: 'result', result: 'interrupted' };
  return {
    ...message,
    toolInvocations: message.toolInvocations?.map(close),
    parts: message.parts?.map((part) =>
      part.toolInvocation === undefined ? part : { ...part, toolInvocation: close(part.toolInvocation) },
    ),
  };
}

/**
 * A message without parts (ai 3.4, ai 4.1.19 and earlier) is not held to its own SDK's replay (which
 * put the text before the first step's calls when the message was the last one, and 3.4 lumped every
 * call into one step) but to the rebuild the shared spec message-shapes.md documents in its row "no
 * parts, top-level toolInvocations": tool parts by step, a step-start between steps, then the reasoning,
 * then the text. Replayed: per step, in ascending `step` order, an assistant turn with its calls and a
 * tool turn with their results (an unanswered call too: the converter closes it with an error result),
 * then one assistant turn with the content text when it is not blank. A user message: one user turn.
 */
function expectedTurnsWithoutParts(message: LegacyMessage): ReplayTurn[] {
  const text = typeof message.content === 'string' ? message.content.trim() : '';
  const textItems = text === '' ? [] : [`text:${text}`];
  if (message.role === 'user') return [{ role: 'user', items: textItems }];
  const turns: ReplayTurn[] = [];
  for (const invocations of invocationsByStep(message.toolInvocations ?? [])) {
    turns.push({ role: 'assistant', items: invocations.map((invocation) => `call:${invocation.toolCallId}`) });
    turns.push({ role: 'tool', items: invocations.map((invocation) => `result:${invocation.toolCallId}`) });
  }
  if (textItems.length > 0) turns.push({ role: 'assistant', items: textItems });
  return turns;
}

function invocationsByStep(invocations: readonly ToolInvocation[]): ToolInvocation[][] {
  const steps = new Map<number, ToolInvocation[]>();
  for (const invocation of invocations) {
    const step = invocation.step ?? 0;
    steps.set(step, [...(steps.get(step) ?? []), invocation]);
  }
  return [...steps.entries()].sort(([a], [b]) => a - b).map(([, stepInvocations]) => stepInvocations);
}

const cases = LEGACY_SDKS.flatMap((sdk) => {
  const fixture = readFixture(sdk);
  return fixture.chats.flatMap((chat) =>
    chat.messages.map((message, index) => ({
      title: `${fixture.sdk} › ${chat.name} › message ${index} (${message.role})`,
      sdk,
      message,
    })),
  );
});

describe('legacy SDK messages replay in ai@6 as in the SDK that wrote them', () => {
  // A loop, not it.each: it.each cuts interpolated titles short.
  for (const { title, sdk, message } of cases) {
    it(title, () => expectSameReplay(sdk, message));
  }
});

async function expectSameReplay(sdk: LegacySdk, message: LegacyMessage): Promise<void> {
  const converted = convertContent(message.id, message);
  if (!converted.ok) {
    expect(converted.reason, converted.detail).toBe('message_empty');
    expect(legacyReplay(sdk, message).flatMap((turn) => turn.items)).toEqual([]);
    return;
  }
  expect(await validateEnvelope(converted.message)).toBeNull();

  const v6 = replayTurns(await convertToModelMessages([converted.message as unknown as UIMessage]));
  const expected = Array.isArray(message.parts) ? legacyReplay(sdk, message) : expectedTurnsWithoutParts(message);
  expect(v6).toEqual(expected);
}

describe('the legacy SDK fixtures', () => {
  it.each(LEGACY_SDKS)('%s: the fixture file exists and was written by that SDK version', (sdk) => {
    const fixture = readFixture(sdk);
    expect(fixture.sdk).toBe(`ai@${installedVersion(sdk)}`);
    expect(fixture.chats.length).toBeGreaterThan(0);
  });

  it.each(SDKS_WITH_PARTS)('%s: holds a multi-step answer with text before and after a tool call', (sdk) => {
    const messages = readFixture(sdk).chats.flatMap((chat) => chat.messages);
    expect(messages.some(hasTextAroundToolCall)).toBe(true);
  });
});

function hasTextAroundToolCall(message: LegacyMessage): boolean {
  const kinds = (message.parts ?? []).flatMap((part) => {
    if (part.type === 'text' && part.text?.trim()) return ['text'];
    return part.type === 'tool-invocation' ? ['tool'] : [];
  });
  const firstText = kinds.indexOf('text');
  const lastText = kinds.lastIndexOf('text');
  return message.role === 'assistant' && firstText !== -1 && kinds.slice(firstText + 1, lastText).includes('tool');
}
