import { convertMemory, type Conversion } from '../migration/convert.ts';
import { parseJson } from '../migration/json.ts';
import type { MemoryRow } from './source-reads.ts';

/** jsonb text always parses; should it not, the converter judges the raw text. */
export function parseContent(text: string): unknown {
  try {
    return parseJson(text);
  } catch {
    return text;
  }
}

export type MemoryConversion = Conversion | { ok: false; reason: 'message_no_time'; detail: string };

/**
 * A memory as backfill, reconcile and explain convert it, so that they agree: its content parsed
 * losslessly, and its updated_at (the message's created_at) a real time, or the message is skipped.
 */
export async function convertMemoryRow(memory: MemoryRow): Promise<MemoryConversion> {
  if (memory.bad_time !== null) {
    return { ok: false, reason: 'message_no_time', detail: `updated_at is ${memory.bad_time}: the message has no time to be placed at` };
  }
  return convertMemory({ id: memory.id, content: parseContent(memory.content), updatedAt: new Date(memory.updated_at) });
}
