/**
 * One message part at a time: v4 parts become v6 parts; v5/v6 parts pass through, with the few repairs
 * listed in convert.ts. A part that cannot be read at all skips the message as message_malformed; a part
 * that can be read but is wrong for v6 is left for the validator (message_invalid).
 */
import { isJsonObject, isLosslessNumber, type JsonObject } from './json.ts';
import { SkipMessage } from './convert-types.ts';

export const INTERRUPTED_TOOL_CALL_ERROR =
  'Tool call was interrupted before it returned a result (migrated from a legacy message).';
export const MISSING_TOOL_ERROR_TEXT =
  'Tool call failed; no error text was recorded (migrated from a legacy message).';

/** Tool states whose v6 schema requires an `input` key. */
const STATES_WITH_INPUT = new Set([
  'input-available',
  'approval-requested',
  'approval-responded',
  'output-available',
  'output-denied',
]);

export function isBlank(text: string): boolean {
  return text.trim() === '';
}

export function malformed(detail: string): SkipMessage {
  return new SkipMessage('message_malformed', detail);
}

/** Something a user would see: anything but a step boundary or a reasoning part with no text. */
export function isRenderable(part: unknown): boolean {
  if (!isJsonObject(part)) return true;
  if (part.type === 'step-start') return false;
  if (part.type === 'reasoning') return typeof part.text !== 'string' || !isBlank(part.text);
  return true;
}

export function convertParts(parts: readonly unknown[]): unknown[] {
  const converted: unknown[] = [];
  for (let index = 0; index < parts.length; index++) {
    const part = parts[index];
    if (!isJsonObject(part) || typeof part.type !== 'string') {
      throw malformed(`parts[${index}] is not a part object with a string type`);
    }
    convertPart(part, part.type, `parts[${index}]`, converted);
  }
  return converted;
}

function convertPart(part: JsonObject, type: string, where: string, out: unknown[]): void {
  switch (type) {
    case 'text':
      if (typeof part.text !== 'string') throw malformed(`${where} is a text part without a string text`);
      if (!isBlank(part.text)) out.push(finishStreaming(part));
      return;
    case 'reasoning':
      if (typeof part.text === 'string') {
        if (!isBlank(part.text) || hasProviderData(part.providerMetadata)) out.push(finishStreaming(part));
      } else {
        convertV4Reasoning(part, where, out);
      }
      return;
    case 'tool-invocation':
      // A v5 tool named "invocation" has the same type but no toolInvocation object.
      if (part.toolInvocation === undefined) out.push(completeToolPart(part));
      else out.push(convertToolInvocation(part.toolInvocation, `${where}.toolInvocation`));
      return;
    case 'source':
      out.push(convertV4Source(part, where));
      return;
    case 'file':
      out.push(typeof part.url === 'string' ? part : convertV4File(part, where));
      return;
    case 'step-start':
      out.push(part);
      return;
    default:
      if (type === 'dynamic-tool' || type.startsWith('tool-')) out.push(completeToolPart(part));
      else if (type.startsWith('data-') && part.data === undefined) out.push({ ...part, data: null });
      else out.push(part);
  }
}

function finishStreaming(part: JsonObject): JsonObject {
  return part.state === 'streaming' ? { ...part, state: 'done' } : part;
}

/** providerMetadata that carries anything: e.g. an Anthropic signature or OpenAI encrypted reasoning. */
function hasProviderData(providerMetadata: unknown): boolean {
  if (!isJsonObject(providerMetadata)) return false;
  return Object.values(providerMetadata).some((entry) => isJsonObject(entry) && Object.keys(entry).length > 0);
}

/**
 * v4 reasoning. Each detail was one provider block (an Anthropic thinking or redacted_thinking block,
 * and a signature signs exactly its own block's text), so each detail becomes its own v6 reasoning part,
 * as ai 5+ itself stores them; joining them would break signature checks on replay. Without details,
 * the `reasoning` text is the one part.
 */
function convertV4Reasoning(part: JsonObject, where: string, out: unknown[]): void {
  const details = part.details;
  if (Array.isArray(details) && details.length > 0) {
    details.forEach((detail: unknown, index) => {
      if (isJsonObject(detail) && detail.type === 'text' && typeof detail.text === 'string') {
        pushReasoning(out, detail.text, 'signature', detail.signature);
      } else if (isJsonObject(detail) && detail.type === 'redacted' && typeof detail.data === 'string') {
        pushReasoning(out, '', 'redactedData', detail.data);
      } else {
        throw malformed(`${where}.details[${index}] is neither a text nor a redacted reasoning detail`);
      }
    });
    return;
  }
  if (typeof part.reasoning !== 'string') throw malformed(`${where} is a reasoning part without text`);
  pushReasoning(out, part.reasoning, 'signature', undefined);
}

