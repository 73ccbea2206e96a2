import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandContext } from '../../src/engine/context.ts';
import { dropLegacy, type DropLegacyOptions } from '../../src/commands/drop-legacy/drop-legacy.ts';
import { createPool, resolveConnection } from '../../src/engine/connection.ts';
import type { RunSummary } from '../../src/report/summary.ts';
import { createLogger } from '../../src/engine/logger.ts';
import { runCli } from '../support/cli.ts';
import { createMigrationDatabase, tableRows, writeAndFlush } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;
const LEGACY_TABLES = ['rooms', 'memories', 'memory_emails', 'segment_rooms'];
// Seeded below: the room whose account is gone is skipped by backfill, with its two memories.
const UNMIGRATED_MEMORIES = 2;

let env: Db;
let work: string;
let cleanReport: string;
let baseline: Map<string, string[]>;

/** Writes through a client of its own and flushes its statistics, so no late counter lands in a later watch window. */
const write = (sql: string, params: unknown[] = []): Promise<void> => writeAndFlush(env.db.url, sql, params);

const rowsOf = (schema: string, tables: readonly string[]): Promise<Map<string, string[]>> => tableRows(env.pool, schema, tables);

/** Columns, constraints, indexes, triggers, policies, grants, RLS, comment and publications of a table. */
async function structureOf(schema: string, table: string): Promise<Record<string, unknown>> {
  const { rows } = await env.pool.query(
    `select (select string_agg(format('%s %s %s %s', a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)), ', ' order by a.attnum)
               from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
              where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns,
            (select string_agg(conname || ' ' || pg_get_constraintdef(oid), '; ' order by conname) from pg_constraint where conrelid = c.oid) as constraints,
            (select string_agg(replace(pg_get_indexdef(indexrelid), $1 || '.', ''), '; ' order by 1) from pg_index where indrelid = c.oid) as indexes,
            (select string_agg(replace(pg_get_triggerdef(oid), $1 || '.', '') || ' ' || tgenabled::text, '; ' order by tgname) from pg_trigger where tgrelid = c.oid and not tgisinternal) as triggers,
            (select string_agg(format('%s %s %s %s %s %s', policyname, permissive, roles, cmd, qual, with_check), '; ' order by policyname) from pg_policies where schemaname = $1 and tablename = $2) as policies,
            c.relacl::text as grants, c.relrowsecurity as rls, obj_description(c.oid, 'pg_class') as comment,
            (select string_agg(pubname, ',' order by pubname) from pg_publication_tables where schemaname = $1 and tablename = $2) as publications
       from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2`,
    [schema, table],
  );
  return rows[0] as Record<string, unknown>;
}

async function tableExists(name: string): Promise<boolean> {
  const { rows } = await env.pool.query<{ present: boolean }>(`select to_regclass($1) is not null as present`, [name]);
  return rows[0]!.present;
}

function freshDir(): string {
  return join(work, `snapshot-${randomUUID()}`);
}

function defaults(): DropLegacyOptions {
  return {
    watchSeconds: 1,
    reconcileReport: cleanReport,
    acceptUnmigrated: UNMIGRATED_MEMORIES,
    snapshotDir: freshDir(),
    confirm: env.db.name,
    dryRun: false,
    allowedDependents: [],
    batchSize: 500,
    concurrency: 2,
    statementTimeoutMs: 60_000,
    lockTimeoutMs: 5_000,
  };
}

/** Runs drop-legacy in this process, where the hooks can inject a write at the exact moment. */
async function dropInProcess(options: Partial<DropLegacyOptions>): Promise<RunSummary> {
  const connection = resolveConnection({ databaseUrl: env.db.url });
  const pool = createPool(connection, 6);
  const context: CommandContext = {
    pool,
    connection,
    logger: createLogger('silent'),
    stateSchema: 'recoup_migrate',
    runId: randomUUID(),
    startedAt: new Date(),
    reportDir: join(work, `report-${randomUUID()}`),
    progress: false,
    showValues: false,
    stopSignal: new AbortController().signal,
  };
  try {
    return await dropLegacy({ ...defaults(), ...options }, context);
  } finally {
    await pool.end();
  }
}

