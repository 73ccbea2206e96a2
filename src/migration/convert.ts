/**
 * The message converter: one legacy `memories.content` (shapes S0–S5 of the message-shapes spec) to one
 * AI SDK v6 UIMessage envelope `{id, role, parts, metadata?}`. Pure and deterministic: no clock, no
 * random ids, the input is never modified (unchanged parts are shared with it, not copied).
 *
 * Skips (reason codes):
 * - message_malformed: content is not a JSON object (a string, a JSON string holding an object, an
 *   array, a number, null); no role (missing, null or ""); a role that is not a string; a part that is
 *   not an object with a string type; a text part whose text is not a string; a v4 reasoning part with
 *   neither details nor a reasoning string, or with a detail that is neither {type:'text', text} nor
 *   {type:'redacted', data}; a v4 tool invocation (in parts or toolInvocations) without a non-empty
 *   toolCallId and toolName; a v4 source without a url; a v4 file without data; an attachment without
 *   a url; no parts array and nothing else to build a message from (no content string, reasoning
 *   string, toolInvocations or attachments).
 * - message_unsupported_role: any role string but 'user' and 'assistant' (system, data, tool, ...).
 * - message_empty: nothing renderable after conversion (only step-starts, or reasoning parts without
 *   text, or nothing at all).
 * - message_invalid: the result fails `safeValidateUIMessages` (convertMemory only).
 *
 * Parts:
 * - v4 text: unchanged. v5/v6 parts: unchanged, except as listed here.
 * - text / reasoning with state 'streaming' get state 'done'.
 * - Dropped: text parts whose text is empty or whitespace only; reasoning parts likewise, unless they
 *   carry provider data (providerMetadata with a non-empty entry: an Anthropic signature or
 *   redactedData, OpenAI encrypted reasoning), which model replay needs. Such a textless reasoning part
 *   does not count as renderable.
 * - v4 reasoning: one v6 reasoning part per detail (each detail is one provider block and a signature
 *   signs its own block), a text detail's signature in providerMetadata.anthropic.signature, a redacted
 *   detail as text '' with providerMetadata.anthropic.redactedData. Without details: one part from the
 *   `reasoning` text. When details exist they win over the `reasoning` text (which is their joined text).
 * - v4 tool-invocation: `tool-<toolName>` (always static; see convert-parts.ts), input `args ?? {}`;
 *   state 'result' → output-available with output `result ?? null`; any other state → output-error with
 *   an errorText saying the call was interrupted. `step` is dropped (the parts' order and step-starts
 *   carry it).
 * - v4 source → source-url {sourceId: id (the url when there is no id), url, title?, providerMetadata?}
 *   (providerMetadata only when v6 accepts it: an object of objects, no number beyond double
 *   precision; else it is dropped). sourceType is dropped.
 * - v4 file {mimeType, data} → file {mediaType, url}: url is `data` when it already is an http(s): or
 *   data: URL, else `data:<mediaType>;base64,<data>`; no mimeType → application/octet-stream.
 * - Step boundaries: parts without any step-start get one wherever AI SDK 4.1.20–4.3 started a new step
 *   on replay (a v4 tool invocation of another step; text or reasoning after a block with tool
 *   invocations); parts that carry step-starts keep exactly theirs.
 * - v5/v6 tool and dynamic-tool parts end in a final state: input-streaming / input-available become
 *   output-error (interrupted), an approval never answered or denied becomes output-denied, one
 *   approved but never run output-error. Parts missing a key their state requires (JSON dropped an
 *   `undefined`) get input {}, output null, or a generic errorText; data-* parts without data get
 *   data null.
 * - experimental_attachments → file {mediaType: contentType ?? application/octet-stream, filename:
 *   name, url}, inserted before the first text part, or at the end when there is none.
 * - No parts, `parts: null`, or parts that leave nothing renderable: the parts are rebuilt from the
 *   legacy fields as AI SDK 4.2 did: toolInvocations (by step, a step-start between steps), then, in a
 *   step of its own, the top-level reasoning and (attachments, then) the content text. The leftover
 *   parts are dropped.
 *
 * Message fields (what v6 has no place for goes under metadata.legacy; null values are dropped):
 * - id: the envelope id is the memory id; a different message id is kept as legacy.id.
 * - createdAt, revisionId, non-empty annotations: kept as legacy.createdAt / revisionId / annotations.
 * - content string next to parts: dropped when everything in it is on screen, i.e. each piece of it
 *   between `[object Object]` markers (the S4 bug), ignoring whitespace (and the commas around those
 *   markers), occurs in the text of the text parts; this covers the joined text of S3/S5 and the S4
 *   bug. Otherwise kept whole as legacy.content. Without parts it becomes the text part, unless it is
 *   blank or only the bug, then it is dropped.
 * - top-level reasoning next to parts: dropped when the parts have a reasoning part, else kept (when
 *   not blank) as legacy.reasoning. top-level toolInvocations next to parts: those whose toolCallId
 *   is not among the tool parts are kept as legacy.toolInvocations, the rest dropped as duplicates.
 * - content, reasoning, toolInvocations, parts, experimental_attachments or metadata of an unexpected
 *   JSON type are not used and are kept as legacy.<field>.
 * - any other top-level key (e.g. v4 `data`) is kept as legacy.<key>.
 * - an existing metadata object (v5/v6) is kept; legacy fields merge into its `legacy` object.
 * - metadata is left out when empty.
 *
 * Re-converting an envelope this produced gives the same envelope, which is what fix-parts relies on.
 */
