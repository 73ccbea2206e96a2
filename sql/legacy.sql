-- The legacy schema as production has it (shared/spec/schema.md, "Legacy tables").
-- Used by `recoup-migrate schema --legacy` for tests, demos and staging; never run against production.

create extension if not exists pgcrypto;

create or replace function public.set_updated_at() returns trigger
language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end;
$$;

create table public.accounts (
  id uuid not null default gen_random_uuid() primary key,
  name text,
  "timestamp" bigint default extract(epoch from now())
);

insert into public.accounts (id, name)
values ('00000000-0000-0000-0000-000000000000', 'Nullable Account');

-- account_id has no foreign key on purpose: production never had one.
create table public.rooms (
  id uuid not null default gen_random_uuid() primary key,
  account_id uuid default gen_random_uuid(),
  topic text,
  updated_at timestamptz not null default now(),
  artist_id uuid references public.accounts (id) on delete cascade
);
create index rooms_account_id_idx on public.rooms (account_id);
create index rooms_artist_id_idx on public.rooms (artist_id);
create trigger set_updated_at before update on public.rooms
  for each row execute function public.set_updated_at();

create table public.memories (
  id uuid not null default gen_random_uuid() primary key,
  room_id uuid default gen_random_uuid() references public.rooms (id) on delete cascade,
  content jsonb not null,
  updated_at timestamptz not null default now()
);
create index memories_room_id_idx on public.memories (room_id);
create trigger set_updated_at before update on public.memories
  for each row execute function public.set_updated_at();

create table public.segments (
  id uuid not null default gen_random_uuid() primary key
);

create table public.segment_rooms (
  id uuid not null default gen_random_uuid() primary key,
  segment_id uuid not null references public.segments (id) on delete cascade,
  room_id uuid not null references public.rooms (id) on delete cascade,
  updated_at timestamptz not null default now()
);

create table public.error_logs (
  id uuid not null default gen_random_uuid() primary key,
  room_id uuid references public.rooms (id) on delete cascade,
  account_id uuid references public.accounts (id) on delete cascade,
  error_message text,
  error_timestamp timestamptz,
  error_type text,
  last_message text,
  raw_message text not null,
  stack_trace text,
  telegram_message_id bigint,
  tool_name text,
  created_at timestamptz default now()
);

create table public.memory_emails (
  id uuid not null default gen_random_uuid() primary key,
  email_id uuid not null unique,
  memory uuid not null references public.memories (id) on delete cascade on update cascade,
  message_id text not null unique,
  created_at timestamptz not null default now()
);

alter table public.rooms enable row level security;
alter table public.memories enable row level security;
