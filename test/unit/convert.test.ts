import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  convertContent,
  convertMemory,
  convertPartsOnly,
  repairStoredParts,
  validateEnvelope,
  type MemoryInput,
  type UIMessageEnvelope,
} from '../../src/migration/convert.ts';
import { canonicalJson, isJsonObject, parseJson, stringifyJson } from '../../src/migration/json.ts';
import { MESSAGE_SKIP_REASONS, type MessageSkipReason } from '../../src/migration/reasons.ts';
import { valueFreeDetail } from '../../src/migration/skip-details.ts';

interface MessageFixture {
  name: string;
  shape: string;
  memory: MemoryInput;
  expected: { message: UIMessageEnvelope } | { skip: MessageSkipReason; detailIncludes?: string };
}

const FIXTURE_DIR = new URL('../../fixtures/messages/', import.meta.url);

function loadFixtures(): MessageFixture[] {
  return readdirSync(FIXTURE_DIR)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => {
      const raw = parseJson(readFileSync(new URL(file, FIXTURE_DIR), 'utf8')) as {
        name: string;
        shape: string;
        memory: { id: string; content: unknown; updatedAt: string };
        expected: MessageFixture['expected'];
      };
      return { ...raw, memory: { ...raw.memory, updatedAt: new Date(raw.memory.updatedAt) } };
    });
}

const fixtures = loadFixtures();
const convertible = fixtures.filter((fixture) => 'message' in fixture.expected);

describe('convertMemory on the fixtures', () => {
  it('covers every shape and every message skip reason', () => {
    const shapes = new Set(fixtures.map((fixture) => fixture.shape));
    expect([...shapes].sort()).toEqual(['S0', 'S1', 'S2', 'S3', 'S4', 'S5', 'fault']);
    const reasons = new Set(fixtures.flatMap((fixture) => ('skip' in fixture.expected ? [fixture.expected.skip] : [])));
    expect([...reasons].sort()).toEqual([...MESSAGE_SKIP_REASONS].sort());
  });

  it.each(fixtures)('$name', async ({ memory, expected }) => {
    const contentBefore = canonicalJson(memory.content);
    const result = await convertMemory(memory);
    expect(canonicalJson(memory.content)).toBe(contentBefore);

    if ('skip' in expected) {
      expect(result).toMatchObject({ ok: false, reason: expected.skip });
      if (!result.ok && expected.detailIncludes !== undefined) expect(result.detail).toContain(expected.detailIncludes);
      return;
    }
    if (!result.ok) throw new Error(`expected a message, got ${result.reason}: ${result.detail}`);
    expect(canonicalJson(result.message)).toBe(canonicalJson(expected.message));
    expect(result.createdAt).toEqual(memory.updatedAt);
    expect(await validateEnvelope(result.message)).toBeNull();
    // Nothing in it is lost on the way through JSON (no undefined values, numbers exact).
    expect(canonicalJson(parseJson(stringifyJson(result.message)))).toBe(canonicalJson(result.message));
  });
});

describe('re-conversion (what fix-parts relies on)', () => {
  it.each(convertible)('$name: converting the output again gives the same envelope', ({ memory }) => {
    const first = convertContent(memory.id, memory.content);
    if (!first.ok) throw new Error(first.detail);
    const again = convertContent(memory.id, first.message);
    const repaired = repairStoredParts(memory.id, first.message.role, first.message);
    expect(again.ok && canonicalJson(again.message)).toBe(canonicalJson(first.message));
    expect(repaired.ok && canonicalJson(repaired.message)).toBe(canonicalJson(first.message));
  });

  it('repairs a bare array of v4 parts, as the original script stored them', () => {
    const stored = [
      { type: 'text', text: 'Looking it up' },
      {
        type: 'tool-invocation',
        toolInvocation: { state: 'result', toolCallId: 'c1', toolName: 'lookup', args: { q: 'x' }, result: [1] },
      },
    ];
    const repaired = repairStoredParts('m-1', 'assistant', stored);
    expect(repaired).toEqual({
      ok: true,
      message: {
        id: 'm-1',
        role: 'assistant',
        parts: [
          { type: 'text', text: 'Looking it up' },
          { type: 'tool-lookup', toolCallId: 'c1', state: 'output-available', input: { q: 'x' }, output: [1] },
        ],
      },
    });
    expect(convertPartsOnly('m-1', 'assistant', stored)).toEqual(repaired);
  });

  it('repairs an envelope with v4 parts, taking the role from the row', () => {
    const stored = { id: 'm-2', role: 'assistant', parts: [{ type: 'reasoning', reasoning: 'hmm' }, { type: 'text', text: 'hi' }] };
    expect(repairStoredParts('m-2', 'user', stored)).toEqual({
      ok: true,
      message: { id: 'm-2', role: 'user', parts: [{ type: 'reasoning', text: 'hmm' }, { type: 'text', text: 'hi' }] },
    });
  });

  it('calls a stored value that is neither an array nor an object malformed', () => {
    expect(repairStoredParts('m-3', 'user', 'hello')).toMatchObject({ ok: false, reason: 'message_malformed' });
    expect(repairStoredParts('m-3', 'user', null)).toMatchObject({ ok: false, reason: 'message_malformed' });
  });
});