import type { MessageSkipReason } from './reasons.ts';
import { isJsonObject, isLosslessNumber, stringifyJson, type JsonObject } from './json.ts';
import { convertParts, isRenderable, malformed } from './convert-parts.ts';
import { attachmentParts, hasLegacyContent, insertBeforeText, partsFromLegacyFields } from './convert-legacy.ts';
import { buildMetadata, legacyFields } from './convert-metadata.ts';
import { validateMessage } from './convert-validate.ts';
import { describeRole } from './skip-details.ts';
import {
  SkipMessage,
  type ContentConversion,
  type ConversionSkip,
  type MessageRole,
  type UIMessageEnvelope,
} from './convert-types.ts';

export type { ContentConversion, ConversionSkip, MessageRole, UIMessageEnvelope } from './convert-types.ts';

/**
 * Bump whenever the output for any input changes: backfill then upgrades the rows an earlier version
 * wrote (backed up, undoable). 2: step boundaries of v4 messages; v5/v6 tool calls closed.
 */
export const CONVERTER_VERSION = 2;

export interface MemoryInput {
  id: string;
  /** The parsed jsonb (via parseJson). */
  content: unknown;
  updatedAt: Date;
}

export type Conversion =
  | { ok: true; message: UIMessageEnvelope; createdAt: Date }
  | { ok: false; reason: MessageSkipReason; detail: string };

/** Converts without validating. Deterministic. Never throws on any JSON value. */
export function convertContent(id: string, content: unknown): ContentConversion {
  try {
    const message = buildEnvelope(id, content);
    assertWritable(message);
    return { ok: true, message };
  } catch (error) {
    return skipFor(error);
  }
}

// Deeper than this, the message is written out once here to see that it can be: JSON text is written
// recursively, and a value nested some thousands of levels deep overflows the stack. Postgres stored it.
const DEEP = 256;

/** Throws a skip for a message too deeply nested to be written as JSON; cheap for every other one. */
function assertWritable(message: UIMessageEnvelope): void {
  const pending: [unknown, number][] = [[message, 0]];
  let deepest = 0;
  while (pending.length > 0 && deepest <= DEEP) {
    const [value, depth] = pending.pop()!;
    deepest = Math.max(deepest, depth);
    if (Array.isArray(value)) for (const item of value) pending.push([item, depth + 1]);
    else if (isJsonObject(value)) for (const item of Object.values(value)) pending.push([item, depth + 1]);
  }
  if (deepest <= DEEP) return;
  try {
    stringifyJson(message);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw malformed(`a value is nested more than ${DEEP} levels deep, too deep to write as JSON`);
  }
}

