import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { createMigrationDatabase, tableRows, writeAndFlush } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;
const LEGACY_TABLES = ['rooms', 'memories', 'memory_emails', 'segment_rooms'];

let env: Db;
let work: string;
let snapshot: string;
let before: Map<string, string[]>;

/** Writes through a client of its own and flushes its statistics before the drop's watch window. */
const write = (sql: string, params: unknown[] = []): Promise<void> => writeAndFlush(env.db.url, sql, params);

const rowsOf = (schema: string, tables: readonly string[]): Promise<Map<string, string[]>> => tableRows(env.pool, schema, tables);

async function present(name: string): Promise<boolean> {
  const { rows } = await env.pool.query<{ present: boolean }>(`select to_regclass($1) is not null as present`, [name]);
  return rows[0]!.present;
}

/** A copy of the snapshot with one byte of a data file changed. */
function damagedCopy(file: string): string {
  const copy = join(work, `damaged-${randomUUID()}`);
  cpSync(snapshot, copy, { recursive: true });
  const path = join(copy, file);
  writeFileSync(path, readFileSync(path, 'utf8').replace('hello', 'hellO'));
  return copy;
}

/** A copy of the snapshot with its manifest edited. */
function copyWithManifest(edit: (manifest: Record<string, any>) => Record<string, any>): string {
  const copy = join(work, `edited-${randomUUID()}`);
  cpSync(snapshot, copy, { recursive: true });
  const path = join(copy, 'manifest.json');
  writeFileSync(path, JSON.stringify(edit(JSON.parse(readFileSync(path, 'utf8')))));
  return copy;
}

beforeAll(async () => {
  env = await createMigrationDatabase();
  work = mkdtempSync(join(tmpdir(), 'restore-test-'));
  const account = randomUUID();
  const room = randomUUID();
  const memory = randomUUID();
  const segment = randomUUID();
  await write(`insert into accounts (id, name) values ($1, 'a')`, [account]);
  await write(`insert into rooms (id, account_id, topic) values ($1, $2, 'tab\there, "quotes", back\\slash')`, [room, account]);
  await write(
    `insert into memories (id, room_id, content, updated_at) values
       ($1, $2, '{"role":"user","content":"hello\\nworld","n":12345678901234567890}', '2026-01-01T00:00:00.123456Z'),
       (gen_random_uuid(), $2, '{"role":"assistant","content":"hi"}', '2026-01-01T00:00:01Z')`,
    [memory, room],
  );
  await write(`insert into memory_emails (email_id, memory, message_id) values (gen_random_uuid(), $1, '<x@example.com>')`, [memory]);
  await write(`insert into segments (id) values ($1)`, [segment]);
  await write(`insert into segment_rooms (segment_id, room_id) values ($1, $2)`, [segment, room]);
  await write(`insert into error_logs (room_id, raw_message) values ($1, 'boom')`, [room]);
  expect((await runCli(['backfill', '--json'], { databaseUrl: env.db.url })).code).toBe(0);
  before = await rowsOf('public', LEGACY_TABLES);
  snapshot = join(work, 'snapshot');
  const dropped = await runCli(['drop-legacy', '--json', '--watch', '1', '--accept-unmigrated', '0', '--confirm', env.db.name, '--snapshot-dir', snapshot], {
    databaseUrl: env.db.url,
  });
  expect(dropped.code, dropped.stderr).toBe(0);
  expect(await present('public.rooms')).toBe(false);
});
afterAll(async () => env.close());

