import type pg from 'pg';
import { ERAS, MEMORY_TAIL_ALPHA, ROOM_RATES, type MemoryCountPlan } from './shape.ts';

/**
 * The synthetic rooms, generated in the database. Every value comes from md5 of (seed, kind, number):
 * the same seed gives the same rows on any server, and nothing calls random() or now().
 */

/** The parameters every seed statement shares, in this order ($1..$9). */
export interface SeedParameters {
  seed: string;
  accounts: number;
  artists: number;
  plan: MemoryCountPlan;
  /** Whether some rooms may name an artist account that does not exist (only without the FK). */
  danglingArtists: boolean;
}

export function seedParameterValues(p: SeedParameters): unknown[] {
  return [p.seed, p.accounts, p.artists, p.plan.scale, p.plan.cap, p.plan.giantRoom, p.plan.giantCount, p.danglingArtists, MEMORY_TAIL_ALPHA];
}
/** The first placeholder number free after the shared parameters. */
export const NEXT_PARAMETER = 10;

/** A uniform draw in [0, 1) from the i-th 32 bits of an md5 hex string. */
export function draw(hashHex: string, index: number): string {
  return `(('x' || substr(${hashHex}, ${1 + 8 * index}, 8))::bit(32)::bigint::float8 / 4294967296.0)`;
}

const ERA_BOUNDS = ERAS.reduce<number[]>((bounds, era) => [...bounds, (bounds.at(-1) ?? 0) + era.share], []);
const epoch = (iso: string) => Date.parse(iso) / 1000;
const ERA_STARTS = `array[${ERAS.map((e) => epoch(e.from)).join(',')}]::float8[]`;
const ERA_LENGTHS = `array[${ERAS.map((e) => epoch(e.to) - epoch(e.from)).join(',')}]::float8[]`;
const SENTINEL_ACCOUNT = '00000000-0000-0000-0000-000000000000';

const TOPIC_VERBS = ['Plan', 'Grow', 'Analyze', 'Pitch', 'Promote', 'Review', 'Draft', 'Map'];
const TOPIC_SUBJECTS = ['the spring tour', 'TikTok fans', 'the new single', 'playlist placements', 'the merch drop', 'superfans in Brazil', 'the album rollout', 'Spotify growth', 'the press kit', 'brand partners'];
const sqlTextArray = (values: readonly string[]) => `array[${values.map((v) => `'${v.replaceAll("'", "''")}'`).join(',')}]`;

/**
 * One row per room number in [$10, $11]: every attribute of the room and the flags its memories and
 * dependents are generated from. The same plan feeds the rooms, memories and dependents statements.
 */
export function roomPlanSql(): string {
  const [u0, u1, u2, u3] = [0, 1, 2, 3].map((i) => draw('g.ha', i)) as [string, string, string, string];
  const [u4, u5, u6, u7] = [0, 1, 2, 3].map((i) => draw('g.hb', i)) as [string, string, string, string];
  const [u8, u9, u10, u11] = [0, 1, 2, 3].map((i) => draw('g.hc', i)) as [string, string, string, string];
  const eraCase = `case ${ERA_BOUNDS.slice(0, -1).map((bound, i) => `when ${u0} < ${bound} then ${i}`).join(' ')} else ${ERAS.length - 1} end`;
  const accountFaults = ROOM_RATES.nullAccount + ROOM_RATES.deletedAccount + ROOM_RATES.sentinelAccount;
  return `
    select g.n, g.id, era,
           to_timestamp((${ERA_STARTS})[era + 1] + ${u1} * (${ERA_LENGTHS})[era + 1]) as updated_at,
           case when ${u3} < ${ROOM_RATES.nullAccount} then null
                when ${u3} < ${ROOM_RATES.nullAccount + ROOM_RATES.deletedAccount} then md5($1 || ':gone-account:' || g.n)::uuid
                when ${u3} < ${accountFaults} then '${SENTINEL_ACCOUNT}'::uuid
                else md5($1 || ':account:' || floor((${u3} - ${accountFaults}) / ${1 - accountFaults} * $2)::int)::uuid end as account_id,
           case when ${u4} < ${ROOM_RATES.nullTopic} then null
                when ${u4} < ${ROOM_RATES.nullTopic + ROOM_RATES.blankTopic} then case when g.n % 2 = 0 then '' else '   ' end
                else (${sqlTextArray(TOPIC_VERBS)})[1 + g.n % ${TOPIC_VERBS.length}] || ' '
                     || (${sqlTextArray(TOPIC_SUBJECTS)})[1 + floor(${u4} * 1000)::int % ${TOPIC_SUBJECTS.length}] end as topic,
           case when ${u5} >= ${ROOM_RATES.withArtist} then null
                when $8 and ${u6} < ${ROOM_RATES.deletedArtist} then md5($1 || ':gone-artist:' || g.n)::uuid
                else md5($1 || ':artist:' || floor(${u5} / ${ROOM_RATES.withArtist} * $3)::int)::uuid end as artist_id,
           case when g.n = $6 then $7::int
                when ${u11} < ${ROOM_RATES.empty} then 0
                else least($5::int, 1 + floor($4::float8 * (power(1 - ${u2}, -1 / $9::float8) - 1)))::int end as memory_count,
           ${u7} < ${ROOM_RATES.copied} as copied,
           ${u8} < ${ROOM_RATES.email} as email,
           ${u9} as segment_draw,
           ${u10} < ${ROOM_RATES.withErrorLog} as error_log
      from (select n, md5($1 || ':room:' || n)::uuid as id,
                   md5($1 || ':room-a:' || n) as ha, md5($1 || ':room-b:' || n) as hb, md5($1 || ':room-c:' || n) as hc
              from generate_series($10::int, $11::int) n) g
     cross join lateral (select ${eraCase} as era) e`;
}

/** Accounts (users) and artists (also accounts), numbered from 0. */
export async function insertAccounts(client: pg.Pool | pg.ClientBase, p: SeedParameters): Promise<number> {
  const { rowCount } = await client.query(
    `insert into public.accounts (id, name, "timestamp")
     select md5($1 || ':account:' || i)::uuid, 'Synthetic user ' || i, ${epoch('2025-01-01T00:00:00Z')} + i
       from generate_series(0, $2::int - 1) i
     union all
     select md5($1 || ':artist:' || i)::uuid, 'Synthetic artist ' || i, ${epoch('2025-01-01T00:00:00Z')} + i
       from generate_series(0, $3::int - 1) i`,
    [p.seed, p.accounts, p.artists],
  );
  return rowCount ?? 0;
}

export async function insertRooms(client: pg.ClientBase, p: SeedParameters, first: number, last: number): Promise<number> {
  const { rowCount } = await client.query(
    `insert into public.rooms (id, account_id, topic, updated_at, artist_id)
     select id, account_id, topic, updated_at, artist_id from (${roomPlanSql()}) plan`,
    [...seedParameterValues(p), first, last],
  );
  return rowCount ?? 0;
}
