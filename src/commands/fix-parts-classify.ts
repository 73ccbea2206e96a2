import type { MessageMemoryRow, StoredMessageRow } from '../db/fix-parts-reads.ts';
import { convertMemory, repairStoredParts, validateEnvelope, type UIMessageEnvelope } from '../migration/convert.ts';
import { jsonEqual, parseJson } from '../migration/json.ts';

/**
 * What fix-parts does with one chat_messages row:
 * - rebuilt: it holds exactly what the original script wrote from its memory → rebuilt from the memory,
 *   even when it validates (the script lost attachments, signatures, legacy fields, streaming states);
 * - repaired: it fails validation and matches neither → repaired from itself (a bare array wrapped,
 *   v4 parts converted);
 * - unchanged: it already holds what the converter produces from its memory, or what the tool last
 *   wrote (ledger), → zero writes;
 * - app: it validates and is neither → the app's, never touched;
 * - unrepairable: invalid, and the repair fails too (or the script wrote it from a memory the
 *   converter skips) → left, reported parts_unrepairable.
 */
export type Verdict =
  | { kind: 'rebuilt' | 'repaired'; message: UIMessageEnvelope }
  | { kind: 'unchanged' }
  | { kind: 'app'; changedSinceMigration: boolean }
  | { kind: 'unrepairable'; detail: string };

export interface Classified {
  verdict: Verdict;
  /** Converter runs for this row (for messages.converted). */
  conversions: number;
}

export async function classifyRow(row: StoredMessageRow, memory: MessageMemoryRow | undefined): Promise<Classified> {
  const stored = parseJson(row.parts);
  let conversions = 0;
  if (memory) {
    conversions += 1;
    const expected = await convertMemory({ id: memory.id, content: parseMemoryContent(memory.content), updatedAt: new Date(memory.updated_at) });
    if (expected.ok) {
      if (expected.message.role === row.role && jsonEqual(stored, expected.message)) return { verdict: { kind: 'unchanged' }, conversions };
      if (memory.script_written) return { verdict: { kind: 'rebuilt', message: expected.message }, conversions };
    } else if (memory.script_written) {
      // The script copied a memory that the converter skips: nothing valid to rebuild it from.
      const detail = `the original script copied memory ${memory.id}, which the converter skips (${expected.reason}: ${expected.detail})`;
      return { verdict: { kind: 'unrepairable', detail }, conversions };
    }
  }

  const problem = await validateEnvelope(stored);
  if (problem === null) {
    if (row.tool_owned) return { verdict: { kind: 'unchanged' }, conversions };
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

function parseMemoryContent(text: string): unknown {
  try {
    return parseJson(text);
  } catch {
    // jsonb text always parses; keep the converter's own error path for anything else.
    return text;
  }
}
