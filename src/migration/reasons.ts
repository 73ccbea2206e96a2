/**
 * The reason codes of the command-line contract. Their names are stable: reports, baselines and CI
 * gates key on them. Add codes; never rename one.
 */
export const ROOM_SKIP_REASONS = ['room_no_account', 'room_account_missing'] as const;
export const MESSAGE_SKIP_REASONS = [
  'message_unsupported_role',
  'message_malformed',
  'message_empty',
  'message_invalid',
] as const;

export type RoomSkipReason = (typeof ROOM_SKIP_REASONS)[number];
export type MessageSkipReason = (typeof MESSAGE_SKIP_REASONS)[number];

/** Every reason code, in the order summaries list them (the reference's order: docs/reason-codes.md). */
export const REASON_CODES = [
  ...ROOM_SKIP_REASONS,
  // A memory whose room_id is NULL: it belongs to no room, so no walk reaches it (unscoped runs list it).
  'memory_no_room',
  'room_failed',
  'artist_missing',
  'artist_conflict',
  'room_not_migrated',
  ...MESSAGE_SKIP_REASONS,
  // memories.updated_at is infinity, -infinity or before year 1: the message has no time to be placed at.
  'message_no_time',
  // A message row that exists but was not written by this tool (the original script) and differs from
  // the converter's output. backfill never overwrites those; fix-parts rebuilds them.
  'message_needs_fix_parts',
  // A message row an earlier converter version wrote, rewritten by this one (its old value backed up).
  'message_upgraded',
  'parts_unrepairable',
  'concurrent_change',
  'session_missing',
  'chat_missing',
  'message_missing',
  'session_mismatch',
  'chat_mismatch',
  'message_mismatch',
  'message_unexpected',
  // reconcile: a room expected to be skipped (no account, account deleted) whose session or chat exists.
  'session_unexpected',
  'artist_mismatch',
  'target_deleted',
  'target_changed_in_app',
] as const;

export type ReasonCode = (typeof REASON_CODES)[number];

/** Counts of reason codes, as they appear under `reasons` in a run summary. */
export type ReasonCounts = Partial<Record<ReasonCode, number>>;

export function countReason(counts: ReasonCounts, code: ReasonCode, by = 1): void {
  counts[code] = (counts[code] ?? 0) + by;
}

/**
 * The same counts with their codes in REASON_CODES' order, whatever order the batches finished in: the
 * same run twice gives the same summary, byte for byte, apart from ids and times.
 */
export function orderedReasons(counts: ReasonCounts): ReasonCounts {
  const known = new Set<string>(REASON_CODES);
  const ordered: Record<string, number> = {};
  for (const code of REASON_CODES) if (counts[code] !== undefined) ordered[code] = counts[code];
  for (const code of Object.keys(counts).filter((c) => !known.has(c)).sort()) ordered[code] = (counts as Record<string, number>)[code]!;
  return ordered as ReasonCounts;
}
