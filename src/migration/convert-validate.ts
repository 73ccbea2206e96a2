/**
 * Validation by the AI SDK itself (`safeValidateUIMessages`, ai@6.0.190), with its error reduced to a
 * short detail that names paths and expectations but carries no message content (reports must not).
 */
import { safeValidateUIMessages } from 'ai';
import { isJsonObject } from './json.ts';
import { describePartType, describeState } from './skip-details.ts';

const MAX_DETAIL_LENGTH = 300;

/** null when the message is a valid v6 UIMessage, else a short description of why not. */
export async function validateMessage(message: unknown): Promise<string | null> {
  try {
    const result = await safeValidateUIMessages({ messages: [message] });
    return result.success ? null : describeValidationError(result.error, message);
  } catch (error) {
    // Its message may quote the value: only its kind is kept.
    return `validator failed: ${error instanceof Error ? error.name : typeof error}`;
  }
}

interface Issue {
  code?: string;
  path?: PropertyKey[];
  message?: string;
  errors?: Issue[][];
}

function describeValidationError(error: Error, message: unknown): string {
  const issues = zodIssues(error.cause);
  if (issues === undefined) {
    // The SDK's own message repeats the whole value: keep only what follows it, or nothing.
    const afterValue = /Value: [\s\S]*?\.\s*(Error message:[\s\S]*)$/.exec(error.message)?.[1];
    return afterValue !== undefined ? truncate(afterValue) : 'the AI SDK rejected it';
  }
  return truncate(issues.map((issue) => describeIssue(issue, message)).join('; '));
}

function zodIssues(cause: unknown): Issue[] | undefined {
  if (typeof cause !== 'object' || cause === null || !('issues' in cause)) return undefined;
  return Array.isArray(cause.issues) ? (cause.issues as Issue[]) : undefined;
}

function describeIssue(issue: Issue, message: unknown): string {
  // Paths start at the messages array: [0, 'parts', 2, ...].
  const path = (issue.path ?? []).slice(1);
  const where = formatPath(path);
  if (issue.code !== 'invalid_union' || !Array.isArray(issue.errors)) {
    return `${where || 'message'}: ${issue.message ?? issue.code ?? 'invalid'}`;
  }
  const part = partAt(message, path);
  const label = `${where} (${describePart(part)})`;
  const branch = closestBranch(issue.errors);
  if (branch === undefined) return `${label}: no v6 part schema has this type`;
  return `${label}: ${branch.map((inner) => `${formatPath(inner.path ?? []) || 'part'}: ${inner.message ?? inner.code}`).join(', ')}`;
}

/** The union member that failed least: its type matched, and preferably its state too. */
function closestBranch(branches: Issue[][]): Issue[] | undefined {
  let best: Issue[] | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const branch of branches) {
    if (branch.some((inner) => inner.path?.[0] === 'type')) continue;
    const score = branch.length + (branch.some((inner) => inner.path?.[0] === 'state') ? 1000 : 0);
    if (score < bestScore) {
      best = branch;
      bestScore = score;
    }
  }
  return best;
}

function partAt(message: unknown, path: PropertyKey[]): unknown {
  if (!isJsonObject(message) || path[0] !== 'parts' || typeof path[1] !== 'number') return undefined;
  return Array.isArray(message.parts) ? message.parts[path[1]] : undefined;
}

function describePart(part: unknown): string {
  if (!isJsonObject(part)) return 'not an object';
  const type = typeof part.type === 'string' ? describePartType(part.type) : 'no type';
  return typeof part.state === 'string' ? `${type}, ${describeState(part.state)}` : type;
}

function formatPath(path: PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    text += typeof key === 'number' ? `[${key}]` : `${text === '' ? '' : '.'}${String(key)}`;
  }
  return text;
}

function truncate(text: string): string {
  return text.length <= MAX_DETAIL_LENGTH ? text : `${text.slice(0, MAX_DETAIL_LENGTH - 1)}…`;
}
