import { readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringifyJson } from '../../src/migration/json.ts';
import { sessionIdForRoom } from '../../src/migration/session-id.ts';
import { runCli } from '../support/cli.ts';
import { loadMessageFixtures } from '../support/fixtures.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

describe('backfill: mapping, conversion and classification', () => {
  let env: Db;
  let accountId: string;
  let artistId: string;
  let shapesRoom: string;
  const fixtures = loadMessageFixtures();
  let first: Awaited<ReturnType<typeof runCli>>;

  beforeAll(async () => {
    env = await createMigrationDatabase();
    accountId = await insertAccount(env.pool, 'user');
    artistId = await insertAccount(env.pool, 'artist');
    shapesRoom = await insertRoom(env.pool, { accountId, topic: 'Every shape', artistId, updatedAt: '2025-05-01T10:00:00.123456Z' });
    for (const fixture of fixtures) {
      await insertMemory(env.pool, shapesRoom, fixture.contentText, fixture.updatedAt, fixture.memoryId);
    }
    first = await runCli(['backfill', '--json', '--report-dir', join(tmpdir(), `recoup-backfill-${env.db.name}`)], { databaseUrl: env.db.url });
  });
  afterAll(async () => env.close());

  it('exits 0 and reports every memory of the room', () => {
    expect(first.code).toBe(0);
    const summary = first.json!;
    expect(summary.rooms).toMatchObject({ total: 1, migrated: 1, failed: 0 });
    expect(summary.messages.total).toBe(fixtures.length);
    expect(summary.messages.written + summary.messages.skipped).toBe(fixtures.length);
  });

  it('writes the session with the uuid v5 id, the room fields and the artist', async () => {
    const { rows } = await env.pool.query(
      `select id, account_id, title, artist_id, status, created_at = $2::timestamptz as created_ok, updated_at = $2::timestamptz as updated_ok
         from sessions where id = $1`,
      [sessionIdForRoom(shapesRoom), '2025-05-01T10:00:00.123456Z'],
    );
    expect(rows).toEqual([
      { id: sessionIdForRoom(shapesRoom), account_id: accountId, title: 'Every shape', artist_id: artistId, status: 'running', created_ok: true, updated_ok: true },
    ]);
    const chat = await env.pool.query(`select session_id, title, model_id from chats where id = $1`, [shapesRoom]);
    expect(chat.rows).toEqual([{ session_id: sessionIdForRoom(shapesRoom), title: 'Every shape', model_id: null }]);
  });

  it.each(fixtures.map((f) => [f.name, f] as const))('%s: the stored row is the converter contract', async (_name, fixture) => {
    // jsonb equality, so numbers compare as numbers (Postgres stores 1e400 expanded).
    const expected = 'message' in fixture.expected ? stringifyJson(fixture.expected.message) : null;
    const { rows } = await env.pool.query<{ role: string; equal: boolean; created_ok: boolean }>(
      `select role, parts = $3::jsonb as equal, created_at = $2::timestamptz as created_ok from chat_messages where id = $1`,
      [fixture.memoryId, fixture.updatedAt, expected],
    );
    if ('skip' in fixture.expected) {
      expect(rows).toEqual([]);
      const line = JSON.parse(readFileSync(join(first.json!.reportDir, 'rooms.jsonl'), 'utf8').trim());
      expect(line.skipped).toContainEqual(expect.objectContaining({ memoryId: fixture.memoryId, reason: fixture.expected.skip }));
    } else {
      expect(rows).toHaveLength(1);
      expect(rows[0]!.created_ok).toBe(true);
      expect(rows[0]!.equal).toBe(true);
    }
  });

  it('writes reports with private modes', () => {
    const dir = first.json!.reportDir as string;
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const file of ['summary.json', 'summary.md', 'rooms.jsonl']) {
      expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
    }
  });
});

