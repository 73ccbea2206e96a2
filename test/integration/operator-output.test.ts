import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REASON_CODES } from '../../src/migration/reasons.ts';
import { runCli } from '../support/cli.ts';
import { loadMessageFixtures } from '../support/fixtures.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

/** No DATABASE_URL and none of the PG* variables that say where a database is. */
const NOWHERE = { DATABASE_URL: '', PGHOST: '', PGHOSTADDR: '', PGPORT: '', PGDATABASE: '', PGUSER: '', PGSERVICE: '' };

describe('where output goes: results on stdout, errors on stderr', () => {
  it('with no database given, exits 2 naming the three ways to give one (every command that connects)', async () => {
    for (const command of ['backfill', 'reconcile', 'status']) {
      const human = await runCli([command], { env: NOWHERE });
      expect(human.code, human.stderr).toBe(2);
      expect(human.stderr).toMatch(/No database given/);
      for (const way of ['--database-url', 'DATABASE_URL', 'PGHOST']) expect(human.stderr).toContain(way);
      expect(human.stdout).not.toContain('No database given');
      expect(human.stdout).toBe(`${command}: exit 2 (incomplete)\n`);
    }
    const json = await runCli(['reconcile', '--json'], { env: NOWHERE });
    expect(json.code).toBe(2);
    expect(json.json).toMatchObject({ command: 'reconcile', exitCode: 2 });
    expect(json.json!.error).toMatch(/No database given/);
    expect(json.stderr).toMatch(/No database given/);
  });

  it('says what a flag accepts, once per flag, on stderr', async () => {
    const result = await runCli(['backfill', '--limit', '1e99', '--since', 'notadate', '--batch-size', 'abc'], { env: NOWHERE });
    expect(result.code).toBe(2);
    const lines = result.stderr.split('\n');
    expect(lines.filter((line) => line.startsWith('--limit:'))).toEqual(['--limit: must be a whole number of at least 1']);
    expect(lines.filter((line) => line.startsWith('--since:'))).toEqual([
      '--since: must be an ISO time with its offset (2026-11-01T00:00:00Z, 2026-11-01T09:30:00+02:00) or a date (2026-11-01)',
    ]);
    expect(lines.filter((line) => line.startsWith('--batch-size:'))).toEqual(['--batch-size: must be a whole number from 1 to 100000']);
    expect(result.stdout).not.toMatch(/--limit|--since|Invalid/);
  });

  it('demo too: a bad flag is on stderr, the outcome on stdout', async () => {
    const result = await runCli(['demo', '--rooms', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--rooms: must be a whole number from 1 to');
    expect(result.stdout).toBe('demo: exit 2\n');
  });
});

describe('summaries in a stable order', () => {
  let env: Db;
  let reports: string;
  beforeAll(async () => {
    env = await createMigrationDatabase();
    reports = mkdtempSync(join(tmpdir(), 'recoup-migrate-order-'));
    const accountId = await insertAccount(env.pool);
    // Many small rooms, each with a different fixture, so that with two workers and one-room batches the
    // reason codes are met in whatever order the batches happen to finish.
    const fixtures = loadMessageFixtures();
    for (const fixture of fixtures) {
      const room = await insertRoom(env.pool, { accountId });
      await insertMemory(env.pool, room, fixture.contentText, fixture.updatedAt, fixture.memoryId);
    }
    await insertRoom(env.pool, { accountId: null });
    await insertRoom(env.pool, { accountId: '99999999-9999-4999-8999-999999999999' });
  });
  afterAll(async () => {
    await env.close();
    rmSync(reports, { recursive: true, force: true });
  });

  it('lists reason codes in the reference order, and the same run twice gives the same summary', async () => {
    const run = async (name: string) => {
      const result = await runCli(['reconcile', '--json', '--batch-size', '1', '--concurrency', '2', '--report-dir', join(reports, name)], {
        databaseUrl: env.db.url,
      });
      expect(result.code, result.stderr).toBe(1);
      return result;
    };
    const first = await run('first');
    const second = await run('second');
    const codes = Object.keys(first.json!.reasons);
    expect(codes.length).toBeGreaterThan(3);
    expect(codes).toEqual(REASON_CODES.filter((code) => codes.includes(code)));
    const stable = (stdout: string, runId: string) =>
      stdout.replaceAll(runId, '<run>').replace(/"(startedAt|finishedAt)":"[^"]+"/g, '"$1":"<time>"').replace(/"reportDir":"[^"]+"/, '"reportDir":"<dir>"');
    expect(stable(second.stdout, second.json!.runId)).toBe(stable(first.stdout, first.json!.runId));
  });
});
