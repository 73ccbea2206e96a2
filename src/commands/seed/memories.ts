import type pg from 'pg';
import { memoryContentSql, memoryPiecesSql } from './content.ts';
import { roomPlanSql, seedParameterValues, type SeedParameters } from './rooms.ts';
import { ROOM_RATES, SHARED_PAIR_TIME_RATE } from './shape.ts';

// Seconds between two user/assistant pairs of a room; the jitter below stays under it, so time order
// follows the memory number.
const PAIR_STEP_SECONDS = 90;
const JITTER_MICROSECONDS = 40_000_000;
// Large primes that spread (room, pair) over the jitter range without a hash.
const JITTER_ROOM_PRIME = 7_919;
const JITTER_PAIR_PRIME = 104_729;
// A copied room's memories all got the moment of the copy: one hour after the room.
const COPY_DELAY = "interval '1 hour'";
// Segments: one per this many rooms.
export const ROOMS_PER_SEGMENT = 200;

/**
 * A memory's time: pairs (user, assistant) 90 s apart, with a per-pair jitter in microseconds; 10% of
 * pairs were written in one request and share one updated_at; in copied rooms every memory shares one.
 */
const MEMORY_TIME_SQL = `case when r.copied then r.updated_at + ${COPY_DELAY}
  else r.updated_at
       + make_interval(secs => ((k + 1) / 2) * ${PAIR_STEP_SECONDS}
           + case when k % 2 = 0 and (r.n * 31 + k * 17) % 100 >= ${SHARED_PAIR_TIME_RATE * 100} then ${PAIR_STEP_SECONDS / 2} else 0 end)
       + make_interval(secs => ((r.n::bigint * ${JITTER_ROOM_PRIME} + ((k + 1) / 2) * ${JITTER_PAIR_PRIME}) % ${JITTER_MICROSECONDS}) / 1e6)
  end`;

/** Inserts the memories of rooms [first, last], set-based; returns how many. */
export async function insertMemories(client: pg.ClientBase, p: SeedParameters, first: number, last: number): Promise<number> {
  const { rowCount } = await client.query(
    `insert into public.memories (id, room_id, content, updated_at)
     select md5($1 || ':memory:' || r.n || ':' || k)::uuid, r.id, ${memoryContentSql()}, ${MEMORY_TIME_SQL}
       from (${roomPlanSql()}) r
      cross join lateral generate_series(1, r.memory_count) k
      cross join lateral (select md5($1 || ':memory-draws:' || r.n || ':' || k) as hm) h
      cross join lateral (${memoryPiecesSql()}) x`,
    [...seedParameterValues(p), first, last],
  );
  return rowCount ?? 0;
}

export interface DependentCounts {
  segments: number;
  segmentRooms: number;
  errorLogs: number;
  memoryEmails: number;
}

/** segments, then segment_rooms, error_logs and memory_emails for rooms [first, last]. */
export async function insertDependents(client: pg.ClientBase, p: SeedParameters, first: number, last: number): Promise<DependentCounts> {
  const values = [...seedParameterValues(p), first, last];
  const plan = roomPlanSql();
  const segments = Math.max(1, Math.ceil((last - first + 1) / ROOMS_PER_SEGMENT));
  const segmentIds = await client.query(
    `insert into public.segments (id) select md5($1 || ':segment:' || $2::int || ':' || i)::uuid from generate_series(1, $3::int) i`,
    [p.seed, first, segments],
  );
  const segmentRooms = await client.query(
    `insert into public.segment_rooms (id, segment_id, room_id, updated_at)
     select md5($1 || ':segment-room:' || r.n || ':' || copy)::uuid,
            md5($1 || ':segment:' || $10::int || ':' || (1 + (r.n + copy) % ${segments}))::uuid, r.id, r.updated_at
       from (${plan}) r cross join generate_series(1, 2) copy
      where r.segment_draw < ${ROOM_RATES.inSegment} and (copy = 1 or r.segment_draw < ${ROOM_RATES.inSegment / 5})`,
    values,
  );
  const errorLogs = await client.query(
    `insert into public.error_logs (id, room_id, account_id, error_message, error_timestamp, error_type, last_message,
                                    raw_message, stack_trace, telegram_message_id, tool_name, created_at)
     select md5($1 || ':error-log:' || r.n)::uuid, r.id, a.id, 'Tool call failed: upstream timed out',
            r.updated_at + interval '1 minute', 'tool_error', 'Synthetic last message ' || r.n,
            'Synthetic raw message ' || r.n, 'Error: timeout\\n    at callTool (tools.ts:42:11)', 1000000 + r.n,
            'get_spotify_artist', r.updated_at + interval '1 minute'
       from (${plan}) r left join public.accounts a on a.id = r.account_id
      where r.error_log`,
    values,
  );
  const memoryEmails = await client.query(
    `insert into public.memory_emails (id, email_id, memory, message_id, created_at)
     select md5($1 || ':memory-email:' || m.id)::uuid, md5($1 || ':email:' || m.id)::uuid, m.id,
            '<' || md5($1 || ':message-id:' || m.id) || '@mail.recoupable.com>', m.updated_at
       from (${plan}) r join public.memories m on m.room_id = r.id
      where r.email`,
    values,
  );
  return {
    segments: segmentIds.rowCount ?? 0,
    segmentRooms: segmentRooms.rowCount ?? 0,
    errorLogs: errorLogs.rowCount ?? 0,
    memoryEmails: memoryEmails.rowCount ?? 0,
  };
}
