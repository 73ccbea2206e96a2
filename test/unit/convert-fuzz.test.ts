/**
 * Property tests over thousands of generated inputs, from a fixed seed so every run sees the same ones:
 * the converter never throws, is deterministic, does not modify its input, writes only JSON, agrees with
 * the AI SDK's validator, and is a no-op on its own output. Legacy (v4) shapes with well-typed fields
 * must always convert to a valid v6 message.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  convertContent,
  convertMemory,
  repairStoredParts,
  validateEnvelope,
  type ContentConversion,
} from '../../src/migration/convert.ts';
import { canonicalJson, isJsonObject, jsonEqual, parseJson, stringifyJson } from '../../src/migration/json.ts';

type Random = () => number;

/** mulberry32: small, fast, good enough to pick test cases. */
function createRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(random: Random, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

const STRINGS = [
  '', ' ', '\n\t', 'hello', 'Résumé 🎧 — 東京', '[object Object]', '[object Object],[object Object]',
  'user', 'assistant', 'system', 'text', 'tool-x', 'data:image/png;base64,AAAA', 'https://example.com/a.png',
  'AAAA', 'streaming', 'done', 'result', 'call', 'toolu_1', '{"role":"user"}', '__proto__',
];
const KEYS = [
  'role', 'parts', 'content', 'type', 'text', 'state', 'toolInvocation', 'toolInvocations', 'toolCallId', 'toolName',
  'args', 'result', 'input', 'output', 'errorText', 'details', 'reasoning', 'signature', 'data', 'source', 'url', 'id',
  'mimeType', 'mediaType', 'experimental_attachments', 'metadata', 'createdAt', 'annotations', 'step', 'approval',
  'providerMetadata', 'name', 'contentType', 'title', '__proto__',
];
const BIG_NUMBERS = ['12345678901234567890', '-9223372036854775809', '0.12345678901234567890123', '1e400'];

function randomNumber(random: Random): unknown {
  const roll = random();
  if (roll < 0.1) return parseJson(pick(random, BIG_NUMBERS));
  if (roll < 0.5) return Math.floor(random() * 100) - 10;
  return Math.round(random() * 1e6) / 1000;
}

function randomJson(random: Random, depth: number): unknown {
  const roll = random();
  if (depth <= 0 || roll < 0.35) {
    const scalar = random();
    if (scalar < 0.15) return null;
    if (scalar < 0.25) return random() < 0.5;
    if (scalar < 0.45) return randomNumber(random);
    return pick(random, STRINGS);
  }
  if (roll < 0.6) return Array.from({ length: Math.floor(random() * 4) }, () => randomJson(random, depth - 1));
  const object: Record<string, unknown> = {};
  const size = Math.floor(random() * 5);
  for (let i = 0; i < size; i++) object[pick(random, KEYS)] = randomJson(random, depth - 1);
  return object;
}

function randomText(random: Random): string {
  return random() < 0.15 ? pick(random, ['', '  ', '\n']) : pick(random, STRINGS.slice(3)) + Math.floor(random() * 1000);
}

function randomArgs(random: Random): unknown {
  const roll = random();
  if (roll < 0.1) return null;
  if (roll < 0.2) return undefined;
  return { query: randomText(random), id: randomNumber(random), nested: [randomNumber(random), randomText(random)] };
}

/** A v4 part with every field of the right JSON type (values random). */
function randomV4Part(random: Random): Record<string, unknown> {
  switch (Math.floor(random() * 6)) {
    case 0:
      return { type: 'text', text: randomText(random) };
    case 1: {
      const details = Array.from({ length: Math.floor(random() * 3) }, () =>
        random() < 0.7
          ? { type: 'text', text: randomText(random), ...(random() < 0.5 ? { signature: 'sig' + Math.floor(random() * 99) } : {}) }
          : { type: 'redacted', data: random() < 0.9 ? 'RED' + Math.floor(random() * 99) : '' },
      );
      return { type: 'reasoning', reasoning: randomText(random), ...(random() < 0.7 ? { details } : {}) };
    }
    case 2:
      return { type: 'tool-invocation', toolInvocation: randomInvocation(random) };
    case 3: {
      const source: Record<string, unknown> = { sourceType: 'url', id: 'src' + Math.floor(random() * 9), url: 'https://example.com/' + Math.floor(random() * 99) };
      if (random() < 0.5) source.title = randomText(random);
      if (random() < 0.3) source.providerMetadata = { perplexity: { rank: randomNumber(random) } };
      return { type: 'source', source };
    }
    case 4:
      return { type: 'file', mimeType: pick(random, ['image/png', 'application/pdf']), data: pick(random, ['iVBORw0KGgo=', 'https://example.com/f.pdf', 'data:text/plain;base64,aGk=']) };
    default:
      return { type: 'step-start' };
  }
}

function randomInvocation(random: Random): Record<string, unknown> {
  const invocation: Record<string, unknown> = {
    state: pick(random, ['result', 'call', 'partial-call']),
    step: Math.floor(random() * 3),
    toolCallId: 'call_' + Math.floor(random() * 1e6),
    toolName: pick(random, ['get_artist_socials', 'searchWeb', 'mcp-tool.v2', 'ünïcode']),
  };
  const args = randomArgs(random);
  if (args !== undefined) invocation.args = args;
  if (random() < 0.7) invocation.result = random() < 0.5 ? randomJson(random, 3) : randomNumber(random);
  return invocation;
}

/** A legacy (S0–S3) message whose fields all have the types the v4 SDK gave them. */
function randomLegacyMessage(random: Random): Record<string, unknown> {
  const message: Record<string, unknown> = { role: pick(random, ['user', 'assistant']), content: randomText(random) };
  if (random() < 0.6) message.parts = Array.from({ length: Math.floor(random() * 6) }, () => randomV4Part(random));
  if (random() < 0.3) message.toolInvocations = Array.from({ length: Math.floor(random() * 3) }, () => randomInvocation(random));
  if (random() < 0.2) message.reasoning = randomText(random);
  if (random() < 0.2) {
    message.experimental_attachments = Array.from({ length: 1 + Math.floor(random() * 2) }, () => ({
      name: 'f' + Math.floor(random() * 9) + '.png',
      ...(random() < 0.7 ? { contentType: 'image/png' } : {}),
      url: 'https://example.com/f.png',
    }));
  }
  if (random() < 0.3) message.id = 'msg-' + Math.floor(random() * 1e6);
  if (random() < 0.3) message.createdAt = '2025-03-01T00:00:00.000Z';
  if (random() < 0.1) message.annotations = [randomJson(random, 2)];
  return message;
}

const V5_TYPES = ['tool-x', 'dynamic-tool', 'source-url', 'source-document', 'file', 'data-x', 'text', 'reasoning', 'widget'];
const TOOL_STATES = [
  'input-streaming', 'input-available', 'approval-requested', 'approval-responded', 'output-available', 'output-error',
  'output-denied', 'streaming', 'done',
];

/** A v5/v6-looking part: a real type and state, with random fields. */
function randomV5Part(random: Random): Record<string, unknown> {
  const part: Record<string, unknown> = { type: pick(random, V5_TYPES), state: pick(random, TOOL_STATES) };
  const size = Math.floor(random() * 4);
  for (let i = 0; i < size; i++) part[pick(random, KEYS)] = randomJson(random, 2);
  if (random() < 0.7) part.toolCallId = 'c' + Math.floor(random() * 99);
  if (random() < 0.5) part.text = randomText(random);
  return part;
}

/** A message-like object: real roles and part types, with random junk mixed in. */
function randomMessageLike(random: Random): Record<string, unknown> {
  const message = random() < 0.5 ? randomLegacyMessage(random) : {};
  if (random() < 0.3) message.role = pick(random, ['user', 'assistant', 'system', 'data', '', 7, null]);
  if (random() < 0.5) {
    message.parts = Array.from({ length: Math.floor(random() * 5) }, () =>
      random() < 0.4 ? randomV4Part(random) : random() < 0.8 ? randomV5Part(random) : randomJson(random, 3),
    );
  }
  if (random() < 0.3) message.content = randomJson(random, 2);
  if (random() < 0.2) message.metadata = randomJson(random, 2);
  return message;
}

/** 1–3 random edits at random places inside a copy of a value. */
function mutate(random: Random, value: unknown): unknown {
  const copy = parseJson(stringifyJson(value));
  const edits = 1 + Math.floor(random() * 3);
  let root = copy;
  for (let i = 0; i < edits; i++) root = mutateAt(random, root);
  return root;
}

function mutateAt(random: Random, value: unknown): unknown {
  const containers: Array<Record<string, unknown> | unknown[]> = [];
  collectContainers(value, containers);
  if (containers.length === 0 || random() < 0.03) return randomJson(random, 2);
  const target = pick(random, containers);
  if (Array.isArray(target)) {
    const index = Math.floor(random() * (target.length + 1));
    const roll = random();
    if (roll < 0.3 && target.length > 0) target.splice(Math.min(index, target.length - 1), 1);
    else if (roll < 0.6 && target.length > 0) target.splice(index, 0, target[Math.min(index, target.length - 1)]);
    else target.splice(index, 0, randomJson(random, 2));
    return value;
  }
  const keys = Object.keys(target);
  const roll = random();
  if (roll < 0.3 && keys.length > 0) delete target[pick(random, keys)];
  else if (roll < 0.5 && keys.length > 0) target[pick(random, keys)] = null;
  else if (roll < 0.8 && keys.length > 0) target[pick(random, keys)] = randomJson(random, 2);
  else target[pick(random, KEYS)] = random() < 0.5 ? pick(random, STRINGS) : randomJson(random, 2);
  return value;
}

function collectContainers(value: unknown, into: Array<Record<string, unknown> | unknown[]>): void {
  if (Array.isArray(value)) {
    into.push(value);
    value.forEach((item) => collectContainers(item, into));
  } else if (isJsonObject(value)) {
    into.push(value);
    Object.values(value).forEach((item) => collectContainers(item, into));
  }
}

function loadFixtureContents(): unknown[] {
  const dir = new URL('../../fixtures/messages/', import.meta.url);
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => (parseJson(readFileSync(new URL(file, dir), 'utf8')) as { memory: { content: unknown } }).memory.content);
}