function cliArgs(overrides: Record<string, string | null> = {}): string[] {
  const flags: Record<string, string | null> = {
    '--watch': '1',
    '--reconcile-report': cleanReport,
    '--accept-unmigrated': String(UNMIGRATED_MEMORIES),
    '--snapshot-dir': freshDir(),
    '--confirm': env.db.name,
    ...overrides,
  };
  const args = ['drop-legacy', '--json'];
  for (const [flag, value] of Object.entries(flags)) if (value !== null) args.push(flag, value);
  return args;
}

function gate(summary: Record<string, any>, name: string): { ok: boolean | null; detail: string; fix?: string } {
  return summary.gates.find((g: { name: string }) => g.name === name);
}

async function expectNothingDropped(): Promise<void> {
  for (const table of LEGACY_TABLES) expect(await tableExists(`public.${table}`)).toBe(true);
  expect(await rowsOf('public', LEGACY_TABLES)).toEqual(baseline);
  const { rows } = await env.pool.query(`select 1 from pg_constraint where conname = 'error_logs_room_id_fkey'`);
  expect(rows).toHaveLength(1);
}

beforeAll(async () => {
  env = await createMigrationDatabase();
  work = mkdtempSync(join(tmpdir(), 'drop-legacy-test-'));
  const account = randomUUID();
  const [r1, r2, gone] = [randomUUID(), randomUUID(), randomUUID()];
  const m1 = randomUUID();
  const segment = randomUUID();
  await write(`insert into accounts (id, name) values ($1, 'a')`, [account]);
  await write(`insert into rooms (id, account_id, topic) values ($1, $4, 'first'), ($2, $4, 'second'), ($3, gen_random_uuid(), 'account deleted')`, [r1, r2, gone, account]);
  await write(
    `insert into memories (id, room_id, content, updated_at) values
       ($1, $2, '{"role":"user","content":"hello"}', '2026-01-01T00:00:00.123456Z'),
       (gen_random_uuid(), $2, '{"role":"assistant","content":"hi there"}', '2026-01-01T00:00:01Z'),
       (gen_random_uuid(), $3, '{"role":"user","content":"second room"}', '2026-01-02T00:00:00Z'),
       (gen_random_uuid(), $4, '{"role":"user","content":"lost 1"}', '2026-01-03T00:00:00Z'),
       (gen_random_uuid(), $4, '{"role":"assistant","content":"lost 2"}', '2026-01-03T00:00:01Z')`,
    [m1, r1, r2, gone],
  );
  await write(`insert into memory_emails (email_id, memory, message_id) values (gen_random_uuid(), $1, '<m1@example.com>')`, [m1]);
  await write(`insert into segments (id) values ($1)`, [segment]);
  await write(`insert into segment_rooms (segment_id, room_id) values ($1, $2)`, [segment, r1]);
  await write(`insert into error_logs (room_id, raw_message) values ($1, 'boom'), (null, 'no room')`, [r1]);
  // Structure that DROP TABLE removes silently and restore must bring back.
  await write(`grant select on memory_emails to public`);
  await write(`create policy memories_read on memories for select to public using (room_id is not null)`);
  await write(`comment on table rooms is 'legacy conversations'`);
  await write(`create publication recoup_test_pub for table rooms`);

  const backfill = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
  expect(backfill.code).toBe(0);
  const reconcile = await runCli(['reconcile', '--full', '--json'], { databaseUrl: env.db.url });
  expect(reconcile.code).toBe(0);
  cleanReport = reconcile.json!.reportDir;
  baseline = await rowsOf('public', LEGACY_TABLES);
});
afterAll(async () => env.close());

