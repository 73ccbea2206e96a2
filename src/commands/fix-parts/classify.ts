import type { MessageMemoryRow, ScriptShape, StoredMessageRow } from './reads.ts';
import { convertMemory, repairStoredParts, validateEnvelope, type UIMessageEnvelope } from '../../migration/convert.ts';
import { jsonEqual, parseJson } from '../../migration/json.ts';
import type { MessageSkipReason } from '../../migration/reasons.ts';

/**
 * What fix-parts does with one chat_messages row:
 * - rebuilt: it holds exactly what the original script wrote from its memory → rebuilt from the memory,
 *   even when it validates (the script lost attachments, signatures, legacy fields, streaming states);
 * - repaired: it fails validation and matches neither → repaired from itself (a bare array wrapped,
 *   v4 parts converted);
 * - upgraded: it still holds what the tool last wrote, but this converter writes something else (from
 *   its memory, or, without one, from the stored value: a tool call an earlier version left open) →
 *   rewritten (message_upgraded);
 * - removed: it holds exactly what the original script copied from a memory the converter skips (a
 *   step-start-only or empty message): no message belongs there → deleted, backed up whole;
 * - unchanged: it already holds what the converter produces from its memory, or what the tool last
 *   wrote (ledger), → zero writes;
 * - app: it validates and is neither → the app's, never touched;
 * - unrepairable: invalid, and the repair fails too → left, reported parts_unrepairable.
 */
export type Verdict =
  | { kind: 'rebuilt' | 'repaired' | 'upgraded'; message: UIMessageEnvelope }
  | { kind: 'removed'; reason: MessageSkipReason; detail: string }
  | { kind: 'unchanged' }
  | { kind: 'app'; changedSinceMigration: boolean }
  | { kind: 'unrepairable'; detail: string };

export interface Classified {
  verdict: Verdict;
  /** Converter runs for this row (for messages.converted). */
  conversions: number;
}

/**
 * `partsText`: the row's stored parts (jsonb text). Needed unless the memory's script_shape says what the
 * row holds; a missing one where it is needed is a bug in the caller, so it throws.
 */
export async function classifyRow(row: StoredMessageRow, memory: MessageMemoryRow | undefined, partsText: string | undefined): Promise<Classified> {
  const storedValue = (): unknown => {
    if (partsText === undefined) throw new Error(`fix-parts: the stored parts of message ${row.id} were not read`);
    return parseJson(partsText);
  };
  let conversions = 0;
  if (memory) {
    conversions += 1;
    const content = parseMemoryContent(memory.content);
    const expected = await convertMemory({ id: memory.id, content, updatedAt: new Date(memory.updated_at) });
    if (expected.ok) {
      // A row the script wrote is known from its memory, so only other rows need parsing.
      const stored = memory.script_shape ? scriptValue(memory.id, content, memory.script_shape) : storedValue();
      if (expected.message.role === row.role && jsonEqual(stored, expected.message)) return { verdict: { kind: 'unchanged' }, conversions };
      if (memory.script_shape) return { verdict: { kind: 'rebuilt', message: expected.message }, conversions };
      if (row.tool_owned) return { verdict: { kind: 'upgraded', message: expected.message }, conversions };
    } else if (memory.script_shape) {
      // The script copied a memory that the converter skips: backfill writes no message for it, so the
      // copy is removed (backed up whole; --undo puts it back).
      const detail = `the original script copied memory ${memory.id}, which the converter skips: ${expected.detail}`;
      return { verdict: { kind: 'removed', reason: expected.reason, detail }, conversions };
    }
  }

  const stored = storedValue();
  const problem = await validateEnvelope(stored);
  if (problem === null) {
    if (row.tool_owned) return { verdict: await upgradeOfStored(row, stored), conversions: conversions + 1 };
    // A row that came from a memory (or that the tool wrote) and changed since: the app's now.
    return { verdict: { kind: 'app', changedSinceMigration: memory !== undefined || row.ledger_digest !== null }, conversions };
  }
  if (row.role !== 'user' && row.role !== 'assistant') {
    return { verdict: { kind: 'unrepairable', detail: `${problem}; role ${JSON.stringify(row.role.slice(0, 40))} is not user or assistant` }, conversions };
  }
  conversions += 1;
  const repaired = repairStoredParts(row.id, row.role, stored);
  if (!repaired.ok) return { verdict: { kind: 'unrepairable', detail: `${problem}; repair: ${repaired.reason}: ${repaired.detail}` }, conversions };
  const stillInvalid = await validateEnvelope(repaired.message);
  if (stillInvalid !== null) return { verdict: { kind: 'unrepairable', detail: `${problem}; repaired value: ${stillInvalid}` }, conversions };
  return { verdict: { kind: 'repaired', message: repaired.message }, conversions };
}

/**
 * A valid row the tool wrote, without a memory to convert again (the app's chat, or legacy dropped):
 * what this converter makes of the stored value itself, when that differs (an open tool call closed).
 */
async function upgradeOfStored(row: StoredMessageRow, stored: unknown): Promise<Verdict> {
  if (row.role !== 'user' && row.role !== 'assistant') return { kind: 'unchanged' };
  const converted = repairStoredParts(row.id, row.role, stored);
  if (!converted.ok || jsonEqual(stored, converted.message)) return { kind: 'unchanged' };
  if ((await validateEnvelope(converted.message)) !== null) return { kind: 'unchanged' };
  return { kind: 'upgraded', message: converted.message };
}

/** What the original script wrote from a memory's content, in the shape the server matched. */
function scriptValue(memoryId: string, content: unknown, shape: ScriptShape): unknown {
  const fields = typeof content === 'object' && content !== null && !Array.isArray(content) ? (content as Record<string, unknown>) : {};
  const parts = fields['parts'] ?? null;
  return shape === 'bare' ? parts : { id: memoryId, role: fields['role'] ?? null, parts };
}

function parseMemoryContent(text: string): unknown {
  try {
    return parseJson(text);
  } catch {
    // jsonb text always parses; keep the converter's own error path for anything else.
    return text;
  }
}
