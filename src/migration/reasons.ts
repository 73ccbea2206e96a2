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

export type ReasonCode =
  | RoomSkipReason
  | MessageSkipReason
  | 'room_failed'
  | 'artist_missing'
  | 'artist_conflict'
  | 'room_not_migrated'
  | 'parts_unrepairable'
  | 'concurrent_change'
  | 'session_missing'
  | 'chat_missing'
  | 'message_missing'
  | 'session_mismatch'
  | 'chat_mismatch'
  | 'message_mismatch'
  | 'message_unexpected'
  | 'artist_mismatch'
  // reconcile: a room expected to be skipped (no account, account deleted) whose session or chat exists.
  | 'session_unexpected'
  | 'target_deleted'
  | 'target_changed_in_app'
  // A message row that exists but was not written by this tool (the original script) and differs from
  // the converter's output. backfill never overwrites those; fix-parts rebuilds them.
  | 'message_needs_fix_parts';

/** Counts of reason codes, as they appear under `reasons` in a run summary. */
export type ReasonCounts = Partial<Record<ReasonCode, number>>;

export function countReason(counts: ReasonCounts, code: ReasonCode, by = 1): void {
  counts[code] = (counts[code] ?? 0) + by;
}
