import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { createMigrationDatabase, seedDeterministicRooms } from '../support/legacy-data.ts';
import { hasPgbouncer, startPgbouncer, type Pgbouncer } from '../support/pgbouncer.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

const HINT = 'each recoup-migrate process opens up to --concurrency + 2 connections. Lower --concurrency';

/** PgBouncer from Debian (1.18) in front of the test server: its own errors, not our reading of them. */
describe.skipIf(!hasPgbouncer())('through PgBouncer', () => {
  let env: Db;
  const bouncers: Pgbouncer[] = [];
  beforeAll(async () => {
    env = await createMigrationDatabase();
    await seedDeterministicRooms(env.pool, 200, 2);
  });
  afterAll(async () => {
    for (const bouncer of bouncers) await bouncer.stop();
    await env.close();
  });
  const bouncer = async (settings: Record<string, string | number>) => {
    const started = await startPgbouncer(env.db.url, settings);
    bouncers.push(started);
    return started;
  };

  it('out of client slots (max_client_conn): the error says how many connections a process opens and what to lower', async () => {
    const pooler = await bouncer({ pool_mode: 'session', max_client_conn: 2, default_pool_size: 10 });
    const result = await runCli(['backfill', '--json', '--concurrency', '4', '--batch-size', '10', '--report-dir', 'reports-max-client'], { databaseUrl: pooler.url });
    expect(result.code, result.stderr).toBeGreaterThanOrEqual(2);
    expect(result.json!.error).toContain('no more connections allowed (max_client_conn)');
    expect(result.json!.error).toContain(HINT);
  });

  it('left waiting for a server connection (query_wait_timeout): the same advice', async () => {
    const pooler = await bouncer({ pool_mode: 'transaction', max_client_conn: 20, default_pool_size: 1, query_wait_timeout: 1 });
    // Another client holds the pool's only server connection in a transaction.
    const holder = new pg.Client({ connectionString: pooler.url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1');
      const result = await runCli(['status', '--json'], { databaseUrl: pooler.url });
      expect(result.code, result.stderr).toBe(2);
      expect(result.json!.error).toContain('query_wait_timeout');
      expect(result.json!.error).toContain(HINT);
    } finally {
      await holder.query('rollback').catch(() => {});
      await holder.end();
    }
  });
});

describe.skipIf(!hasPgbouncer())('through PgBouncer in transaction mode', () => {
  let env: Db;
  let pooler: Pgbouncer;
  let session: Pgbouncer;
  beforeAll(async () => {
    env = await createMigrationDatabase();
    await seedDeterministicRooms(env.pool, 60, 3);
    pooler = await startPgbouncer(env.db.url, { pool_mode: 'transaction', max_client_conn: 50, default_pool_size: 8 });
    session = await startPgbouncer(env.db.url, { pool_mode: 'session', max_client_conn: 50, default_pool_size: 8 });
  });
  afterAll(async () => {
    await pooler.stop();
    await session.stop();
    await env.close();
  });
  const run = (url: string, ...args: string[]) => runCli([...args, '--json', '--log-level', 'warn'], { databaseUrl: url });

  it('the commands that keep no session state work there: backfill, a re-run, fix-parts, reconcile, status', async () => {
    for (const args of [['backfill', '--batch-size', '10'], ['backfill'], ['fix-parts'], ['reconcile'], ['reconcile', '--shared'], ['status']]) {
      const result = await run(pooler.url, ...args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    }
    const rerun = await run(pooler.url, 'backfill');
    expect(rerun.json!.messages.written).toBe(0);
  });

  it('stamp-artist-id, drop-legacy and restore are refused by its behaviour (any port), with the fix', async () => {
    for (const args of [['stamp-artist-id'], ['drop-legacy', '--dry-run', '--snapshot-dir', 'snap-try'], ['restore', '--snapshot-dir', 'no-such-snapshot']]) {
      const result = await run(pooler.url, ...args);
      expect(result.code, args[0]).toBe(2);
      expect(result.json!.error, args[0]).toContain(`${args[0]} needs one server session from start to end`);
      expect(result.json!.error).toContain('Connect directly');
    }
  });

  it('a session pooler is no transaction pooler: stamp-artist-id runs through it', async () => {
    const result = await run(session.url, 'stamp-artist-id');
    expect(result.code, result.stderr).toBe(0);
  });
});
