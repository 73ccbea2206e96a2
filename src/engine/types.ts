import type { ColumnType, Generated } from 'kysely';

/**
 * Kysely types for every table the tool touches. jsonb columns are typed as `string` on purpose: the
 * tool selects them as `::text` and parses them with a lossless parser (JSON.parse would change
 * integers beyond 2^53), and writes them as text cast to jsonb.
 */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json = ColumnType<string, string, string>;
/** Columns with a default: optional on insert. (Generated<> would nest ColumnTypes.) */
type TimestampWithDefault = ColumnType<Date, Date | string | undefined, Date | string>;
type JsonWithDefault = ColumnType<string, string | undefined, string>;

// Legacy
export interface AccountsTable {
  id: Generated<string>;
  name: string | null;
  timestamp: Generated<string | null>;
}
export interface RoomsTable {
  id: Generated<string>;
  account_id: string | null;
  topic: string | null;
  updated_at: TimestampWithDefault;
  artist_id: string | null;
}
export interface MemoriesTable {
  id: Generated<string>;
  room_id: string | null;
  content: Json;
  updated_at: TimestampWithDefault;
}
export interface SegmentsTable {
  id: Generated<string>;
}
export interface SegmentRoomsTable {
  id: Generated<string>;
  segment_id: string;
  room_id: string;
  updated_at: TimestampWithDefault;
}
export interface ErrorLogsTable {
  id: Generated<string>;
  room_id: string | null;
  account_id: string | null;
  error_message: string | null;
  error_timestamp: Timestamp | null;
  error_type: string | null;
  last_message: string | null;
  raw_message: string;
  stack_trace: string | null;
  telegram_message_id: string | null;
  tool_name: string | null;
  created_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}
export interface MemoryEmailsTable {
  id: Generated<string>;
  email_id: string;
  memory: string;
  message_id: string;
  created_at: TimestampWithDefault;
}

// Target
export interface SessionsTable {
  id: string;
  account_id: string;
  title: string;
  status: Generated<'running' | 'completed' | 'failed' | 'archived'>;
  repo_owner: string | null;
  repo_name: string | null;
  branch: string | null;
  clone_url: string | null;
  is_new_branch: Generated<boolean>;
  global_skill_refs: JsonWithDefault;
  sandbox_state: Json | null;
  lifecycle_state: string | null;
  lifecycle_version: Generated<number>;
  last_activity_at: Timestamp | null;
  sandbox_expires_at: Timestamp | null;
  hibernate_after: Timestamp | null;
  lifecycle_run_id: string | null;
  lifecycle_error: string | null;
  lines_added: Generated<number | null>;
  lines_removed: Generated<number | null>;
  snapshot_url: string | null;
  snapshot_created_at: Timestamp | null;
  snapshot_size_bytes: number | null;
  cached_diff: Json | null;
  cached_diff_updated_at: Timestamp | null;
  created_at: TimestampWithDefault;
  updated_at: TimestampWithDefault;
  /** Added by stamp-artist-id; may be missing (see TargetShape.hasArtistId). */
  artist_id: string | null;
}
export interface ChatsTable {
  id: string;
  session_id: string;
  title: string;
  model_id: string | null;
  active_stream_id: string | null;
  last_assistant_message_at: Timestamp | null;
  created_at: TimestampWithDefault;
  updated_at: TimestampWithDefault;
}
export interface ChatMessagesTable {
  id: string;
  chat_id: string;
  role: 'user' | 'assistant';
  parts: Json;
  created_at: TimestampWithDefault;
}
export interface ChatReadsTable {
  account_id: string;
  chat_id: string;
  last_read_at: TimestampWithDefault;
  created_at: TimestampWithDefault;
  updated_at: TimestampWithDefault;
}
export interface WorkflowRunsTable {
  id: string;
  chat_id: string;
  model_id: string | null;
  status: 'completed' | 'aborted' | 'failed';
  started_at: Timestamp;
  finished_at: Timestamp;
  total_duration_ms: number;
  created_at: TimestampWithDefault;
}

// State schema (queried with .withSchema(stateSchema))
export interface RunsTable {
  run_id: string;
  command: string;
  scope: JsonWithDefault;
  options: JsonWithDefault;
  status: Generated<'running' | 'completed' | 'incomplete' | 'failed' | 'undone'>;
  tool_version: string;
  converter_version: number;
  started_at: TimestampWithDefault;
  heartbeat_at: TimestampWithDefault;
  finished_at: Timestamp | null;
  summary: Json | null;
}
export interface LeasesTable {
  name: string;
  run_id: string;
  command: string;
  holder: string;
  acquired_at: TimestampWithDefault;
  expires_at: Timestamp;
}
export interface RoomLedgerTable {
  room_id: string;
  session_id: string;
  status: string;
  fingerprint: string;
  converter_version: number;
  reasons: Generated<string[]>;
  memories_total: Generated<number>;
  memories_skipped: Generated<number>;
  skipped: JsonWithDefault;
  run_id: string;
  updated_at: TimestampWithDefault;
}
export interface TargetLedgerTable {
  kind: 'session' | 'chat' | 'message';
  id: string;
  room_id: string;
  digest: string;
  inserted_by: string | null;
  written_by: string;
  converter_version: number;
  written_at: TimestampWithDefault;
}

export interface Database {
  accounts: AccountsTable;
  rooms: RoomsTable;
  memories: MemoriesTable;
  segments: SegmentsTable;
  segment_rooms: SegmentRoomsTable;
  error_logs: ErrorLogsTable;
  memory_emails: MemoryEmailsTable;
  sessions: SessionsTable;
  chats: ChatsTable;
  chat_messages: ChatMessagesTable;
  chat_reads: ChatReadsTable;
  workflow_runs: WorkflowRunsTable;
  runs: RunsTable;
  leases: LeasesTable;
  room_ledger: RoomLedgerTable;
  target_ledger: TargetLedgerTable;
}