describe('drop-legacy refuses, and drops nothing', () => {
  it('when a view depends on a table (an unknown dependent)', async () => {
    await write(`create view room_topics as select id, topic from rooms`);
    try {
      const result = await runCli(cliArgs(), { databaseUrl: env.db.url });
      expect(result.code).toBe(1);
      expect(gate(result.json!, 'dependents')).toMatchObject({ ok: false });
      expect(gate(result.json!, 'dependents').detail).toMatch(/view public\.room_topics/);
      expect(result.json!.plan.blockers[0]).toMatchObject({ kind: 'view or rule' });
      expect(gate(result.json!, 'dropped').ok).toBeNull();
      await expectNothingDropped();
    } finally {
      await write(`drop view room_topics`);
    }
  });

  it('when a PL/pgSQL function names a table (no dependency recorded), unless it is allowed by name', async () => {
    await write(`create function public.count_memories() returns bigint language plpgsql as $$ begin return (select count(*) from public.memories); end $$`);
    try {
      const refused = await runCli(cliArgs(), { databaseUrl: env.db.url });
      expect(refused.code).toBe(1);
      expect(gate(refused.json!, 'dependents').detail).toMatch(/function public\.count_memories\(\)/);
      // public.set_updated_at, the tables' own trigger function, does not name them and is no blocker.
      expect(refused.json!.plan.blockers).toHaveLength(1);
      await expectNothingDropped();
      const allowed = await runCli([...cliArgs(), '--dry-run', '--allow-dependent', 'public.count_memories'], { databaseUrl: env.db.url });
      expect(gate(allowed.json!, 'dependents').ok).toBe(true);
    } finally {
      await write(`drop function public.count_memories()`);
    }
  });

  it('when a full reconcile finds drift', async () => {
    const { rows } = await env.pool.query<{ id: string }>(`select room_id::text as id from memories where content->>'content' = 'hello'`);
    const straggler = randomUUID();
    await write(`insert into memories (id, room_id, content) values ($1, $2, '{"role":"user","content":"late"}')`, [straggler, rows[0]!.id]);
    try {
      const summary = await dropInProcess({ reconcileReport: undefined, acceptUnmigrated: UNMIGRATED_MEMORIES + 1 });
      expect(summary.exitCode).toBe(1);
      const reconciled = gate(summary, 'reconciled');
      expect(reconciled.ok).toBe(false);
      expect(reconciled.detail).toMatch(/drift item/);
      expect(reconciled.fix).toMatch(/recoup-migrate backfill/);
      expect(gate(summary, 'quiet').ok).toBeNull();
    } finally {
      await write(`delete from memories where id = $1`, [straggler]);
    }
    await expectNothingDropped();
  });

  it('when the reconcile report is older than the last legacy write, or not a clean one', async () => {
    const stale = JSON.parse(readFileSync(join(cleanReport, 'summary.json'), 'utf8'));
    const staleFile = join(work, 'stale-summary.json');
    writeFileSync(staleFile, JSON.stringify({ ...stale, startedAt: '2020-01-01T00:00:00.000Z' }));
    const old = await runCli(cliArgs({ '--reconcile-report': staleFile }), { databaseUrl: env.db.url });
    expect(old.code).toBe(1);
    expect(gate(old.json!, 'reconciled').detail).toMatch(/before the last legacy write/);
    const driftFile = join(work, 'drift-summary.json');
    writeFileSync(driftFile, JSON.stringify({ ...stale, exitCode: 1 }));
    const drift = await runCli(cliArgs({ '--reconcile-report': driftFile }), { databaseUrl: env.db.url });
    expect(gate(drift.json!, 'reconciled')).toMatchObject({ ok: false });
    // The CI mode (rooms confirmed by digest) cannot see a converter bug: the last gate wants --full.
    const ci = await runCli(['reconcile', '--json'], { databaseUrl: env.db.url });
    expect(ci.code).toBe(0);
    const byDigest = await runCli(cliArgs({ '--reconcile-report': ci.json!.reportDir }), { databaseUrl: env.db.url });
    expect(byDigest.code).toBe(1);
    expect(gate(byDigest.json!, 'reconciled')).toMatchObject({ ok: false, detail: expect.stringMatching(/without --full/), fix: expect.stringContaining('reconcile --full') });
    await expectNothingDropped();
  });

  it('accepts the report of one worker of a shared reconcile by its run totals, and refuses one without them', async () => {
    const shared = await runCli(['reconcile', '--shared', '--full', '--json'], { databaseUrl: env.db.url });
    expect(shared.code).toBe(0);
    expect(shared.json!.runTotals).toBeDefined();
    const accepted = await runCli(cliArgs({ '--reconcile-report': shared.json!.reportDir, '--confirm': null }).concat('--dry-run'), { databaseUrl: env.db.url });
    expect(gate(accepted.json!, 'reconciled')).toMatchObject({ ok: true });
    const partial = JSON.parse(readFileSync(join(shared.json!.reportDir, 'summary.json'), 'utf8'));
    delete partial.runTotals;
    const partialFile = join(work, 'shared-without-totals.json');
    writeFileSync(partialFile, JSON.stringify(partial));
    const refused = await runCli(cliArgs({ '--reconcile-report': partialFile }), { databaseUrl: env.db.url });
    expect(refused.code).toBe(1);
    expect(gate(refused.json!, 'reconciled').detail).toMatch(/without run totals/);
    // A worker's own summary can look clean while the run's totals are not: those decide.
    for (const [edit, reason] of [
      [{ driftItems: 1 }, /found 1 drift item/],
      [{ baseline: { known: 1, new: 0, fixed: 0 } }, /baselined reconcile/],
    ] as const) {
      const file = join(work, `shared-${randomUUID()}.json`);
      const summary = JSON.parse(readFileSync(join(shared.json!.reportDir, 'summary.json'), 'utf8'));
      writeFileSync(file, JSON.stringify({ ...summary, runTotals: { ...summary.runTotals, ...edit } }));
      const result = await runCli(cliArgs({ '--reconcile-report': file }), { databaseUrl: env.db.url });
      expect(result.code).toBe(1);
      expect(gate(result.json!, 'reconciled').detail).toMatch(reason);
    }
    await expectNothingDropped();
  });

  it('when a table is written during the watch window', async () => {
    const id = randomUUID();
    const summary = await dropInProcess({
      hooks: {
        duringWatch: async () => {
          await write(`insert into segments (id) values ($1)`, [id]);
          await write(`insert into segment_rooms (segment_id, room_id) select $1, id from rooms order by id limit 1`, [id]);
        },
      },
    });
    await write(`delete from segment_rooms where segment_id = $1`, [id]);
    expect(summary.exitCode).toBe(1);
    expect(gate(summary, 'quiet')).toMatchObject({ ok: false });
    expect(gate(summary, 'quiet').detail).toMatch(/public\.segment_rooms: 1 → 2 rows/);
    expect(gate(summary, 'snapshot').ok).toBeNull();
    await expectNothingDropped();
  });

  it('when --accept-unmigrated is not the exact count of unmigrated memories', async () => {
    const result = await runCli(cliArgs({ '--accept-unmigrated': String(UNMIGRATED_MEMORIES + 1) }), { databaseUrl: env.db.url });
    expect(result.code).toBe(1);
    expect(gate(result.json!, 'unmigrated')).toMatchObject({ ok: false, fix: expect.stringContaining(`--accept-unmigrated ${UNMIGRATED_MEMORIES}`) });
    await expectNothingDropped();
  });

  it('when the snapshot directory is not empty', async () => {
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'old.txt'), 'something else');
    const result = await runCli(cliArgs({ '--snapshot-dir': dir }), { databaseUrl: env.db.url });
    expect(result.code).toBe(1);
    expect(gate(result.json!, 'snapshot')).toMatchObject({ ok: false });
    expect(gate(result.json!, 'snapshot').detail).toMatch(/not empty/);
    expect(existsSync(join(dir, 'manifest.json'))).toBe(false);
    await expectNothingDropped();
  });

  it('without --confirm, or with the name of another database (after a verified snapshot)', async () => {
    const missing = await runCli(cliArgs({ '--confirm': null }), { databaseUrl: env.db.url });
    expect(missing.code).toBe(1);
    expect(gate(missing.json!, 'verified').ok).toBe(true);
    expect(gate(missing.json!, 'confirmed')).toMatchObject({ ok: false, fix: `add --confirm ${env.db.name}` });
    const wrong = await runCli(cliArgs({ '--confirm': 'production' }), { databaseUrl: env.db.url });
    expect(gate(wrong.json!, 'confirmed').detail).toMatch(/--confirm production does not match/);
    await expectNothingDropped();
  });

  it('when a snapshot file is damaged on disk before it is read back', async () => {
    const summary = await dropInProcess({
      hooks: {
        afterSnapshot: async (dir) => {
          const file = join(dir, 'public.memories.copy');
          writeFileSync(file, readFileSync(file, 'utf8').replace('hello', 'HELLO'));
        },
      },
    });
    expect(summary.exitCode).toBe(1);
    expect(gate(summary, 'verified')).toMatchObject({ ok: false });
    expect(gate(summary, 'verified').detail).toMatch(/file public\.memories\.copy: sha256/);
    await expectNothingDropped();
  });

  it('when a table is written between the snapshot and its verification (the live check)', async () => {
    const id = randomUUID();
    const summary = await dropInProcess({
      hooks: { afterSnapshot: () => write(`update memory_emails set message_id = $1`, [`<${id}@example.com>`]) },
    });
    const reverted = baseline.get('memory_emails')![0]!.match(/<[^>]+>/)![0];
    await write(`update memory_emails set message_id = $1`, [reverted]);
    expect(summary.exitCode).toBe(1);
    expect(gate(summary, 'verified')).toMatchObject({ ok: false });
    // The files are intact; only the live table no longer matches them.
    expect(gate(summary, 'verified').detail).toMatch(/^live public\.memory_emails: 1 rows, digest \w+; manifest: 1 rows, digest \w+$/);
    await expectNothingDropped();
  });

  it('when a table is written between the snapshot and the drop', async () => {
    const id = randomUUID();
    const summary = await dropInProcess({
      hooks: { beforeDrop: () => write(`update memory_emails set message_id = $1`, [`<${id}@example.com>`]) },
    });
    const reverted = baseline.get('memory_emails')![0]!.match(/<[^>]+>/)![0];
    await write(`update memory_emails set message_id = $1`, [reverted]);
    expect(summary.exitCode).toBe(1);
    expect(gate(summary, 'verified').ok).toBe(true);
    expect(gate(summary, 'dropped')).toMatchObject({ ok: false });
    expect(gate(summary, 'dropped').detail).toMatch(/public\.memory_emails now has/);
    await expectNothingDropped();
  });
});

