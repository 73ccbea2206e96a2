-- recoup-migrate's own state. Lives in its own schema (default recoup_migrate, --state-schema),
-- created on first use; nothing here touches the production tables.
-- __SCHEMA__ is replaced by the quoted schema name before this runs; the schema itself is created by
-- stateSchemaDdl (src/engine/state-schema.ts), only where it is absent.


-- One row per invocation (or per joined run, when several workers share one).
create table if not exists __SCHEMA__.runs (
  run_id uuid primary key,
  command text not null,
  scope jsonb not null default '{}'::jsonb,
  options jsonb not null default '{}'::jsonb,
  status text not null default 'running' check (status in ('running', 'completed', 'incomplete', 'failed', 'undone')),
  tool_version text not null,
  converter_version integer not null,
  started_at timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  finished_at timestamptz,
  summary jsonb,
  -- The keyset cursor of a shared run: workers take the next range of keys from here (room ids, or
  -- chat_messages ids for fix-parts; text, cast back to the key's type by the tool).
  cursor_after text,
  cursor_done boolean not null default false,
  -- How many keys the run walks (rooms, or messages for fix-parts), for status' ETA.
  keys_total integer
);

-- Exclusion between runs that must not overlap: one row per lease name, expiring unless renewed.
-- Lease rows rather than advisory locks, because advisory locks are session state that a
-- transaction-mode pooler does not keep.
create table if not exists __SCHEMA__.leases (
  name text primary key,
  run_id uuid not null,
  command text not null,
  holder text not null,
  acquired_at timestamptz not null default now(),
  expires_at timestamptz not null
);

-- The batches of a run, claimed by workers with FOR UPDATE SKIP LOCKED and held by expiring leases, so
-- several processes on several machines can share one run and a dead worker's batch is taken over.
create table if not exists __SCHEMA__.batches (
  run_id uuid not null references __SCHEMA__.runs (run_id) on delete cascade,
  batch_no integer not null,
  -- The range (after_id, last_id] of keys: room ids, or chat_messages ids for fix-parts (text ids).
  after_id text,
  last_id text not null,
  status text not null check (status in ('pending', 'running', 'done', 'split')),
  claimed_by text,
  lease_expires_at timestamptz,
  attempts integer not null default 0,
  -- Keys in the batch (rooms, or messages for fix-parts); the name predates fix-parts' batches.
  rooms integer,
  duration_ms integer,
  stats jsonb,
  created_at timestamptz not null default now(),
  finished_at timestamptz,
  primary key (run_id, batch_no)
);

-- Upgrades a state schema from before fix-parts shared the work queue, when keys were room uuids.
-- Guarded by the catalog, so that re-running this file is harmless.
alter table __SCHEMA__.runs add column if not exists keys_total integer;
do $$
begin
  if exists (select 1 from pg_attribute where attrelid = '__SCHEMA__.runs'::regclass and attname = 'cursor_after' and atttypid = 'uuid'::regtype) then
    alter table __SCHEMA__.runs alter column cursor_after type text;
  end if;
  if exists (select 1 from pg_attribute where attrelid = '__SCHEMA__.batches'::regclass and attname = 'after_id' and atttypid = 'uuid'::regtype) then
    alter table __SCHEMA__.batches alter column after_id type text, alter column last_id type text;
  end if;
end $$;

-- Per legacy room: the source fingerprint the last backfill saw, and what it concluded.
create table if not exists __SCHEMA__.room_ledger (
  room_id uuid primary key,
  session_id text not null,
  status text not null,
  fingerprint text not null,
  converter_version integer not null,
  reasons text[] not null default '{}',
  memories_total integer not null default 0,
  memories_skipped integer not null default 0,
  skipped jsonb not null default '[]'::jsonb,
  run_id uuid not null,
  updated_at timestamptz not null default now()
);

-- Per target row the tool wrote (or adopted as equal to what it would write): the digest of what it
-- holds, so that a later run can tell "still ours" from "changed in the app".
create table if not exists __SCHEMA__.target_ledger (
  kind text not null check (kind in ('session', 'chat', 'message')),
  id text not null,
  room_id uuid not null,
  digest text not null,
  inserted_by uuid,
  written_by uuid not null,
  converter_version integer not null,
  written_at timestamptz not null default now(),
  primary key (kind, id)
);
-- The row version (xmin) the tool's write left, so reconcile can confirm a row unchanged without hashing it.
alter table __SCHEMA__.target_ledger add column if not exists row_xmin text;
