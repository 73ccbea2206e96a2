import type pg from 'pg';

/** Which chat_messages rows fix-parts walks. */
export interface MessageScope {
  /** Only the messages of these chats (chats.id, text: app chats may have non-uuid ids). */
  chats?: readonly string[] | undefined;
  /** Only messages created at or after this time, or whose memory changed at or after it. */
  since?: Date | undefined;
  /** At most this many messages. */
  limit?: number | undefined;
}

/** The scope with --since resolved to the ids of memories changed since then (read once, up front). */
export interface ResolvedMessageScope extends MessageScope {
  changedMemoryIds: readonly string[];
}

/** A batch is a keyset range of chat_messages ids: (after, last]. */
export interface MessageRange {
  after: string | null;
  last: string;
}

// memories.id::text is always this form; a target id of any other form cannot name a memory.
const MEMORY_ID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether a target id (text) can be the text form of a legacy uuid. Target ids may be nanoids. */
export function looksLikeLegacyId(id: string): boolean {
  return MEMORY_ID_TEXT.test(id);
}

/**
 * memories.updated_at has no index, so "memory changed since" is resolved once here (one scan)
 * rather than per batch.
 */
export async function resolveMessageScope(db: pg.Pool, scope: MessageScope): Promise<ResolvedMessageScope> {
  if (!scope.since) return { ...scope, changedMemoryIds: [] };
  const { rows } = await db.query<{ id: string }>(`select m.id::text as id from public.memories m where m.updated_at >= $1`, [
    scope.since.toISOString(),
  ]);
  return { ...scope, changedMemoryIds: rows.map((r) => r.id) };
}

/** The scope as a WHERE fragment over alias `cm`, with its parameters numbered from `firstParam`. */
export function messageScopeFilter(scope: ResolvedMessageScope, firstParam: number): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const next = (value: unknown): string => {
    params.push(value);
    return `$${firstParam + params.length - 1}`;
  };
  if (scope.chats && scope.chats.length > 0) clauses.push(`cm.chat_id = any(${next(scope.chats)}::text[])`);
  if (scope.since) {
    clauses.push(`(cm.created_at >= ${next(scope.since.toISOString())}::timestamptz or cm.id = any(${next(scope.changedMemoryIds)}::text[]))`);
  }
  return { sql: clauses.length > 0 ? clauses.join(' and ') : 'true', params };
}