describe('drop-legacy --dry-run', () => {
  it('runs gates 1-5, writes a verified snapshot with the unmigrated rows listed, and changes nothing', async () => {
    const dir = freshDir();
    const result = await runCli(cliArgs({ '--snapshot-dir': dir, '--accept-unmigrated': null, '--confirm': null }).concat('--dry-run'), { databaseUrl: env.db.url });
    expect(result.code).toBe(0);
    expect(result.json!.gates.map((g: { name: string; ok: boolean | null }) => [g.name, g.ok])).toEqual([
      ['dependents', true], ['reconciled', true], ['quiet', true], ['unmigrated', null], ['snapshot', true], ['verified', true], ['confirmed', null], ['dropped', null],
    ]);
    expect(gate(result.json!, 'confirmed').detail).toMatch(/would require --confirm/);
    expect(result.json!.plan).toMatchObject({
      dropOrder: ['public.memory_emails', 'public.memories', 'public.segment_rooms', 'public.rooms'],
      absent: ['public.room_reports'],
      dropConstraints: [{ table: 'public.error_logs', name: 'error_logs_room_id_fkey' }],
      unmigrated: { memories: UNMIGRATED_MEMORIES, rooms: 1 },
    });
    const lines = readFileSync(join(dir, 'unmigrated.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.kind === 'memory')).toHaveLength(UNMIGRATED_MEMORIES);
    expect(lines.filter((l) => l.kind === 'room')).toHaveLength(1);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(dir)) expect([file, statSync(join(dir, file)).mode & 0o777]).toEqual([file, 0o600]);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ format: 'recoup-migrate-snapshot/2', checksum: { algorithm: 'hashtextextended-2x64/length-prefixed-columns', probe: expect.stringMatching(/^-?\d+$/) } });
    for (const table of manifest.tables) {
      const lines = readFileSync(join(dir, table.data.file), 'utf8').split('\n').length - 1;
      expect([table.printed, lines]).toEqual([table.printed, table.data.rows]);
    }
    await expectNothingDropped();
  });
});