function pushReasoning(out: unknown[], text: string, key: 'signature' | 'redactedData', value: unknown): void {
  const hasValue = typeof value === 'string' && value !== '';
  if (isBlank(text) && !hasValue) return;
  out.push(
    hasValue
      ? { type: 'reasoning', text, providerMetadata: { anthropic: { [key]: value } } }
      : { type: 'reasoning', text },
  );
}

/** A v4 tool invocation (from a part or from top-level toolInvocations) as a v6 static tool part. */
export function convertToolInvocation(invocation: unknown, where: string): JsonObject {
  if (!isJsonObject(invocation)) throw malformed(`${where} is not an object`);
  const { toolCallId, toolName } = invocation;
  if (typeof toolCallId !== 'string' || toolCallId === '') throw malformed(`${where} has no toolCallId`);
  if (typeof toolName !== 'string' || toolName === '') throw malformed(`${where} has no toolName`);
  // The validator accepts any `tool-` suffix, and the SDK reads the name back as everything after the
  // first "-", so every v4 tool becomes a static tool part; dynamic-tool is left to S4+ MCP tools.
  const type = `tool-${toolName}`;
  const input = invocation.args ?? {};
  if (invocation.state === 'result') {
    return { type, toolCallId, state: 'output-available', input, output: invocation.result ?? null };
  }
  // call, partial-call (or an unknown state): the call never returned, and a dangling call breaks replay.
  return { type, toolCallId, state: 'output-error', input, errorText: INTERRUPTED_TOOL_CALL_ERROR };
}

function convertV4Source(part: JsonObject, where: string): JsonObject {
  const source = part.source;
  if (!isJsonObject(source) || typeof source.url !== 'string') throw malformed(`${where} is a source without a url`);
  const converted: JsonObject = {
    type: 'source-url',
    sourceId: typeof source.id === 'string' ? source.id : source.url,
    url: source.url,
  };
  if (typeof source.title === 'string') converted.title = source.title;
  if (isProviderMetadata(source.providerMetadata)) converted.providerMetadata = source.providerMetadata;
  return converted;
}

/** What v6 accepts as providerMetadata: an object of objects of JSON values that a double can hold. */
function isProviderMetadata(value: unknown): boolean {
  return isJsonObject(value) && Object.values(value).every((entry) => isJsonObject(entry) && !hasLosslessNumber(entry));
}

function hasLosslessNumber(value: unknown): boolean {
  if (isLosslessNumber(value)) return true;
  if (Array.isArray(value)) return value.some(hasLosslessNumber);
  return isJsonObject(value) && Object.values(value).some(hasLosslessNumber);
}

const URL_PREFIX = /^(?:https?:|data:)/i;

function convertV4File(part: JsonObject, where: string): JsonObject {
  const data = part.data;
  if (typeof data !== 'string') throw malformed(`${where} is a file part with neither url nor data`);
  const mediaType = nonEmptyString(part.mimeType) ?? nonEmptyString(part.mediaType) ?? 'application/octet-stream';
  const converted: JsonObject = { type: 'file', mediaType };
  if (typeof part.filename === 'string') converted.filename = part.filename;
  converted.url = URL_PREFIX.test(data) ? data : `data:${mediaType};base64,${data}`;
  return converted;
}

export function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * v5/v6 tool parts pass through, except that a key the v6 schema requires but JSON lost (a value that
 * was `undefined` when the app saved it, e.g. a tool without arguments or returning nothing) is written
 * back with a JSON value: input {}, output null, a generic errorText.
 */
function completeToolPart(part: JsonObject): JsonObject {
  const state = part.state;
  let completed: JsonObject | undefined;
  if (typeof state === 'string' && STATES_WITH_INPUT.has(state) && part.input === undefined) {
    completed = { ...part, input: {} };
  }
  if (state === 'output-available' && part.output === undefined) {
    completed = { ...(completed ?? part), output: null };
  }
  if (state === 'output-error' && part.errorText === undefined) {
    completed = { ...(completed ?? part), errorText: MISSING_TOOL_ERROR_TEXT };
  }
  return completed ?? part;
}
