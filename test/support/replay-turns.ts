/**
 * A model replay reduced to what must survive the migration: who speaks in which turn, the texts, and
 * which tool calls and results each turn holds. Accepts the AI SDK v4 CoreMessages of
 * `convertToCoreMessages` and the v6 ModelMessages of `convertToModelMessages`.
 */

export type ReplayRole = 'user' | 'assistant' | 'tool' | 'system';

export interface ReplayTurn {
  role: ReplayRole;
  /** `text:<trimmed text>`, `call:<toolCallId>`, `result:<toolCallId>`, in order. */
  items: string[];
}

export interface ReplayPart {
  type: string;
  text?: unknown;
  toolCallId?: unknown;
}

export interface ReplayMessage {
  role: string;
  content: string | readonly ReplayPart[];
}

const ROLES = new Set<string>(['user', 'assistant', 'tool', 'system']);

/** Parts that are not compared: reasoning, files and images, and v6 tool approvals (no call or result of their own). */
const IGNORED_PARTS = new Set([
  'reasoning',
  'redacted-reasoning',
  'image',
  'file',
  'tool-approval-request',
  'tool-approval-response',
]);

export function replayTurns(messages: readonly ReplayMessage[]): ReplayTurn[] {
  return mergeToolTurns(messages.map(toTurn));
}

function toTurn(message: ReplayMessage): ReplayTurn {
  if (!ROLES.has(message.role)) throw new Error(`replay message with role ${message.role}`);
  const parts = typeof message.content === 'string' ? [{ type: 'text', text: message.content }] : message.content;
  return { role: message.role as ReplayRole, items: parts.flatMap(itemsOf) };
}

function itemsOf(part: ReplayPart): string[] {
  switch (part.type) {
    case 'text': {
      const text = typeof part.text === 'string' ? part.text.trim() : '';
      return text === '' ? [] : [`text:${text}`];
    }
    case 'tool-call':
      return [`call:${String(part.toolCallId)}`];
    case 'tool-result':
      return [`result:${String(part.toolCallId)}`];
    default:
      if (IGNORED_PARTS.has(part.type)) return [];
      // A part type this reduction does not know would otherwise vanish from the comparison unseen.
      throw new Error(`replay part of unknown type ${part.type}`);
  }
}

/**
 * Consecutive tool turns are merged; no other turns are. A tool message only answers the calls of the
 * assistant turn before it, and providers fold consecutive tool messages into one turn of results, so
 * where one SDK writes a block's results as one tool message and the other as several, the model sees
 * the same conversation. Consecutive assistant or user turns are real step boundaries: kept apart.
 */
function mergeToolTurns(turns: readonly ReplayTurn[]): ReplayTurn[] {
  const merged: ReplayTurn[] = [];
  for (const turn of turns) {
    const previous = merged.at(-1);
    if (turn.role === 'tool' && previous?.role === 'tool') previous.items.push(...turn.items);
    else merged.push({ role: turn.role, items: [...turn.items] });
  }
  return merged;
}
