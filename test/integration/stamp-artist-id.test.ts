import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sessionIdForRoom } from '../../src/migration/session-id.ts';
import { runCli, type CliResult } from '../support/cli.ts';
import { createMigrationDatabase, insertAccount, insertRoom, targetSnapshot } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

// How often the lock tests look at pg_locks, and how long the blocker keeps its lock once the tool is
// seen waiting (the brief's ~1 s). The deadline only keeps a broken tool from hanging the suite.
const POLL_MS = 20;
const HOLD_AFTER_WAIT_SEEN_MS = 1_000;
const WAIT_SEEN_DEADLINE_MS = 30_000;

function stamp(env: Db, args: string[] = [], url = env.db.url): Promise<CliResult> {
  const reportDir = join(tmpdir(), `recoup-stamp-${env.db.name}-${randomUUID()}`);
  return runCli(['stamp-artist-id', '--json', '--report-dir', reportDir, ...args], { databaseUrl: url });
}

function roomLines(result: CliResult): Map<string, Record<string, any>> {
  const text = readFileSync(join(result.json!.reportDir as string, 'rooms.jsonl'), 'utf8').trim();
  const lines = text === '' ? [] : text.split('\n').map((line) => JSON.parse(line) as Record<string, any>);
  return new Map(lines.map((line) => [line.roomId as string, line]));
}

async function backfill(env: Db): Promise<void> {
  const result = await runCli(['backfill', '--json', '--report-dir', join(tmpdir(), `recoup-stamp-bf-${randomUUID()}`)], {
    databaseUrl: env.db.url,
  });
  expect(result.code, result.stderr).toBe(0);
}

/** sessions.artist_id's column, foreign keys and indexes as the catalogs describe them. */
async function artistIdSchema(pool: pg.Pool): Promise<object> {
  const column = await pool.query(
    `select data_type, is_nullable, column_default from information_schema.columns
      where table_schema = 'public' and table_name = 'sessions' and column_name = 'artist_id'`,
  );
  const fks = await pool.query(
    `select conname, pg_get_constraintdef(oid) as definition, convalidated from pg_constraint
      where conrelid = 'public.sessions'::regclass and contype = 'f' and conname like '%artist%' order by conname`,
  );
  const indexes = await pool.query(
    `select c.relname, pg_get_indexdef(i.indexrelid) as definition, i.indisvalid from pg_index i
       join pg_class c on c.oid = i.indexrelid
      where i.indrelid = 'public.sessions'::regclass and c.relname like '%artist%' order by c.relname`,
  );
  return { column: column.rows, fks: fks.rows, indexes: indexes.rows };
}

async function artistOf(pool: pg.Pool, roomId: string): Promise<string | null> {
  const { rows } = await pool.query<{ artist_id: string | null }>(`select artist_id from sessions where id = $1`, [sessionIdForRoom(roomId)]);
  return rows[0]!.artist_id;
}

async function updatedAtOfSessions(pool: pg.Pool): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ id: string; at: string }>(`select id, updated_at::text as at from sessions`);
  return new Map(rows.map((r) => [r.id, r.at]));
}