describe('drop-legacy then restore: the full cycle', () => {
  it('drops exactly the plan, keeps error_logs without its FK, and restore brings back rows, structure and checksums', async () => {
    const before = new Map<string, Record<string, unknown>>();
    for (const table of LEGACY_TABLES) before.set(table, await structureOf('public', table));
    const errorLogs = await rowsOf('public', ['error_logs']);
    const dir = freshDir();
    const dropped = await runCli(cliArgs({ '--snapshot-dir': dir, '--reconcile-report': null }), { databaseUrl: env.db.url });
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(dropped.json!.gates.every((g: { ok: boolean }) => g.ok === true)).toBe(true);
    for (const table of LEGACY_TABLES) expect(await tableExists(`public.${table}`)).toBe(false);
    expect(await rowsOf('public', ['error_logs'])).toEqual(errorLogs);
    expect((await env.pool.query(`select 1 from pg_constraint where conrelid = 'public.error_logs'::regclass and contype = 'f' and conname = 'error_logs_room_id_fkey'`)).rows).toHaveLength(0);

    const restored = await runCli(['restore', '--json', '--snapshot-dir', dir], { databaseUrl: env.db.url });
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.json!.checks.every((c: { ok: boolean }) => c.ok)).toBe(true);
    expect(await rowsOf('public', LEGACY_TABLES)).toEqual(baseline);
    for (const table of LEGACY_TABLES) expect(await structureOf('public', table)).toEqual(before.get(table));
    expect((await env.pool.query(`select convalidated from pg_constraint where conname = 'error_logs_room_id_fkey'`)).rows).toEqual([{ convalidated: true }]);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    for (const table of manifest.tables) {
      expect(restored.json!.checks).toContainEqual(expect.objectContaining({ subject: `restored ${table.printed}`, ok: true, detail: `${table.data.rows} rows, digest ${table.data.digest}` }));
    }

    const again = await runCli(['restore', '--json', '--snapshot-dir', dir], { databaseUrl: env.db.url });
    expect(again.code).toBe(2);
    expect(again.json!.error).toMatch(/Refusing to overwrite existing table/);
  });
});

