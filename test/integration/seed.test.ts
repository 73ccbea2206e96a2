import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { createMigrationDatabase } from '../support/legacy-data.ts';

const LEGACY_TABLES = ['accounts', 'rooms', 'memories', 'segments', 'segment_rooms', 'error_logs', 'memory_emails'];

/**
 * md5 of every row of each legacy table, in id order: equal digests mean identical data. The schema's own
 * "Nullable Account" row is left out: its timestamp is the schema's creation time, not seeded.
 */
async function tableDigests(pool: pg.Pool): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  for (const table of LEGACY_TABLES) {
    const { rows } = await pool.query<{ digest: string }>(
      `select md5(coalesce(string_agg(t::text, '|' order by t.id), '')) as digest from public.${table} t
        where t.id <> '00000000-0000-0000-0000-000000000000'`,
    );
    digests[table] = rows[0]!.digest;
  }
  return digests;
}

describe('seed', () => {
  // A: full schema present (as tests make it); B: empty database, so seed creates the schema itself.
  let a: Awaited<ReturnType<typeof createMigrationDatabase>>;
  let b: TestDatabase;
  let bPool: pg.Pool;
  let faults: Awaited<ReturnType<typeof createMigrationDatabase>>;

  beforeAll(async () => {
    a = await createMigrationDatabase();
    faults = await createMigrationDatabase();
    b = await createTestDatabase();
    const { default: pgModule } = await import('pg');
    bPool = new pgModule.Pool({ connectionString: b.url, max: 2 });
  });
  afterAll(async () => {
    await bPool.end();
    await b.drop();
    await a.close();
    await faults.close();
  });

  it('is deterministic: the same seed gives identical rows in two databases, a different seed does not', async () => {
    const first = await runCli(['seed', '--rooms', '500', '--seed', '7', '--json'], { databaseUrl: a.db.url });
    const second = await runCli(['seed', '--rooms', '500', '--seed', '7', '--json'], { databaseUrl: b.url });
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    expect(second.json?.schemaCreated).toEqual(['legacy.sql', 'target.sql', 'target-artist-id.sql']);
    expect(first.json?.seeded.rooms).toBe(500);
    const digestsA = await tableDigests(a.pool);
    expect(await tableDigests(bPool)).toEqual(digestsA);

    await bPool.query('truncate public.rooms, public.segments cascade');
    await bPool.query(`delete from public.accounts where id <> '00000000-0000-0000-0000-000000000000'`);
    const other = await runCli(['seed', '--rooms', '500', '--seed', '8', '--json'], { databaseUrl: b.url });
    expect(other.code, other.stderr).toBe(0);
    expect((await tableDigests(bPool)).memories).not.toBe(digestsA.memories);
  });

  it('refuses a database that already has rooms (exit 2), writing nothing', async () => {
    const before = await a.pool.query<{ count: string }>('select count(*) from public.memories');
    const again = await runCli(['seed', '--rooms', '10', '--json'], { databaseUrl: a.db.url });
    expect(again.code, again.stdout + again.stderr).toBe(2);
    expect(again.json?.error).toMatch(/already has rows/);
    const after = await a.pool.query<{ count: string }>('select count(*) from public.memories');
    expect(after.rows[0]!.count).toBe(before.rows[0]!.count);
  });

  it('writes every legacy shape and fault of production, a heavy tail and the dependent rows', async () => {
    const result = await runCli(['seed', '--rooms', '3000', '--seed', '3', '--drop-artist-fk', '--json'], { databaseUrl: faults.db.url });
    expect(result.code, result.stderr).toBe(0);
    expect(result.json?.danglingArtists).toBe(true);
    const count = async (sql: string) => Number((await faults.pool.query<{ n: string }>(`select count(*) as n ${sql}`)).rows[0]!.n);
    const rooms = 'from public.rooms r';
    const memories = 'from public.memories m';
    const facts: Record<string, number> = {
      nullAccount: await count(`${rooms} where r.account_id is null`),
      deletedAccount: await count(`${rooms} where r.account_id is not null and not exists (select 1 from accounts a where a.id = r.account_id)`),
      deletedArtist: await count(`${rooms} where r.artist_id is not null and not exists (select 1 from accounts a where a.id = r.artist_id)`),
      nullTopic: await count(`${rooms} where r.topic is null`),
      blankTopic: await count(`${rooms} where r.topic is not null and trim(r.topic) = ''`),
      emptyRooms: await count(`${rooms} where not exists (select 1 from memories m where m.room_id = r.id)`),
      s0NoParts: await count(`${memories} where jsonb_typeof(m.content) = 'object' and not m.content ? 'parts' and not m.content ? 'id'`),
      s1NoPartsTools: await count(`${memories} where m.content ? 'toolInvocations' and not m.content ? 'parts'`),
      s2AppendResponse: await count(`${memories} where m.content ? 'toolInvocations' and m.content ? 'parts'`),
      interruptedV4Calls: await count(`${memories} where m.content::text ~ '"state": "(partial-call|call)"'`),
      signedReasoning: await count(`${memories} where m.content::text like '%"signature":%'`),
      redactedReasoning: await count(`${memories} where m.content::text like '%"type": "redacted"%'`),
      base64Files: await count(`${memories} where m.content::text like '%{"data": "iVBOR%", "type": "file", "mimeType": "image/png"}%'`),
      attachments: await count(`${memories} where m.content ? 'experimental_attachments'`),
      s4ObjectObject: await count(`${memories} where m.content->>'content' like '[object Object]%'`),
      dynamicTools: await count(`${memories} where m.content::text like '%"type": "dynamic-tool"%'`),
      approvals: await count(`${memories} where m.content::text like '%"state": "approval-requested"%'`),
      outputErrors: await count(`${memories} where m.content::text like '%"state": "output-error"%'`),
      malformed: await count(`${memories} where jsonb_typeof(m.content) <> 'object' or not m.content ? 'role'`),
      unsupportedRole: await count(`${memories} where m.content->>'role' in ('system', 'data', 'tool')`),
      large: await count(`${memories} where length(m.content::text) > 100000`),
      bigIntegers: await count(`${memories} where m.content::text ~ '"spotify_track_id": 90071992547\\d{5}'`),
      sharedTimes: await count(`from (select 1 from memories group by room_id, updated_at having count(*) > 1) s`),
      segmentRooms: await count('from public.segment_rooms'),
      errorLogs: await count('from public.error_logs'),
      memoryEmails: await count('from public.memory_emails'),
    };
    for (const [fact, n] of Object.entries(facts)) expect({ fact, present: n > 0 }).toEqual({ fact, present: true });
    const sizes = await faults.pool.query<{ largest: number; median: number }>(
      `select max(c)::int as largest, percentile_disc(0.5) within group (order by c)::int as median
         from (select count(*) as c from memories group by room_id) s`,
    );
    expect(sizes.rows[0]!.largest).toBe(result.json?.seeded.largestRoom);
    expect(sizes.rows[0]!.largest).toBeGreaterThan(100);
    expect(sizes.rows[0]!.median).toBeLessThanOrEqual(2);
  });
});
