import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

/** A value Postgres stored thousands of levels deep: one message skipped with its reason, never its room. */
describe('a memory nested too deep to write', () => {
  let env: Db;
  let room: string;
  beforeAll(async () => {
    env = await createMigrationDatabase();
    room = await insertRoom(env.pool, { accountId: await insertAccount(env.pool) });
    await insertMemory(env.pool, room, { role: 'user', content: 'what is the weather?' }, '2025-05-01T00:00:01Z');
    const deep = `{"role":"assistant","parts":[{"type":"text","text":"ok"},{"type":"tool-invocation","toolInvocation":{"state":"result","toolCallId":"c1","toolName":"t","args":{"deep":${'['.repeat(5_000)}1${']'.repeat(5_000)}},"result":1}}]}`;
    await insertMemory(env.pool, room, deep, '2025-05-01T00:00:02Z');
    await insertMemory(env.pool, room, { role: 'assistant', content: 'sunny' }, '2025-05-01T00:00:03Z');
  });
  afterAll(async () => env.close());

  it('is skipped as message_malformed while its neighbours migrate, and backfill, reconcile and fix-parts agree', async () => {
    const backfill = await runCli(['backfill', '--json', '--report-dir', 'reports-backfill'], { databaseUrl: env.db.url });
    expect(backfill.code, backfill.stderr).toBe(0);
    expect(backfill.json!.rooms).toMatchObject({ migrated: 1, failed: 0 });
    expect(backfill.json!.messages).toMatchObject({ written: 2, skipped: 1 });
    expect(backfill.json!.reasons).toEqual({ message_malformed: 1 });
    const reconcile = await runCli(['reconcile', '--json', '--report-dir', 'reports-reconcile'], { databaseUrl: env.db.url });
    expect(reconcile.code, reconcile.stderr).toBe(0);
    expect(reconcile.json!.reasons).toEqual({ message_malformed: 1 });
    const fix = await runCli(['fix-parts', '--json', '--report-dir', 'reports-fix'], { databaseUrl: env.db.url });
    expect(fix.code, fix.stderr).toBe(0);
    expect(fix.json!.messages.written).toBe(0);
  });
});