/** convertContent, then validation by the AI SDK; the row's created_at is the memory's updated_at. */
export async function convertMemory(memory: MemoryInput): Promise<Conversion> {
  const converted = convertContent(memory.id, memory.content);
  if (!converted.ok) return converted;
  const problem = await validateMessage(converted.message);
  if (problem !== null) return { ok: false, reason: 'message_invalid', detail: problem };
  return { ok: true, message: converted.message, createdAt: memory.updatedAt };
}

/** Validate an already-built envelope: null when valid, else the validator's message (shortened). */
export function validateEnvelope(message: unknown): Promise<string | null> {
  return validateMessage(message);
}

/**
 * For fix-parts: a stored chat_messages.parts value, either a bare parts array (what the original
 * script wrote first) or an envelope (possibly with v4 parts), as the v6 envelope. The row's role wins
 * over a role inside the stored value.
 */
export function repairStoredParts(id: string, role: MessageRole, stored: unknown): ContentConversion {
  if (Array.isArray(stored)) return convertContent(id, { role, parts: stored });
  if (isJsonObject(stored)) return convertContent(id, { ...stored, role });
  const detail = `stored parts are ${describeJsonType(stored)}, not an array or a message object`;
  return { ok: false, reason: 'message_malformed', detail };
}

/** A bare parts array with its role as a v6 envelope (no validation). */
export function convertPartsOnly(id: string, role: MessageRole, parts: readonly unknown[]): ContentConversion {
  return convertContent(id, { role, parts });
}

function buildEnvelope(id: string, content: unknown): UIMessageEnvelope {
  const message = asMessageObject(content);
  const role = roleOf(message);

  let parts = Array.isArray(message.parts) ? convertParts(message.parts) : [];
  const builtFromLegacyFields = !parts.some(isRenderable);
  if (builtFromLegacyFields) parts = partsFromLegacyFields(message);
  if (Array.isArray(message.experimental_attachments)) {
    parts = insertBeforeText(parts, attachmentParts(message.experimental_attachments));
  }
  if (!parts.some(isRenderable)) {
    if (!Array.isArray(message.parts) && !hasLegacyContent(message)) {
      throw malformed('no parts array and no content, reasoning, toolInvocations or attachments');
    }
    throw new SkipMessage('message_empty', 'nothing renderable after conversion');
  }

  const legacy = legacyFields({ message, memoryId: id, parts, builtFromLegacyFields });
  const metadata = buildMetadata(message.metadata, legacy);
  return metadata === undefined ? { id, role, parts } : { id, role, parts, metadata };
}

function asMessageObject(content: unknown): JsonObject {
  if (isJsonObject(content)) return content;
  if (typeof content === 'string' && content.trimStart().startsWith('{') && isJsonObject(tryParseJson(content))) {
    throw malformed('content is a JSON string holding an object (double-encoded), not an object');
  }
  throw malformed(`content is ${describeJsonType(content)}, not a message object`);
}

function roleOf(message: JsonObject): MessageRole {
  const role = message.role;
  if (role === undefined || role === null || role === '') throw malformed('content has no role');
  if (typeof role !== 'string') throw malformed(`role is ${describeJsonType(role)}, not a string`);
  if (role === 'user' || role === 'assistant') return role;
  throw new SkipMessage('message_unsupported_role', `${describeRole(role)} is not user or assistant`);
}

function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function describeJsonType(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'missing';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return isJsonObject(value) ? 'an object' : isLosslessNumber(value) ? 'a number' : 'not JSON';
  return `a ${typeof value}`;
}

function skipFor(error: unknown): ConversionSkip {
  if (error instanceof SkipMessage) return { ok: false, reason: error.reason, detail: error.detail };
  // Not expected for any JSON value (the fuzz tests hold it to that); a bug must not crash a room. Its
  // message may quote the value, so only its kind is kept.
  const kind = error instanceof Error ? error.name : typeof error;
  return { ok: false, reason: 'message_malformed', detail: `converter error: ${kind}` };
}
