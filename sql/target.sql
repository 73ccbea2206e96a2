-- The target schema as production has it (shared/spec/schema.md, "Target tables"), without
-- sessions.artist_id: that column, its FK and index are added by target-artist-id.sql (or by
-- `recoup-migrate stamp-artist-id`). Never run against production.

create or replace function public.set_updated_at() returns trigger
language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

create table public.sessions (
  id text not null primary key,
  account_id uuid not null references public.accounts (id) on delete cascade,
  title text not null,
  status text not null default 'running'
    check (status in ('running', 'completed', 'failed', 'archived')),
  repo_owner text,
  repo_name text,
  branch text,
  clone_url text,
  is_new_branch boolean not null default false,
  global_skill_refs jsonb not null default '[]'::jsonb,
  sandbox_state jsonb,
  lifecycle_state text
    check (lifecycle_state in ('provisioning', 'active', 'hibernating', 'hibernated', 'restoring', 'archived', 'failed')),
  lifecycle_version integer not null default 0,
  last_activity_at timestamptz,
  sandbox_expires_at timestamptz,
  hibernate_after timestamptz,
  lifecycle_run_id text,
  lifecycle_error text,
  lines_added integer default 0,
  lines_removed integer default 0,
  snapshot_url text,
  snapshot_created_at timestamptz,
  snapshot_size_bytes integer,
  cached_diff jsonb,
  cached_diff_updated_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index sessions_account_id_idx on public.sessions (account_id);
create trigger set_updated_at before update on public.sessions
  for each row execute function public.set_updated_at();

create table public.chats (
  id text not null primary key,
  session_id text not null references public.sessions (id) on delete cascade,
  title text not null,
  model_id text,
  active_stream_id text,
  last_assistant_message_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create trigger set_updated_at before update on public.chats
  for each row execute function public.set_updated_at();

create table public.chat_messages (
  id text not null primary key,
  chat_id text not null references public.chats (id) on delete cascade,
  role text not null check (role in ('user', 'assistant')),
  parts jsonb not null,
  created_at timestamptz not null default now()
);

create table public.chat_reads (
  account_id uuid not null references public.accounts (id) on delete cascade,
  chat_id text not null references public.chats (id) on delete cascade,
  last_read_at timestamptz not null default now(),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (account_id, chat_id)
);

create table public.workflow_runs (
  id text not null primary key,
  chat_id text not null references public.chats (id) on delete cascade,
  model_id text,
  status text not null check (status in ('completed', 'aborted', 'failed')),
  started_at timestamptz not null,
  finished_at timestamptz not null,
  total_duration_ms integer not null,
  created_at timestamptz not null default now()
);

alter table public.sessions enable row level security;
alter table public.chats enable row level security;
alter table public.chat_messages enable row level security;