describe('drop-legacy --quarantine and --purge-quarantine', () => {
  it('moves the tables aside (rows intact), and purge drops them only with --confirm', async () => {
    const fresh = await runCli(['reconcile', '--full', '--json'], { databaseUrl: env.db.url });
    expect(fresh.code).toBe(0);
    const moved = await runCli(cliArgs({ '--reconcile-report': fresh.json!.reportDir }).concat('--quarantine'), { databaseUrl: env.db.url });
    expect(moved.code, moved.stderr).toBe(0);
    for (const table of LEGACY_TABLES) expect(await tableExists(`public.${table}`)).toBe(false);
    expect(await rowsOf('legacy_quarantine', LEGACY_TABLES)).toEqual(baseline);

    const unconfirmed = await runCli(['drop-legacy', '--json', '--purge-quarantine'], { databaseUrl: env.db.url });
    expect(unconfirmed.code).toBe(1);
    expect(gate(unconfirmed.json!, 'confirmed')).toMatchObject({ ok: false });
    expect(await tableExists('legacy_quarantine.rooms')).toBe(true);

    const purged = await runCli(['drop-legacy', '--json', '--purge-quarantine', '--confirm', env.db.name], { databaseUrl: env.db.url });
    expect(purged.code, purged.stderr).toBe(0);
    for (const table of LEGACY_TABLES) expect(await tableExists(`legacy_quarantine.${table}`)).toBe(false);
    expect((await env.pool.query(`select 1 from pg_namespace where nspname = 'legacy_quarantine'`)).rows).toHaveLength(0);
    expect((await env.pool.query(`select count(*)::int as n from error_logs`)).rows[0]).toEqual({ n: 2 });
  });
});