/** Everything that must hold for any input; returns the validated outcome for statistics. */
async function checkInvariants(label: string, id: string, content: unknown): Promise<string> {
  const inputBefore = canonicalJson(content ?? null);
  const first = convertContent(id, content);
  const second = convertContent(id, content);
  expect(canonicalJson(second), `${label}: deterministic`).toBe(canonicalJson(first));
  // fix-parts compares with jsonEqual: it must agree with canonicalJson on every generated value.
  expect(jsonEqual(second, first), `${label}: jsonEqual sees the same conversion`).toBe(true);
  expect(jsonEqual(content ?? null, first.ok ? first.message : null), `${label}: jsonEqual agrees`).toBe(
    canonicalJson(content ?? null) === canonicalJson(first.ok ? first.message : null),
  );
  expect(canonicalJson(content ?? null), `${label}: input untouched`).toBe(inputBefore);

  if (!first.ok) {
    expect(first.detail, `${label}: no converter bug`).not.toMatch(/^converter error/);
    return first.reason;
  }
  const written = canonicalJson(first.message);
  expect(canonicalJson(parseJson(stringifyJson(first.message))), `${label}: pure JSON`).toBe(written);
  expectSameMessage(convertContent(id, first.message), written, `${label}: re-conversion`);
  expectSameMessage(repairStoredParts(id, first.message.role, first.message), written, `${label}: repair`);

  const problem = await validateEnvelope(first.message);
  const memory = await convertMemory({ id, content, updatedAt: new Date(0) });
  // fix-parts rebuilds the script's value of a row from the same parsed content after converting it.
  expect(canonicalJson(content ?? null), `${label}: input untouched by convertMemory`).toBe(inputBefore);
  if (problem === null) {
    expect(memory.ok && canonicalJson(memory.message), `${label}: convertMemory agrees`).toBe(written);
    return 'ok';
  }
  expect(memory, `${label}: convertMemory agrees`).toMatchObject({ ok: false, reason: 'message_invalid' });
  return 'message_invalid';
}