describe('big numbers', () => {
  it('writes integers beyond 2^53 and over-precise floats exactly as they were read', async () => {
    const fixture = fixtures.find((candidate) => candidate.name === 'bigint-v4-tool');
    if (fixture === undefined) throw new Error('fixture bigint-v4-tool is missing');
    const result = await convertMemory(fixture.memory);
    if (!result.ok) throw new Error(result.detail);
    const written = stringifyJson(result.message);
    expect(written).toContain('"trackId":12345678901234567890');
    expect(written).toContain('"plays":98765432109876543210');
    expect(written).toContain('"ratio":0.12345678901234567890123');
    expect(written).toContain('"ids":[9007199254740993,-9223372036854775809]');
  });
});

describe('skip details', () => {
  it('name the path and the expectation, not the message content', async () => {
    const secret = 'my unreleased single is called Blue Hour';
    const result = await convertMemory({
      id: 'm-4',
      content: { role: 'assistant', parts: [{ type: 'text', text: secret }, { type: 'source-url', sourceId: secret }] },
      updatedAt: new Date(0),
    });
    expect(result).toMatchObject({ ok: false, reason: 'message_invalid' });
    if (result.ok) return;
    expect(result.detail).toContain('parts[1]');
    expect(result.detail).toContain('url');
    expect(result.detail).not.toContain('Blue Hour');
    expect(result.detail.length).toBeLessThanOrEqual(300);
  });

  it('say what was wrong with a role, a tool part or a state, not what it held', async () => {
    const role = await convertMemory({ id: 'm-5', content: { role: 'my card 4111-1111-1111', content: 'hi' }, updatedAt: new Date(0) });
    expect(role).toMatchObject({ ok: false, reason: 'message_unsupported_role' });
    if (!role.ok) expect(role.detail).toBe('a role of 22 characters that no AI SDK defines is not user or assistant');
    const sdkRole = await convertMemory({ id: 'm-6', content: { role: 'system', content: 'hi' }, updatedAt: new Date(0) });
    if (!sdkRole.ok) expect(sdkRole.detail).toBe('role "system" is not user or assistant');
    const tool = await convertMemory({
      id: 'm-7',
      content: { role: 'assistant', parts: [{ type: 'text', text: 'ok' }, { type: 'tool-wire_4111_to_acct', toolCallId: 'c1', state: 'secret-state-9', input: {} }] },
      updatedAt: new Date(0),
    });
    expect(tool).toMatchObject({ ok: false, reason: 'message_invalid' });
    if (tool.ok) return;
    expect(tool.detail).toContain('parts[1] (a tool part, a state no AI SDK defines)');
    expect(tool.detail).not.toMatch(/4111|secret-state|wire/);
  });

  it('make details an earlier version stored (quoting roles, types and states) value-free when they are reported again', () => {
    expect(valueFreeDetail('role "my card 4111" is not user or assistant')).toBe('a role of 12 characters that no AI SDK defines is not user or assistant');
    expect(valueFreeDetail('role "data" is not user or assistant')).toBe('role "data" is not user or assistant');
    expect(valueFreeDetail('parts[1] (type "tool-wire_money", state "secret"): input: Required')).toBe('parts[1] (a tool part, a state no AI SDK defines): input: Required');
    expect(valueFreeDetail('parts[0] (type "text", state "done"): text: Required')).toBe('parts[0] (type "text", state "done"): text: Required');
    expect(valueFreeDetail('converter error: Unexpected token "4111" in JSON')).toBe('converter error');
  });

  it('skip a message nested too deep to write as JSON, and convert one merely deep', async () => {
    const nested = (depth: number) => parseJson(`{"role":"assistant","parts":[{"type":"text","text":"ok"},{"type":"tool-invocation","toolInvocation":{"state":"result","toolCallId":"c1","toolName":"t","args":{"deep":${'['.repeat(depth)}1${']'.repeat(depth)}},"result":1}}]}`);
    const deep = await convertMemory({ id: 'm-8', content: nested(5_000), updatedAt: new Date(0) });
    expect(deep).toEqual({ ok: false, reason: 'message_malformed', detail: 'a value is nested more than 256 levels deep, too deep to write as JSON' });
    const fine = await convertMemory({ id: 'm-9', content: nested(1_000), updatedAt: new Date(0) });
    expect(fine.ok).toBe(true);
  });

  it('validateEnvelope reports an envelope without parts', async () => {
    expect(await validateEnvelope({ id: 'x', role: 'user', parts: [] })).toContain('at least one part');
    expect(await validateEnvelope(null)).toEqual(expect.any(String));
  });
});

describe('determinism', () => {
  it.each(convertible)('$name: same input, byte-identical output', ({ memory }) => {
    const copy = parseJson(stringifyJson(memory.content));
    const first = convertContent(memory.id, memory.content);
    const second = convertContent(memory.id, copy);
    expect(first.ok && isJsonObject(first.message)).toBe(true);
    expect(first.ok && stringifyJson(first.message)).toBe(second.ok && stringifyJson(second.message));
  });
});
