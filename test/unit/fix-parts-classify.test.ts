import { describe, expect, it } from 'vitest';
import { classifyRow } from '../../src/commands/fix-parts/classify.ts';
import type { MessageMemoryRow, ScriptShape, StoredMessageRow } from '../../src/commands/fix-parts/reads.ts';
import { stringifyJson } from '../../src/migration/json.ts';

const ID = '0b1f7a52-3c1e-4d8a-9f60-2a4b6c8d0e12';

function row(role = 'user'): StoredMessageRow {
  return { id: ID, chat_id: 'chat', session_id: 'session', role, xmin: '1', ledger_digest: null, tool_owned: false };
}

function memory(content: unknown, shape: ScriptShape | null): MessageMemoryRow {
  return { id: ID, content: stringifyJson(content), updated_at: '2025-03-01T00:00:00.000000Z', script_shape: shape };
}

// A row whose memory's script_shape is set is known from the memory: its stored parts are not passed
// (classifyRow throws if it needs them), which is what these rows check along with the verdict.
describe('classifyRow on rows the server matched to the original script (no stored parts read)', () => {
  const text = { role: 'user', content: 'hi', parts: [{ type: 'text', text: 'hi' }] };
  const cases: { name: string; content: unknown; shape: ScriptShape; role?: string; verdict: string; detail?: RegExp }[] = [
    { name: 'a bare copy of the parts array is rebuilt as an envelope', content: text, shape: 'bare', verdict: 'rebuilt' },
    { name: 'an envelope that is already what the converter makes is unchanged', content: text, shape: 'envelope', verdict: 'unchanged' },
    { name: 'the same envelope under another role is rebuilt', content: text, shape: 'envelope', role: 'assistant', verdict: 'rebuilt' },
    { name: 'a bare copy of parts that are not an array is rebuilt from the content', content: { role: 'user', content: 'hello', parts: 'hello' }, shape: 'bare', verdict: 'rebuilt' },
    {
      name: 'a copy of a memory the converter skips is removed, and says why',
      content: { content: 'no role', parts: [{ type: 'text', text: 'no role' }] },
      shape: 'envelope',
      verdict: 'removed',
      detail: /original script copied memory/,
    },
  ];
  it.each(cases)('$name', async ({ content, shape, role, verdict, detail }) => {
    const classified = await classifyRow(row(role), memory(content, shape), undefined);
    expect(classified.verdict.kind).toBe(verdict);
    if (detail) expect(classified.verdict).toMatchObject({ detail: expect.stringMatching(detail) });
    if (verdict === 'rebuilt') expect(classified.verdict).toMatchObject({ message: { id: ID } });
  });

  it('throws, naming the message, when a row that needs its stored parts comes without them', async () => {
    await expect(classifyRow(row(), memory(text, null), undefined)).rejects.toThrow(ID);
  });
});

describe('classifyRow on rows the tool wrote with an earlier converter', () => {
  const multiStep = {
    role: 'assistant',
    parts: [
      { type: 'text', text: 'Checking.' },
      { type: 'tool-invocation', toolInvocation: { state: 'result', step: 0, toolCallId: 'c1', toolName: 'getWeather', args: { city: 'Paris' }, result: { temp: 21 } } },
      { type: 'text', text: 'It is sunny.' },
    ],
  };
  // What converter 1 wrote for it: no step boundary between the call and the answer.
  const converterOne = {
    id: ID,
    role: 'assistant',
    parts: [
      { type: 'text', text: 'Checking.' },
      { type: 'tool-getWeather', toolCallId: 'c1', state: 'output-available', input: { city: 'Paris' }, output: { temp: 21 } },
      { type: 'text', text: 'It is sunny.' },
    ],
  };
  const owned = (toolOwned: boolean): StoredMessageRow => ({ ...row('assistant'), ledger_digest: 'd', tool_owned: toolOwned });

  it('upgrades a row that still holds what the tool wrote, from its memory', async () => {
    const { verdict } = await classifyRow(owned(true), memory(multiStep, null), stringifyJson(converterOne));
    expect(verdict.kind).toBe('upgraded');
    if (verdict.kind === 'upgraded') expect(verdict.message.parts.map((p) => (p as { type: string }).type)).toEqual(['text', 'tool-getWeather', 'step-start', 'text']);
  });

  it('leaves the same row alone once the app changed it (not the tool\'s any more)', async () => {
    const { verdict } = await classifyRow(owned(false), memory(multiStep, null), stringifyJson(converterOne));
    expect(verdict.kind).toBe('app');
  });

  it('closes an open call of a row the tool wrote that has no memory left', async () => {
    const open = { id: ID, role: 'assistant', parts: [{ type: 'step-start' }, { type: 'tool-publish_post', toolCallId: 't1', state: 'input-available', input: { caption: 'friday' } }] };
    const { verdict } = await classifyRow(owned(true), undefined, stringifyJson(open));
    expect(verdict).toMatchObject({ kind: 'upgraded', message: { parts: [{ type: 'step-start' }, { state: 'output-error', toolCallId: 't1' }] } });
    const appRow = await classifyRow(owned(false), undefined, stringifyJson(open));
    expect(appRow.verdict.kind).toBe('app');
  });
});
