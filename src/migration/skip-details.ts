/**
 * What a skip detail may say about a message: the names the AI SDKs define (roles, part types, states),
 * never a string the message itself holds (a made-up role, a tool's name, a state). Reports and logs
 * carry details without --show-values, so they say what was wrong, not what it held.
 */
const SDK_ROLES = new Set(['user', 'assistant', 'system', 'data', 'tool', 'function']);
const SDK_PART_TYPES = new Set(['text', 'reasoning', 'file', 'source-url', 'source-document', 'step-start', 'dynamic-tool', 'tool-invocation', 'source']);
const SDK_STATES = new Set([
  'streaming', 'done', 'input-streaming', 'input-available', 'output-available', 'output-error', 'output-denied',
  'approval-requested', 'approval-responded', 'call', 'partial-call', 'result',
]);

export function describeRole(role: string): string {
  return SDK_ROLES.has(role) ? `role ${JSON.stringify(role)}` : `a role of ${role.length} characters that no AI SDK defines`;
}

/** What a part type is, as far as a report may say: an SDK's own type, or a tool's, a data part's, or neither. */
function partKind(type: string): 'sdk' | 'tool' | 'data' | 'other' {
  if (SDK_PART_TYPES.has(type)) return 'sdk';
  if (type.startsWith('tool-')) return 'tool';
  return type.startsWith('data-') ? 'data' : 'other';
}

export function describePartType(type: string): string {
  return { sdk: `type ${JSON.stringify(type)}`, tool: 'a tool part', data: 'a data part', other: 'a type no AI SDK defines' }[partKind(type)];
}

export function describeState(state: string): string {
  return SDK_STATES.has(state) ? `state ${JSON.stringify(state)}` : 'a state no AI SDK defines';
}

/** A part type as shown without --show-values: the SDKs' own by name; a tool's or data part's name left out. */
export function partTypeName(type: string): string {
  return { sdk: type, tool: 'tool-…', data: 'data-…', other: '(a type no AI SDK defines)' }[partKind(type)];
}

/** A role as shown without --show-values. */
export function roleName(role: string): string {
  return SDK_ROLES.has(role) ? role : '(a role no AI SDK defines)';
}

/**
 * A detail written by an earlier version, which quoted roles, part types and states as they were, made
 * value-free the same way (it is kept in the room ledger and reported again for unchanged rooms).
 */
export function valueFreeDetail(detail: string): string {
  return detail
    .replace(/role ("(?:[^"\\]|\\.)*")/g, (_, quoted: string) => describeRole(parsed(quoted)))
    .replace(/type ("(?:[^"\\]|\\.)*")/g, (_, quoted: string) => describePartType(parsed(quoted)))
    .replace(/state ("(?:[^"\\]|\\.)*")/g, (_, quoted: string) => describeState(parsed(quoted)))
    .replace(/^(converter error|validator failed): .*$/s, (_, kind: string) => kind);
}

function parsed(quoted: string): string {
  try {
    return String(JSON.parse(quoted));
  } catch {
    return '';
  }
}
