import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

describe('--help shows only what applies to the command', () => {
  it('leaves out the shared flags a command does not honour, and refuses them', async () => {
    const expected: Record<string, { without: string[]; with: string[] }> = {
      status: { without: ['--report-dir', '--show-values', '--no-progress', '--statement-timeout'], with: ['--state-schema'] },
      schema: { without: ['--report-dir', '--show-values', '--no-progress', '--state-schema'], with: ['--lock-timeout'] },
      seed: { without: ['--report-dir', '--show-values', '--state-schema', '--statement-timeout'], with: ['--no-progress'] },
      restore: { without: ['--show-values', '--no-progress'], with: ['--report-dir', '--state-schema'] },
      backfill: { without: [], with: ['--report-dir', '--show-values', '--no-progress', '--state-schema', '--statement-timeout'] },
    };
    for (const [command, flags] of Object.entries(expected)) {
      const help = (await runCli([command, '--help'])).stdout;
      for (const flag of flags.without) expect(help, `${command} --help`).not.toContain(flag);
      for (const flag of flags.with) expect(help, `${command} --help`).toContain(flag);
    }
    const refused = await runCli(['status', '--report-dir', '/tmp/x'], { env: NOWHERE });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("unknown option '--report-dir'");
  });

  it('says what each exit code means for the command, and no exit 1 where it cannot happen', async () => {
    const exitCodes = async (command: string) => (await runCli([command, '--help'])).stdout.split('Exit codes:\n')[1] ?? '';
    for (const command of ['status', 'schema', 'seed', 'stamp-artist-id']) {
      const codes = await exitCodes(command);
      expect(codes, command).toMatch(/^ {2}0 {2}/m);
      expect(codes, command).not.toMatch(/^ {2}1 {2}/m);
      expect(codes, command).not.toContain('--time-budget');
    }
    expect(await exitCodes('reconcile')).toMatch(/^ {2}1 {2}drift/m);
    expect(await exitCodes('drop-legacy')).toMatch(/^ {2}1 {2}a gate refused/m);
    expect(await exitCodes('backfill')).toMatch(/^ {2}0 {2}done \(also when stopped cleanly by --time-budget/m);
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

  it('summary.md names the rooms that need a person, with their codes, up to a cap, and never their content', async () => {
    const dir = join(reports, 'drift');
    const result = await runCli(['reconcile', '--json', '--report-dir', dir], { databaseUrl: env.db.url });
    expect(result.code).toBe(1);
    const markdown = readFileSync(join(dir, 'summary.md'), 'utf8');
    const drift = result.json!.rooms.drift as number;
    expect(drift).toBeGreaterThan(20);
    expect(markdown).toContain(`### Rooms that need a person (${drift})`);
    const rows = markdown.split('\n').filter((line) => /^\| `[0-9a-f-]{36}` \| drift \|/.test(line));
    expect(rows).toHaveLength(20);
    expect(rows.every((row) => row.includes('`message_missing`') || row.includes('`session_missing`'))).toBe(true);
    expect(markdown).toContain(`…and ${drift - 20} more (the first 20 are listed); every one is in rooms.jsonl.`);
    // Ids, statuses and codes only: no message text from the legacy rows.
    for (const text of ['Track found.', 'Balance retrieved.', 'Recovered answer']) expect(markdown).not.toContain(text);
  });

  it('after backfill, summary.md lists the rooms with the most skipped memories, and the human summary says what its counters mean', async () => {
    const dir = join(reports, 'backfill');
    const result = await runCli(['backfill', '--report-dir', dir], { databaseUrl: env.db.url });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('(converted: memories the converter turned into messages in this run; written: rows this run inserted or updated');
    expect(result.stdout).not.toContain('the whole run');
    const markdown = readFileSync(join(dir, 'summary.md'), 'utf8');
    expect(markdown).toMatch(/### Rooms with skipped memories \(\d+\)/);
    expect(markdown).toMatch(/\| `[0-9a-f-]{36}` \| skipped \| 0 \| `room_no_account` \|/);
    expect(markdown).toMatch(/\| `[0-9a-f-]{36}` \| migrated \| 1 \| `message_[a-z_]+` \|/);
  });

  it('a walk that stops early says how far it got of the rooms in scope', async () => {
    const result = await runCli(['backfill', '--time-budget', '1ms', '--report-dir', join(reports, 'budget')], { databaseUrl: env.db.url });
    expect(result.code, result.stderr).toBe(0);
    const rooms = Number(/stopped at --time-budget after (\d+) of (\d+) rooms in scope; run the same command again to finish/.exec(result.stdout)?.[2]);
    expect(rooms).toBe(loadMessageFixtures().length + 2);
  });

  it('an unwritable --report-dir is exit 2 before any lease, run record or write', async () => {
    const runs = async () =>
      (await env.pool.query(`select count(*)::int as n from recoup_migrate.runs`).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n as number;
    const leases = async () =>
      (await env.pool.query(`select count(*)::int as n from recoup_migrate.leases`).catch(() => ({ rows: [{ n: 0 }] }))).rows[0].n as number;
    const before = [await runs(), await leases()];
    const aFile = join(reports, 'a-file');
    writeFileSync(aFile, 'not a folder');
    for (const dir of ['/proc/recoup-migrate-reports', aFile, join(aFile, 'below')]) {
      const result = await runCli(['backfill', '--report-dir', dir], { databaseUrl: env.db.url });
      expect(result.code, dir).toBe(2);
      expect(result.stderr).toContain(`Cannot write reports to ${dir}`);
      expect(result.stderr).toContain('Pass --report-dir with a folder this user can create and write.');
    }
    expect([await runs(), await leases()]).toEqual(before);
  });
});
