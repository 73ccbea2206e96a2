-- sessions.artist_id as production has it after the stamp-artist-id step.
alter table public.sessions
  add column artist_id uuid references public.accounts (id) on delete cascade;
create index sessions_artist_id_idx on public.sessions (artist_id);
