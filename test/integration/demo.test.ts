import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';

// The demo starts its own embedded Postgres, whatever TEST_DATABASE_URL says: it needs nothing but Node.
describe('demo', () => {
  let reports: string;
  beforeAll(async () => {
    reports = await mkdtemp(join(tmpdir(), 'recoup-demo-test-'));
  });
  afterAll(async () => {
    await rm(reports, { recursive: true, force: true });
  });

  it('seeds, backfills and reconciles on an embedded Postgres, clean apart from the expected skips', async () => {
    const env = { DATABASE_URL: '', TEST_DATABASE_URL: '' };
    const result = await runCli(['demo', '--json', '--rooms', '300', '--report-dir', reports], { env });
    expect(result.code, result.stderr).toBe(0);
    const summary = result.json!;
    expect(summary.command).toBe('demo');
    expect(summary.exitCode).toBe(0);
    expect(summary.seeded.rooms).toBe(300);
    expect(summary.backfill.exitCode).toBe(0);
    expect(summary.backfill.rooms.total).toBe(300);
    expect(summary.backfill.rooms.migrated).toBeGreaterThan(250);
    expect(summary.backfill.rooms.failed).toBe(0);
    // The seeded faults show up as the skips and notes they should be.
    expect(summary.backfill.reasons.room_account_missing).toBeGreaterThan(0);
    expect(summary.backfill.messages.written + summary.backfill.messages.skipped).toBe(summary.seeded.memories);
    expect(summary.reconcile.exitCode).toBe(0);
    expect(summary.reconcile.rooms.drift).toBe(0);
    expect(summary.reconcile.rooms.clean).toBe(summary.backfill.rooms.migrated);
    for (const step of ['backfill', 'reconcile']) {
      const written = JSON.parse(await readFile(join(reports, step, 'summary.json'), 'utf8')) as { command: string };
      expect(written.command).toBe(step);
      expect(existsSync(join(reports, step, 'rooms.jsonl'))).toBe(true);
    }
    expect(summary.databaseUrl).toBeUndefined();
  });

  it('rejects bad flags with exit 2 and a JSON error, before starting anything', async () => {
    const result = await runCli(['demo', '--json', '--rooms', '0']);
    expect(result.code).toBe(2);
    expect(result.json?.exitCode).toBe(2);
    expect(result.json?.error).toMatch(/--rooms/);
  });
});
