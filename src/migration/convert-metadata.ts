/**
 * What v6 has no field for goes under metadata.legacy, by the rules listed in convert.ts.
 */
import { isJsonObject, type JsonObject } from './json.ts';
import { isBlank } from './convert-parts.ts';
import { isContentShownByParts, toolCallIdsOf } from './convert-legacy.ts';

/** Top-level keys the converter reads; every other non-null key is kept under metadata.legacy as is. */
const CONVERTED_KEYS = new Set([
  'role',
  'parts',
  'content',
  'toolInvocations',
  'reasoning',
  'experimental_attachments',
  'metadata',
  'id',
  'createdAt',
  'revisionId',
  'annotations',
]);

export interface LegacySource {
  message: JsonObject;
  memoryId: string;
  /** The converted parts. */
  parts: readonly unknown[];
  /** The parts were built from content / toolInvocations / reasoning, not from a parts array. */
  builtFromLegacyFields: boolean;
}

export function legacyFields({ message, memoryId, parts, builtFromLegacyFields }: LegacySource): JsonObject {
  const legacy: JsonObject = {};
  const { id, createdAt, revisionId, content, annotations, reasoning, toolInvocations } = message;
  if (id != null && id !== memoryId) legacy.id = id;
  if (createdAt != null) legacy.createdAt = createdAt;
  if (revisionId != null) legacy.revisionId = revisionId;

  if (typeof content === 'string') {
    if (!builtFromLegacyFields && !isContentShownByParts(content, parts)) legacy.content = content;
  } else if (content != null) {
    legacy.content = content;
  }

  if (annotations != null && !(Array.isArray(annotations) && annotations.length === 0)) {
    legacy.annotations = annotations;
  }

  if (typeof reasoning === 'string') {
    const shown = builtFromLegacyFields || parts.some((part) => isJsonObject(part) && part.type === 'reasoning');
    if (!shown && !isBlank(reasoning)) legacy.reasoning = reasoning;
  } else if (reasoning != null) {
    legacy.reasoning = reasoning;
  }

  if (Array.isArray(toolInvocations)) {
    if (!builtFromLegacyFields) {
      const shownIds = toolCallIdsOf(parts);
      const notShown = toolInvocations.filter(
        (invocation: unknown) => !(isJsonObject(invocation) && shownIds.has(invocation.toolCallId)),
      );
      if (notShown.length > 0) legacy.toolInvocations = notShown;
    }
  } else if (toolInvocations != null) {
    legacy.toolInvocations = toolInvocations;
  }

  for (const key of ['parts', 'experimental_attachments'] as const) {
    const value = message[key];
    if (value != null && !Array.isArray(value)) legacy[key] = value;
  }
  if (message.metadata != null && !isJsonObject(message.metadata)) legacy.metadata = message.metadata;

  for (const key of Object.keys(message)) {
    if (!CONVERTED_KEYS.has(key) && message[key] != null) legacy[key] = message[key];
  }
  return legacy;
}

/**
 * The message's own metadata (v5/v6), with `legacy` merged in. Returns undefined when there is nothing,
 * and the existing object itself when there is nothing to add (re-conversion is then a no-op).
 */
export function buildMetadata(existing: unknown, legacy: JsonObject): JsonObject | undefined {
  const base = isJsonObject(existing) ? existing : {};
  if (Object.keys(legacy).length === 0) return Object.keys(base).length > 0 ? base : undefined;
  const previous = base.legacy;
  let merged: JsonObject;
  if (previous == null) merged = legacy;
  else if (isJsonObject(previous)) merged = { ...previous, ...legacy };
  else merged = { ...legacy, previous };
  return { ...base, legacy: merged };
}