describe('backfill: room-level skips and notes', () => {
  let env: Db;
  beforeAll(async () => {
    env = await createMigrationDatabase();
  });
  afterAll(async () => env.close());

  it('skips rooms without or with a deleted account, migrates all-skipped rooms, and notes missing artists', async () => {
    const accountId = await insertAccount(env.pool);
    const goneArtist = await insertAccount(env.pool, 'artist who left');
    // Production's rooms.artist_id may lack its FK; without it a deleted artist leaves a dangling id.
    await env.pool.query('alter table rooms drop constraint rooms_artist_id_fkey');
    await env.pool.query('delete from accounts where id = $1', [goneArtist]);
    const noAccount = await insertRoom(env.pool, { accountId: null, topic: 'orphan' });
    await insertMemory(env.pool, noAccount, { role: 'user', content: 'lost?' });
    const deletedAccount = await insertRoom(env.pool, { accountId: '99999999-9999-4999-8999-999999999999' });
    await insertMemory(env.pool, deletedAccount, { role: 'user', content: 'a' });
    await insertMemory(env.pool, deletedAccount, { role: 'assistant', content: 'b' });
    const allSkipped = await insertRoom(env.pool, { accountId, topic: '   ' });
    await insertMemory(env.pool, allSkipped, { role: 'system', content: 'sys' });
    await insertMemory(env.pool, allSkipped, '"[object Object]"');
    const artistMissing = await insertRoom(env.pool, { accountId, topic: 'artist gone', artistId: goneArtist });
    await insertMemory(env.pool, artistMissing, { role: 'user', content: 'hello' });

    const result = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
    expect(result.code).toBe(0);
    expect(result.json!.rooms).toMatchObject({ total: 4, migrated: 2, skipped: 2, failed: 0 });
    expect(result.json!.messages).toMatchObject({ total: 6, written: 1, skipped: 5 });
    // Room codes count rooms; message codes count messages; a skipped room's memories count only in its line.
    expect(result.json!.reasons).toEqual({
      room_no_account: 1,
      room_account_missing: 1,
      message_unsupported_role: 1,
      message_malformed: 1,
      artist_missing: 1,
    });
    const lines = readFileSync(join(result.json!.reportDir, 'rooms.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const byRoom = new Map(lines.map((l) => [l.roomId, l]));
    expect(byRoom.get(noAccount)).toMatchObject({ status: 'skipped', reasons: ['room_no_account'], memories: { total: 1, skipped: 1 } });
    expect(byRoom.get(deletedAccount)).toMatchObject({ status: 'skipped', reasons: ['room_account_missing'], memories: { total: 2, skipped: 2 } });
    expect(byRoom.get(allSkipped)).toMatchObject({ status: 'migrated', memories: { total: 2, migrated: 0, skipped: 2 } });
    expect(byRoom.get(artistMissing)).toMatchObject({ status: 'migrated', reasons: ['artist_missing'] });

    const sessions = await env.pool.query(`select id, title, artist_id from sessions`);
    const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
    expect(sessions.rows.sort(byId)).toEqual(
      [
        { id: sessionIdForRoom(allSkipped), title: 'Untitled', artist_id: null },
        { id: sessionIdForRoom(artistMissing), title: 'artist gone', artist_id: null },
      ].sort(byId),
    );
    const chats = await env.pool.query(`select id from chats order by id`);
    expect(chats.rows.map((r) => r.id).sort()).toEqual([allSkipped, artistMissing].sort());
  });

  it('turns budgets into exit 1', async () => {
    const over = await runCli(['backfill', '--json', '--max-skipped-rooms', '1'], { databaseUrl: env.db.url });
    expect(over.code).toBe(1);
    expect(over.json!.problems.join(' ')).toMatch(/max-skipped-rooms/);
    const ratio = await runCli(['backfill', '--json', '--max-skipped-ratio', '0.1'], { databaseUrl: env.db.url });
    expect(ratio.code).toBe(1);
    const within = await runCli(['backfill', '--json', '--max-skipped-rooms', '2', '--max-skipped-ratio', '0.9'], { databaseUrl: env.db.url });
    expect(within.code).toBe(0);
  });
});

describe('backfill: a room with 5,000 memories, many sharing one updated_at', () => {
  let env: Db;
  beforeAll(async () => {
    env = await createMigrationDatabase();
  });
  afterAll(async () => env.close());

  it('migrates every memory, in updated_at then id order, in one room', async () => {
    const accountId = await insertAccount(env.pool);
    const roomId = await insertRoom(env.pool, { accountId, topic: 'huge' });
    await env.pool.query(
      `insert into memories (room_id, content, updated_at)
       select $1, jsonb_build_object('role', case when n % 2 = 0 then 'user' else 'assistant' end, 'content', 'message ' || n),
              '2025-03-01T00:00:00Z'::timestamptz + ((n / 1000) || ' seconds')::interval
         from generate_series(1, 5000) n`,
      [roomId],
    );
    const result = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
    expect(result.code).toBe(0);
    expect(result.json!.messages).toMatchObject({ total: 5000, written: 5000, skipped: 0 });
    const { rows } = await env.pool.query(
      `select count(*)::int as n,
              bool_and(cm.created_at = m.updated_at) as times_ok,
              bool_and(cm.chat_id = m.room_id::text) as chat_ok
         from memories m join chat_messages cm on cm.id = m.id::text`,
    );
    expect(rows[0]).toEqual({ n: 5000, times_ok: true, chat_ok: true });
  });
});
