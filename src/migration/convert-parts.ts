/**
 * One message part at a time: v4 parts become v6 parts; v5/v6 parts pass through, with the few repairs
 * listed in convert.ts. A part that cannot be read at all skips the message as message_malformed; a part
 * that can be read but is wrong for v6 is left for the validator (message_invalid).
 */
import { isJsonObject, isLosslessNumber, type JsonObject } from './json.ts';
import { SkipMessage } from './convert-types.ts';

export const INTERRUPTED_TOOL_CALL_ERROR =
  'Tool call was interrupted before it returned a result (migrated from a legacy message).';
export const APPROVED_NEVER_RUN_ERROR =
  'Tool call was approved but never ran before the chat was migrated (migrated from a legacy message).';
export const NEVER_ANSWERED_APPROVAL_REASON =
  'The approval was never answered before the chat was migrated; the tool did not run.';
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
  const steps = parts.some(isStepStart) ? undefined : new LegacySteps();
  for (let index = 0; index < parts.length; index++) {
    const part = parts[index];
    if (!isJsonObject(part) || typeof part.type !== 'string') {
      throw malformed(`parts[${index}] is not a part object with a string type`);
    }
    steps?.see(part);
    const before = converted.length;
    convertPart(part, part.type, `parts[${index}]`, converted);
    // Before the first part kept after the break (a blank text that opened the step is dropped), and
    // never first: ai@6 ignores an empty step.
    if (converted.length > before && steps?.takeBreak() === true && before > 0) converted.splice(before, 0, STEP_START);
  }
  return converted;
}

const STEP_START = { type: 'step-start' } as const;

function isStepStart(part: unknown): boolean {
  return isJsonObject(part) && part.type === 'step-start';
}

/**
 * Where AI SDK 4.1.20–4.3 started a new step when it replayed a message without step-starts
 * (`convertToCoreMessages`): a tool invocation whose `step` is not the counter of blocks so far, and
 * text after a block holding tool invocations; reasoning after such a block too, which is where the
 * model reasoned (4.2 kept it in the block before, and Anthropic replays a thinking block only at the
 * start of a turn). ai@6 starts a step only at a step-start part, so the converter writes one there;
 * without it a multi-step answer replays as one turn with its later text before the tool results.
 */
class LegacySteps {
  private block = 0;
  private hasToolInvocations = false;
  private owedBreak = false;

  see(part: JsonObject): void {
    if (part.type === 'tool-invocation' && isJsonObject(part.toolInvocation)) {
      const step = part.toolInvocation.step;
      if ((typeof step === 'number' ? step : 0) !== this.block) this.nextBlock();
      this.hasToolInvocations = true;
    } else if ((part.type === 'text' || part.type === 'reasoning') && this.hasToolInvocations) {
      this.nextBlock();
    }
  }

  /** Whether a step-start is owed before the part just kept; a part kept pays the debt. */
  takeBreak(): boolean {
    const owed = this.owedBreak;
    this.owedBreak = false;
    return owed;
  }

  private nextBlock(): void {
    this.block++;
    this.hasToolInvocations = false;
    this.owedBreak = true;
  }
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
 * v5/v6 tool parts pass through, except that:
 * - a call that never finished is closed, since ai@6 will not continue a chat with a dangling call
 *   (AI_MissingToolResultsError) and would run an approved one on the next turn, months later:
 *   input-streaming / input-available → output-error (interrupted); approval-requested (never answered)
 *   and approval-responded with approved false → output-denied; approval-responded with approved true
 *   but no output → output-error (approved, never run);
 * - a key the v6 schema requires but JSON lost (a value that was `undefined` when the app saved it,
 *   e.g. a tool without arguments or returning nothing) is written back with a JSON value: input {},
 *   output null, a generic errorText.
 */
function completeToolPart(part: JsonObject): JsonObject {
  const closed = closeToolPart(part);
  const state = closed.state;
  let completed: JsonObject | undefined;
  if (typeof state === 'string' && STATES_WITH_INPUT.has(state) && closed.input === undefined) {
    completed = { ...closed, input: {} };
  }
  if (state === 'output-available' && closed.output === undefined) {
    completed = { ...(completed ?? closed), output: null };
  }
  if (state === 'output-error' && closed.errorText === undefined) {
    completed = { ...(completed ?? closed), errorText: MISSING_TOOL_ERROR_TEXT };
  }
  return completed ?? closed;
}

function closeToolPart(part: JsonObject): JsonObject {
  switch (part.state) {
    case 'input-streaming':
    case 'input-available': {
      const { approval: _approval, ...rest } = part;
      return { ...rest, state: 'output-error', input: part.input ?? {}, errorText: INTERRUPTED_TOOL_CALL_ERROR };
    }
    case 'approval-requested':
      return deniedToolPart(part, NEVER_ANSWERED_APPROVAL_REASON);
    case 'approval-responded': {
      const approval = isJsonObject(part.approval) ? part.approval : undefined;
      if (approval?.approved !== true) return deniedToolPart(part, undefined);
      return { ...part, state: 'output-error', input: part.input ?? {}, errorText: APPROVED_NEVER_RUN_ERROR };
    }
    default:
      return part;
  }
}

/** output-denied: the call and its approval id stay, the answer is a no (with the user's reason, if any). */
function deniedToolPart(part: JsonObject, reason: string | undefined): JsonObject {
  const approval = isJsonObject(part.approval) ? part.approval : {};
  const closedApproval: JsonObject = { ...approval, id: typeof approval.id === 'string' ? approval.id : `${String(part.toolCallId)}-approval`, approved: false };
  if (reason !== undefined && typeof approval.reason !== 'string') closedApproval.reason = reason;
  return { ...part, state: 'output-denied', input: part.input ?? {}, approval: closedApproval };
}