function expectSameMessage(conversion: ContentConversion, expected: string, label: string): void {
  if (!conversion.ok) throw new Error(`${label}: skipped as ${conversion.reason}: ${conversion.detail}`);
  expect(canonicalJson(conversion.message), label).toBe(expected);
}

function count(outcomes: Map<string, number>, outcome: string): void {
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
}

describe('converter properties', () => {
  it('holds for thousands of random JSON values', async () => {
    const random = createRandom(0x5eed_0001);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const content = i % 3 === 0 ? randomJson(random, 4) : randomMessageLike(random);
      count(outcomes, await checkInvariants(`random #${i}`, `mem-${i}`, content));
    }
    // The generator must reach every branch, or the properties above prove little.
    for (const outcome of ['ok', 'message_malformed', 'message_unsupported_role', 'message_empty', 'message_invalid']) {
      expect(outcomes.get(outcome) ?? 0, outcome).toBeGreaterThan(20);
    }
  });

  it('always gives a valid message for well-typed legacy (v4) messages', async () => {
    const random = createRandom(0x5eed_0002);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const content = randomLegacyMessage(random);
      const outcome = await checkInvariants(`legacy #${i}`, `mem-${i}`, content);
      expect(outcome, `legacy #${i}: ${stringifyJson(content)}`).not.toBe('message_invalid');
      expect(outcome, `legacy #${i}`).not.toBe('message_malformed');
      count(outcomes, outcome);
    }
    expect(outcomes.get('ok') ?? 0).toBeGreaterThan(2000);
    expect(outcomes.get('message_empty') ?? 0).toBeGreaterThan(0);
  });

  it('holds for random mutations of the fixtures', async () => {
    const random = createRandom(0x5eed_0003);
    const contents = loadFixtureContents();
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const content = mutate(random, pick(random, contents));
      count(outcomes, await checkInvariants(`mutation #${i}`, `mem-${i}`, content));
    }
    expect(outcomes.get('ok') ?? 0).toBeGreaterThan(500);
  });
});
