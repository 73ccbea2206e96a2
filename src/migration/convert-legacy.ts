/**
 * The message-level fields of v4 messages: top-level toolInvocations / reasoning / content for messages
 * without parts, experimental_attachments, and whether a `content` string is already shown by the parts.
 */
import { isJsonObject, type JsonObject } from './json.ts';
import { convertToolInvocation, isBlank, malformed, nonEmptyString } from './convert-parts.ts';

const OBJECT_OBJECT = '[object Object]';

/**
 * Parts for a message without (usable) parts, in the order AI SDK 4.2 filled them in: tool parts by
 * step with a step-start between steps, then (in a step of their own) reasoning and the content text.
 */
export function partsFromLegacyFields(message: JsonObject): unknown[] {
  const parts: unknown[] = [];
  const invocations = message.toolInvocations;
  if (Array.isArray(invocations)) {
    const tools = invocations.map((invocation: unknown, index) => ({
      step: stepOf(invocation),
      part: convertToolInvocation(invocation, `toolInvocations[${index}]`),
    }));
    tools.sort((a, b) => a.step - b.step); // stable: same-step calls keep their order
    tools.forEach(({ step, part }, index) => {
      if (index > 0 && step !== tools[index - 1]?.step) parts.push({ type: 'step-start' });
      parts.push(part);
    });
  }
  // The answer came after the tool results: a step of its own, as the step rule of convert-parts.ts has it.
  const answer: unknown[] = [];
  if (typeof message.reasoning === 'string' && !isBlank(message.reasoning)) {
    answer.push({ type: 'reasoning', text: message.reasoning });
  }
  const content = message.content;
  if (typeof content === 'string' && !isBlank(content) && !isObjectObjectBug(content)) {
    answer.push({ type: 'text', text: content });
  }
  if (parts.length > 0 && answer.length > 0) parts.push({ type: 'step-start' });
  return [...parts, ...answer];
}

function stepOf(invocation: unknown): number {
  const step = isJsonObject(invocation) ? invocation.step : undefined;
  return typeof step === 'number' && Number.isFinite(step) ? step : 0;
}

/** Whether a message without parts has anything a message could be made of (else: malformed). */
export function hasLegacyContent(message: JsonObject): boolean {
  return (
    typeof message.content === 'string' ||
    typeof message.reasoning === 'string' ||
    (Array.isArray(message.toolInvocations) && message.toolInvocations.length > 0) ||
    (Array.isArray(message.experimental_attachments) && message.experimental_attachments.length > 0)
  );
}

/** `[object Object]`, repeated or comma-joined: what S4 wrote as content (String(parts)). */
function isObjectObjectBug(content: string): boolean {
  return content.includes(OBJECT_OBJECT) && contentPieces(content).length === 0;
}

/** The content's text between `[object Object]` markers, whitespace removed (and the commas of a joined array). */
function contentPieces(content: string): string[] {
  if (!content.includes(OBJECT_OBJECT)) {
    const text = removeWhitespace(content);
    return text === '' ? [] : [text];
  }
  return content
    .split(OBJECT_OBJECT)
    .map((piece) => removeWhitespace(piece).replace(/^,+|,+$/g, ''))
    .filter((piece) => piece !== '');
}

function removeWhitespace(text: string): string {
  return text.replace(/\s+/g, '');
}

/**
 * A `content` string next to parts is redundant when everything in it is on screen already: each piece
 * of it (split at `[object Object]` markers), ignoring whitespace, occurs in the parts' text. This covers
 * the joined text of S3/S5 (whatever the separator), the last step's text of S2, and the S4 bug.
 */
export function isContentShownByParts(content: string, parts: readonly unknown[]): boolean {
  const joinedText = parts
    .map((part) => (isJsonObject(part) && part.type === 'text' && typeof part.text === 'string' ? part.text : ''))
    .join('');
  // The common case, without copying either text: removing whitespace keeps a substring a substring.
  if (!content.includes(OBJECT_OBJECT) && joinedText.includes(content)) return true;
  const pieces = contentPieces(content);
  if (pieces.length === 0) return true;
  const shownText = removeWhitespace(joinedText);
  return pieces.every((piece) => shownText.includes(piece));
}

/** experimental_attachments as v6 file parts. */
export function attachmentParts(attachments: readonly unknown[]): JsonObject[] {
  return attachments.map((attachment: unknown, index) => {
    if (!isJsonObject(attachment) || typeof attachment.url !== 'string') {
      throw malformed(`experimental_attachments[${index}] has no url`);
    }
    const part: JsonObject = {
      type: 'file',
      mediaType: nonEmptyString(attachment.contentType) ?? 'application/octet-stream',
    };
    if (typeof attachment.name === 'string') part.filename = attachment.name;
    part.url = attachment.url;
    return part;
  });
}

/** Attachment file parts go before the first text part (as ai 5 converts them), else at the end. */
export function insertBeforeText(parts: unknown[], files: readonly JsonObject[]): unknown[] {
  if (files.length === 0) return parts;
  const firstText = parts.findIndex((part) => isJsonObject(part) && part.type === 'text');
  if (firstText === -1) return [...parts, ...files];
  return [...parts.slice(0, firstText), ...files, ...parts.slice(firstText)];
}

/** The toolCallIds of the tool parts in a converted parts list. */
export function toolCallIdsOf(parts: readonly unknown[]): Set<unknown> {
  const ids = new Set<unknown>();
  for (const part of parts) {
    if (!isJsonObject(part) || typeof part.type !== 'string') continue;
    if (part.type === 'dynamic-tool' || part.type.startsWith('tool-')) ids.add(part.toolCallId);
  }
  return ids;
}