describe('restore', () => {
  it('refuses a snapshot whose data file was damaged on disk, and creates nothing', async () => {
    const result = await runCli(['restore', '--json', '--snapshot-dir', damagedCopy('public.memories.copy')], { databaseUrl: env.db.url });
    expect(result.code).toBe(1);
    expect(result.json!.restored).toBe(false);
    expect(result.json!.problems[0]).toMatch(/file public\.memories\.copy does not match the manifest/);
    for (const table of LEGACY_TABLES) expect(await present(`public.${table}`)).toBe(false);
  });

  it('refuses a data file with one byte flipped in the middle (same size, same rows)', async () => {
    const copy = join(work, `flipped-${randomUUID()}`);
    cpSync(snapshot, copy, { recursive: true });
    const path = join(copy, 'public.rooms.copy');
    const bytes = readFileSync(path);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = bytes[middle]! ^ 0x01;
    writeFileSync(path, bytes);
    const result = await runCli(['restore', '--json', '--snapshot-dir', copy], { databaseUrl: env.db.url });
    expect(result.code).toBe(1);
    expect(result.json!.problems).toEqual([expect.stringMatching(/^file public\.rooms\.copy does not match the manifest \(sha256 \w+ \(\d+ bytes, 1 rows\), manifest says/)]);
    for (const table of LEGACY_TABLES) expect(await present(`public.${table}`)).toBe(false);
  });

  it('refuses a snapshot whose checksums this server computes differently (another byte order), and creates nothing', async () => {
    const copy = copyWithManifest((m) => ({ ...m, checksum: { ...m.checksum, probe: '42' } }));
    const result = await runCli(['restore', '--json', '--snapshot-dir', copy], { databaseUrl: env.db.url });
    expect(result.code).toBe(2);
    expect(result.json!.error).toMatch(/computes the snapshot's row checksums \(hashtextextended-2x64\/length-prefixed-columns\) differently .*probe -?\d+, manifest 42/);
    for (const table of LEGACY_TABLES) expect(await present(`public.${table}`)).toBe(false);
  });

  it('refuses a manifest of another snapshot format, naming the version that wrote it (exit 2)', async () => {
    const copy = copyWithManifest((m) => ({ ...m, format: 'recoup-migrate-snapshot/1', toolVersion: '0.0.9' }));
    const result = await runCli(['restore', '--json', '--snapshot-dir', copy], { databaseUrl: env.db.url });
    expect(result.code).toBe(2);
    expect(result.json!.error).toMatch(/is in format recoup-migrate-snapshot\/1, written by recoup-migrate 0\.0\.9; this version reads recoup-migrate-snapshot\/2 only/);
  });

  it('refuses a directory without a manifest (exit 2)', async () => {
    const result = await runCli(['restore', '--json', '--snapshot-dir', work], { databaseUrl: env.db.url });
    expect(result.code).toBe(2);
    expect(result.json!.error).toMatch(/No snapshot manifest/);
  });

  it('is incomplete (exit 1) when a grant or publication cannot be put back, and gives the statement to run', async () => {
    const copy = copyWithManifest((m) => ({
      ...m,
      tables: m.tables.map((t: Record<string, any>) =>
        t.printed === 'public.rooms'
          ? { ...t, grants: [...t.grants, { grantee: 'role_dropped_since', privilege: 'SELECT', grantable: false }], publications: [...t.publications, 'publication_dropped_since'] }
          : t,
      ),
    }));
    const result = await runCli(['restore', '--json', '--dry-run', '--snapshot-dir', copy], { databaseUrl: env.db.url });
    expect(result.code, result.stderr).toBe(1);
    expect(result.json!.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
    expect(result.json!.problems).toEqual([
      expect.stringMatching(/^grant SELECT to role_dropped_since not restored \(role "role_dropped_since" does not exist\); run it as a role that may: grant SELECT on public\.rooms to role_dropped_since;$/),
      expect.stringMatching(/^publication publication_dropped_since not restored \(publication "publication_dropped_since" does not exist\); run it as a role that may: alter publication publication_dropped_since add table public\.rooms;$/),
    ]);
    for (const table of LEGACY_TABLES) expect(await present(`public.${table}`)).toBe(false);
  });

  it('--dry-run restores inside a transaction that is rolled back', async () => {
    const result = await runCli(['restore', '--json', '--dry-run', '--snapshot-dir', snapshot], { databaseUrl: env.db.url });
    expect(result.code, result.stderr).toBe(0);
    expect(result.json!.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
    expect(result.json!.restored).toBe(false);
    for (const table of LEGACY_TABLES) expect(await present(`public.${table}`)).toBe(false);
  });

  it('--into-schema restores a copy for inspection, with FKs among the copies, and leaves public alone', async () => {
    const result = await runCli(['restore', '--json', '--snapshot-dir', snapshot, '--into-schema', 'legacy_inspect'], { databaseUrl: env.db.url });
    expect(result.code, result.stderr).toBe(0);
    expect(await rowsOf('legacy_inspect', LEGACY_TABLES)).toEqual(before);
    expect(await present('public.rooms')).toBe(false);
    const { rows } = await env.pool.query<{ def: string }>(
      `select pg_get_constraintdef(oid) as def from pg_constraint where conrelid = 'legacy_inspect.memories'::regclass and contype = 'f'`,
    );
    expect(rows.map((r) => r.def)).toEqual([expect.stringMatching(/REFERENCES legacy_inspect\.rooms\(id\)/)]);
    await env.pool.query('drop schema legacy_inspect cascade');
  });

  it('restores in place: rows byte for byte, the kept FK re-added and validated; a second restore refuses to overwrite', async () => {
    const result = await runCli(['restore', '--json', '--snapshot-dir', snapshot], { databaseUrl: env.db.url });
    expect(result.code, result.stderr).toBe(0);
    expect(result.json!.restored).toBe(true);
    expect(await rowsOf('public', LEGACY_TABLES)).toEqual(before);
    const { rows } = await env.pool.query(`select convalidated from pg_constraint where conname = 'error_logs_room_id_fkey'`);
    expect(rows).toEqual([{ convalidated: true }]);
    const again = await runCli(['restore', '--json', '--snapshot-dir', snapshot], { databaseUrl: env.db.url });
    expect(again.code).toBe(2);
    expect(again.json!.error).toMatch(/Refusing to overwrite existing table\(s\) public\.memories/);
  });
});