/** Resolves once some backend waits, ungranted, for a lock matching `where`. */
async function waitForLockWaiter(pool: pg.Pool, where: string): Promise<void> {
  const deadline = Date.now() + WAIT_SEEN_DEADLINE_MS;
  while (Date.now() < deadline) {
    const { rows } = await pool.query<{ n: number }>(`select count(*)::int as n from pg_locks where not granted and ${where}`);
    if (rows[0]!.n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(`No lock waiter (${where}) appeared`);
}

describe('stamp-artist-id from a target without the column', () => {
  let env: Db;
  let reference: Db;
  const rooms: Record<string, string> = {};
  let nativeSessionId: string;
  let beforeRun: Awaited<ReturnType<typeof targetSnapshot>>;
  let updatedAtBefore: Map<string, string>;
  let afterDry: Awaited<ReturnType<typeof targetSnapshot>>;
  let schemaAfterDry: object;
  let dry: CliResult;
  let first: CliResult;
  let afterFirst: Awaited<ReturnType<typeof targetSnapshot>>;
  let second: CliResult;
  let afterSecond: Awaited<ReturnType<typeof targetSnapshot>>;
  let artistA: string;
  let artistB: string;

  beforeAll(async () => {
    env = await createMigrationDatabase({ withoutArtistId: true });
    reference = await createMigrationDatabase();
    // Production may lack rooms.artist_id's FK; without it a room can name a deleted artist.
    await env.pool.query('alter table rooms drop constraint rooms_artist_id_fkey');
    const user = await insertAccount(env.pool, 'user');
    artistA = await insertAccount(env.pool, 'artist A');
    artistB = await insertAccount(env.pool, 'artist B');
    const gone = await insertAccount(env.pool, 'deleted artist');
    const old = '2024-03-01T10:00:00.123456Z';
    rooms.stamped = await insertRoom(env.pool, { accountId: user, topic: 'A', artistId: artistA, updatedAt: old });
    rooms.stampedB = await insertRoom(env.pool, { accountId: user, topic: 'B', artistId: artistB, updatedAt: old });
    rooms.conflict = await insertRoom(env.pool, { accountId: user, topic: 'C', artistId: artistA, updatedAt: old });
    rooms.noArtist = await insertRoom(env.pool, { accountId: user, topic: 'none', artistId: null, updatedAt: old });
    rooms.missingArtist = await insertRoom(env.pool, { accountId: user, topic: 'gone', artistId: gone, updatedAt: old });
    await backfill(env);
    await env.pool.query('delete from accounts where id = $1', [gone]);
    rooms.notMigrated = await insertRoom(env.pool, { accountId: user, topic: 'new', artistId: artistA });
    nativeSessionId = `app-${randomUUID()}`;
    await env.pool.query(`insert into sessions (id, account_id, title) values ($1, $2, 'made in the app')`, [nativeSessionId, user]);

    beforeRun = await targetSnapshot(env.pool);
    updatedAtBefore = await updatedAtOfSessions(env.pool);
    dry = await stamp(env, ['--dry-run']);
    afterDry = await targetSnapshot(env.pool);
    schemaAfterDry = await artistIdSchema(env.pool);
    first = await stamp(env);
    afterFirst = await targetSnapshot(env.pool);
    second = await stamp(env);
    afterSecond = await targetSnapshot(env.pool);
  });
  afterAll(async () => {
    await env.close();
    await reference.close();
  });

  it('dry run executes no DDL and writes nothing, yet lists the DDL and counts what it would stamp', async () => {
    expect(dry.code, dry.stderr).toBe(0);
    expect(afterDry).toEqual(beforeRun);
    expect(schemaAfterDry).toEqual({ column: [], fks: [], indexes: [] });
    const ddl = dry.json!.ddl as string[];
    expect(ddl).toHaveLength(4);
    expect(ddl[0]).toMatch(/add column if not exists artist_id uuid/);
    expect(ddl[1]).toMatch(/foreign key \(artist_id\) references public\.accounts \(id\) on delete cascade not valid/);
    expect(ddl[2]).toMatch(/validate constraint/);
    expect(ddl[3]).toMatch(/create index concurrently/);
    expect(dry.json!.dryRun).toBe(true);
    expect(dry.json!.artistId).toMatchObject({ populated: 3, alreadyCorrect: 0, missingArtists: 1, roomsWithoutSession: 1, conflicts: 0 });
    const runs = await env.pool.query(`select 1 from recoup_migrate.runs where run_id = $1`, [dry.json!.runId]);
    expect(runs.rows).toEqual([]);
  });

  it('ends with the column, FK and index exactly as sql/target-artist-id.sql creates them', async () => {
    expect(first.code, first.stderr).toBe(0);
    expect(first.json!.ddl).toEqual(dry.json!.ddl);
    const stamped = await artistIdSchema(env.pool);
    expect(stamped).toEqual(await artistIdSchema(reference.pool));
    expect(stamped).toMatchObject({
      fks: [{ definition: 'FOREIGN KEY (artist_id) REFERENCES accounts(id) ON DELETE CASCADE', convalidated: true }],
      indexes: [{ relname: 'sessions_artist_id_idx', indisvalid: true }],
    });
  });

  it("stamps each migrated session with its room's artist and reports every room", async () => {
    expect(await artistOf(env.pool, rooms.stamped!)).toBe(artistA);
    expect(await artistOf(env.pool, rooms.stampedB!)).toBe(artistB);
    expect(await artistOf(env.pool, rooms.conflict!)).toBe(artistA);
    expect(await artistOf(env.pool, rooms.missingArtist!)).toBeNull();
    expect(await artistOf(env.pool, rooms.noArtist!)).toBeNull();
    expect(first.json!.artistId).toEqual({
      populated: 3,
      alreadyCorrect: 0,
      conflicts: 0,
      overwritten: 0,
      missingArtists: 1,
      roomsWithoutSession: 1,
      concurrentChanges: 0,
    });
    expect(first.json!.reasons).toEqual({ artist_missing: 1, room_not_migrated: 1 });
    const lines = roomLines(first);
    expect(lines.size).toBe(5);
    expect(lines.get(rooms.stamped!)).toMatchObject({ sessionId: sessionIdForRoom(rooms.stamped!), status: 'stamped', reasons: [] });
    expect(lines.get(rooms.missingArtist!)).toMatchObject({ status: 'skipped', reasons: ['artist_missing'] });
    expect(lines.get(rooms.notMigrated!)).toMatchObject({ status: 'skipped', reasons: ['room_not_migrated'] });
    expect(lines.has(rooms.noArtist!)).toBe(false);
  });

  it('keeps updated_at of every session, so chat lists keep their order', async () => {
    expect(first.json!.updatedAtPreserved).toBe(true);
    expect(await updatedAtOfSessions(env.pool)).toEqual(updatedAtBefore);
  });

  it('never touches sessions the app created, nor sessions of rooms without an artist', () => {
    expect(afterFirst.get(`session:${nativeSessionId}`)!.xmin).toBe(beforeRun.get(`session:${nativeSessionId}`)!.xmin);
    const noArtist = `session:${sessionIdForRoom(rooms.noArtist!)}`;
    expect(afterFirst.get(noArtist)!.xmin).toBe(beforeRun.get(noArtist)!.xmin);
  });

  it('a second run writes nothing: no DDL, no row (xmin unchanged)', () => {
    expect(second.code, second.stderr).toBe(0);
    expect(second.json!.ddl).toEqual([]);
    expect(second.json!.artistId).toMatchObject({ populated: 0, alreadyCorrect: 3 });
    expect(afterSecond).toEqual(afterFirst);
  });

  it('reports a conflict and leaves it; --overwrite-conflicts replaces it and keeps the old value', async () => {
    await env.pool.query('update rooms set artist_id = $2 where id = $1', [rooms.conflict, artistB]);
    const before = await targetSnapshot(env.pool);
    const reported = await stamp(env);
    expect(reported.code, reported.stderr).toBe(0);
    expect(reported.json!.reasons).toMatchObject({ artist_conflict: 1 });
    expect(roomLines(reported).get(rooms.conflict!)).toMatchObject({ status: 'conflict', reasons: ['artist_conflict'], previousArtistId: artistA });
    expect(await targetSnapshot(env.pool)).toEqual(before);

    const forced = await stamp(env, ['--overwrite-conflicts', '--room', rooms.conflict!]);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.json!.rooms.total).toBe(1);
    expect(forced.json!.artistId).toMatchObject({ conflicts: 1, overwritten: 1 });
    expect(await artistOf(env.pool, rooms.conflict!)).toBe(artistB);
    const backup = await env.pool.query(`select session_id, old_artist_id, new_artist_id from recoup_migrate.artist_id_backup where run_id = $1`, [
      forced.json!.runId,
    ]);
    expect(backup.rows).toEqual([{ session_id: sessionIdForRoom(rooms.conflict!), old_artist_id: artistA, new_artist_id: artistB }]);
    expect(await updatedAtOfSessions(env.pool)).toEqual(updatedAtBefore);
    const after = await targetSnapshot(env.pool);
    const changed = [...after].filter(([key, row]) => before.get(key)?.xmin !== row.xmin).map(([key]) => key);
    expect(changed).toEqual([`session:${sessionIdForRoom(rooms.conflict!)}`]);
  });

  it("keeps backfill's ledger truthful: a later backfill still brings a stamped session up to date", async () => {
    await env.pool.query(`update rooms set topic = 'A renamed' where id = $1`, [rooms.stamped]);
    await backfill(env);
    const { rows } = await env.pool.query(`select title, artist_id from sessions where id = $1`, [sessionIdForRoom(rooms.stamped!)]);
    expect(rows).toEqual([{ title: 'A renamed', artist_id: artistA }]);
  });
});

describe('stamp-artist-id on a busy database', () => {
  let env: Db;
  let blocker: pg.Client;

  beforeAll(async () => {
    env = await createMigrationDatabase({ withoutArtistId: true });
    const user = await insertAccount(env.pool, 'user');
    const artist = await insertAccount(env.pool, 'artist');
    await insertRoom(env.pool, { accountId: user, artistId: artist });
    await backfill(env);
  });
  afterAll(async () => {
    await blocker?.end().catch(() => {});
    await env.close();
  });

  async function block(sql: string): Promise<pg.Client> {
    blocker = new pg.Client({ connectionString: env.db.url });
    await blocker.connect();
    await blocker.query('begin isolation level repeatable read');
    await blocker.query(sql);
    return blocker;
  }

  /** A stamp that must wait on `holder`: the holder commits once the stamp is seen waiting (and a moment more). */
  async function stampBehind(holder: pg.Client, waiting: string): Promise<CliResult> {
    const running = stamp(env, ['--ddl-lock-timeout', '200']);
    await waitForLockWaiter(env.pool, waiting);
    await new Promise((resolve) => setTimeout(resolve, HOLD_AFTER_WAIT_SEEN_MS));
    await holder.query('commit');
    await holder.end();
    return running;
  }

  it('gives up with exit 3 and a message naming the holder when a long transaction never ends', async () => {
    const holder = await block('select count(*) from sessions');
    const pid = (await holder.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    const result = await stamp(env, ['--ddl-lock-timeout', '100', '--ddl-attempts', '2']);
    await holder.query('rollback');
    await holder.end();
    expect(result.code).toBe(3);
    expect(result.json!.error).toMatch(/Gave up on `alter table public\.sessions add column.*after 2 attempts/);
    expect(result.json!.error).toContain(`pid ${pid}`);
    expect(await artistIdSchema(env.pool)).toEqual({ column: [], fks: [], indexes: [] });
  });

  it('waits behind a long transaction, retries, and succeeds once it ends', async () => {
    const holder = await block('select count(*) from sessions');
    const result = await stampBehind(holder, `relation = 'public.sessions'::regclass`);
    expect(result.code, result.stderr).toBe(0);
    expect(result.json!.lockRetries).toBeGreaterThanOrEqual(1);
    expect(result.stderr).toContain('Schema step could not take its lock; retrying');
    expect(await artistIdSchema(env.pool)).toMatchObject({ indexes: [{ indisvalid: true }], fks: [{ convalidated: true }] });
  });

  it('waits behind an ACCESS EXCLUSIVE lock without hanging, and succeeds once it is released', async () => {
    await env.pool.query('alter table sessions drop column artist_id');
    const holder = await block('lock table sessions in access exclusive mode');
    const result = await stampBehind(holder, `relation = 'public.sessions'::regclass`);
    expect(result.code, result.stderr).toBe(0);
    expect(result.json!.lockRetries).toBeGreaterThanOrEqual(1);
    expect(result.json!.artistId).toMatchObject({ populated: 1 });
    expect(await artistIdSchema(env.pool)).toMatchObject({ indexes: [{ indisvalid: true }], fks: [{ convalidated: true }] });
  });

  it('an index build that meets an old open transaction is retried, its INVALID leftover rebuilt', async () => {
    await env.pool.query('drop index sessions_artist_id_idx');
    const holder = await block('select count(*) from accounts');
    const result = await stampBehind(holder, `locktype = 'virtualxid'`);
    expect(result.code, result.stderr).toBe(0);
    expect(result.json!.ddl).toContain('drop index concurrently if exists public.sessions_artist_id_idx');
    expect(await artistIdSchema(env.pool)).toMatchObject({ indexes: [{ relname: 'sessions_artist_id_idx', indisvalid: true }] });
  });

  it('drops and rebuilds an INVALID index left by an earlier failed build', async () => {
    await env.pool.query(`update pg_index set indisvalid = false where indexrelid = 'public.sessions_artist_id_idx'::regclass`);
    const oidOfIndex = `select i.indexrelid::text as oid, i.indisvalid from pg_index i
                         where i.indexrelid = 'public.sessions_artist_id_idx'::regclass`;
    const { rows: before } = await env.pool.query(oidOfIndex);
    const result = await stamp(env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.json!.ddl).toEqual([
      'drop index concurrently if exists public.sessions_artist_id_idx',
      'create index concurrently if not exists sessions_artist_id_idx on public.sessions (artist_id)',
    ]);
    const { rows: after } = await env.pool.query(oidOfIndex);
    expect(before).toEqual([{ oid: expect.any(String), indisvalid: false }]);
    expect(after).toEqual([{ oid: expect.any(String), indisvalid: true }]);
    expect(after[0].oid).not.toBe(before[0].oid);
  });
});

describe('stamp-artist-id with a role that owns nothing and may not turn triggers off', () => {
  let env: Db;
  let roomId: string;
  let artist: string;
  const role = `stamp_role_${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  let limitedUrl: string;

  beforeAll(async () => {
    env = await createMigrationDatabase({ withoutArtistId: true });
    const user = await insertAccount(env.pool, 'user');
    artist = await insertAccount(env.pool, 'artist');
    roomId = await insertRoom(env.pool, { accountId: user, artistId: artist, updatedAt: '2024-01-01T00:00:00Z' });
    await backfill(env);
    await env.pool.query(`create role ${role} login password '${password}' bypassrls`);
    await env.pool.query(`grant create on database ${env.db.name} to ${role}`);
    await env.pool.query(`grant usage on schema public to ${role}`);
    const url = new URL(env.db.url);
    url.username = role;
    url.password = password;
    limitedUrl = url.toString();
  });
  afterAll(async () => {
    await env.close();
    const admin = new pg.Client({ connectionString: inject('adminDatabaseUrl') });
    await admin.connect();
    await admin.query(`drop role if exists ${role}`).finally(() => admin.end());
  });

  it('refuses the schema step on a table it does not own, naming the owner (exit 2)', async () => {
    await env.pool.query(`grant select, update on all tables in schema public to ${role}`);
    const result = await stamp(env, ['--allow-touch-updated-at', '--state-schema', 'limited_state'], limitedUrl);
    expect(result.code).toBe(2);
    expect(result.json!.error).toMatch(new RegExp(`Role ${role} does not own public\\.sessions \\(its owner is \\w+\\)`));
    expect(await artistIdSchema(env.pool).then((s: any) => s.column)).toEqual([]);
  });

  it('refuses to stamp when it cannot keep updated_at (exit 2), and writes nothing', async () => {
    await env.pool.query('alter table sessions add column artist_id uuid references accounts (id) on delete cascade');
    await env.pool.query(`grant select, update on all tables in schema public to ${role}`);
    const before = await targetSnapshot(env.pool);
    const result = await stamp(env, ['--skip-schema', '--state-schema', 'limited_state'], limitedUrl);
    expect(result.code).toBe(2);
    expect(result.json!.error).toMatch(/may not SET session_replication_role.*--allow-touch-updated-at/s);
    expect(await targetSnapshot(env.pool)).toEqual(before);
  });

  it('with --allow-touch-updated-at it stamps and says updated_at moved', async () => {
    const result = await stamp(env, ['--skip-schema', '--allow-touch-updated-at', '--state-schema', 'limited_state'], limitedUrl);
    expect(result.code, result.stderr).toBe(0);
    expect(result.json!.updatedAtPreserved).toBe(false);
    const { rows } = await env.pool.query(`select artist_id, updated_at > '2024-01-02'::timestamptz as moved from sessions where id = $1`, [
      sessionIdForRoom(roomId),
    ]);
    expect(rows).toEqual([{ artist_id: artist, moved: true }]);
  });
});
