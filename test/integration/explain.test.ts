import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionIdForRoom } from '../../src/migration/session-id.ts';
import { runCli, type CliResult } from '../support/cli.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom, targetSnapshot } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

describe('explain --room', () => {
  let env: Db;
  const room = {} as Record<'clean' | 'drift' | 'skip' | 'noAccount' | 'deleted', string>;
  const mem = {} as Record<'cleanUser' | 'cleanAssistant' | 'kept' | 'missing' | 'changed' | 'script' | 'good' | 'malformed' | 'orphan', string>;
  // Every piece of message content in the test data: none of it may reach stdout without --show-values.
  const CONTENT = ['Secret topic', 'secret question', 'secret answer', 'secret kept', 'secret missing', 'secret changed', 'secret script', 'secret good', 'secret app', 'tampered'];

  const explain = (roomId: string, ...args: string[]): Promise<CliResult> => runCli(['explain', '--room', roomId, '--log-level', 'warn', ...args], { databaseUrl: env.db.url });
  const byMemory = (json: Record<string, any>) => new Map((json.entries as Record<string, any>[]).map((m) => [m.messageId as string, m]));
  const report = () => mkdtempSync(join(tmpdir(), 'recoup-explain-'));
  const expectNoContent = (text: string) => {
    for (const secret of CONTENT) expect(text).not.toContain(secret);
  };

  beforeAll(async () => {
    env = await createMigrationDatabase();
    const owner = await insertAccount(env.pool, 'owner');
    const at = (n: number) => `2025-06-01T10:00:0${n}.000001Z`;
    room.clean = await insertRoom(env.pool, { accountId: owner, topic: 'Secret topic clean' });
    mem.cleanUser = await insertMemory(env.pool, room.clean, { role: 'user', parts: [{ type: 'text', text: 'secret question clean' }] }, at(1));
    mem.cleanAssistant = await insertMemory(
      env.pool,
      room.clean,
      { role: 'assistant', content: 'secret answer clean', toolInvocations: [{ toolCallId: 'c1', toolName: 'search', args: { q: 'x' }, state: 'result', result: 1 }] },
      at(2),
    );
    room.drift = await insertRoom(env.pool, { accountId: owner, topic: 'Secret topic drift' });
    mem.kept = await insertMemory(env.pool, room.drift, { role: 'user', parts: [{ type: 'text', text: 'secret kept' }] }, at(1));
    mem.missing = await insertMemory(env.pool, room.drift, { role: 'assistant', parts: [{ type: 'text', text: 'secret missing' }] }, at(2));
    mem.changed = await insertMemory(env.pool, room.drift, { role: 'user', parts: [{ type: 'text', text: 'secret changed' }] }, at(3));
    mem.script = await insertMemory(env.pool, room.drift, { role: 'assistant', parts: [{ type: 'step-start' }, { type: 'text', text: 'secret script' }] }, at(4));
    room.skip = await insertRoom(env.pool, { accountId: owner, topic: 'Secret topic skip' });
    mem.good = await insertMemory(env.pool, room.skip, { role: 'user', parts: [{ type: 'text', text: 'secret good' }] }, at(1));
    mem.malformed = await insertMemory(env.pool, room.skip, '"not a message"', at(2));
    room.noAccount = await insertRoom(env.pool, { accountId: null, topic: 'Secret topic orphan' });
    mem.orphan = await insertMemory(env.pool, room.noAccount, { role: 'user', content: 'secret question orphan' }, at(1));
    room.deleted = await insertRoom(env.pool, { accountId: owner, topic: 'Secret topic deleted' });
    await insertMemory(env.pool, room.deleted, { role: 'user', content: 'secret question deleted' }, at(1));
    const backfill = await runCli(['backfill', '--json', '--report-dir', report()], { databaseUrl: env.db.url });
    expect(backfill.code).toBe(0);
    // What the app does after the migration: writes its own message, deletes a chat.
    await env.pool.query(
      `insert into chat_messages (id, chat_id, role, parts, created_at)
       values ('app-msg-1', $1, 'user', '{"id":"app-msg-1","role":"user","parts":[{"type":"text","text":"secret app"}]}', '2025-07-01T00:00:00Z')`,
      [room.skip],
    );
    await env.pool.query('delete from chats where id = $1', [room.deleted]);
  });
  afterAll(async () => env.close());

  it('a clean migrated room: exit 0, every memory clean beside its legacy, converted and target shapes, nothing to fix', async () => {
    const { code, json } = await explain(room.clean, '--json');
    expect(code).toBe(0);
    expect(json).toMatchObject({ command: 'explain', exitCode: 0, complete: true, reasons: {}, ledger: true });
    expect(json!.room).toMatchObject({ id: room.clean, sessionId: sessionIdForRoom(room.clean), chatId: room.clean, target: 'present', status: 'clean', topic: true, items: [] });
    expect(json!.room).not.toHaveProperty('topicValue');
    expect(json!.verdicts).toEqual({ clean: 2, missing: 0, mismatch: 0, changed_in_app: 0, skipped: 0, unexpected: 0, app: 0 });
    expect(json!.entries.map((m: any) => [m.memoryId, m.verdict, m.fix])).toEqual([
      [mem.cleanUser, 'clean', null],
      [mem.cleanAssistant, 'clean', null],
    ]);
    const assistant = byMemory(json!).get(mem.cleanAssistant)!;
    expect(assistant.legacy).toEqual({ json: 'object', role: 'assistant', parts: 'absent', contentChars: 19, toolInvocations: 1 });
    // Without --show-values a tool part is named by its kind, not its tool (content: see the test of values).
    // The answer after the tool's result is a step of its own (converter 2).
    expect(assistant.converted).toEqual({ ok: true, role: 'assistant', parts: ['tool-…', 'step-start', 'text'] });
    expect(assistant.target).toEqual({ present: true, shape: 'envelope', role: 'assistant', parts: ['tool-…', 'step-start', 'text'] });

    const human = await explain(room.clean);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`room ${room.clean}: clean`);
    expect(human.stdout.match(/^ {2}verdict {4}clean$/gm)).toHaveLength(2);
    expect(human.stdout).toContain('legacy     role assistant · parts absent · content 19 chars · toolInvocations 1');
    expect(human.stdout).toContain('converted  role assistant · parts [tool-…, step-start, text]');
    expect(human.stdout).not.toContain('fix ');
    expect(human.stdout.trimEnd().endsWith('explain: exit 0')).toBe(true);
  });

  it('a missing and a mismatched message: exit 1, their verdicts, the diff by part index and type, and the commands that fix them', async () => {
    await env.pool.query('delete from chat_messages where id = $1', [mem.missing]);
    // A row the tool wrote, changed since while its memory did not: nothing in the tool overwrites it.
    await env.pool.query(`update chat_messages set parts = jsonb_set(parts, '{parts,0,text}', '"tampered"') where id = $1`, [mem.changed]);
    // A row as the original script wrote it: a bare parts array, and not in the tool's ledger.
    await env.pool.query(`update chat_messages set parts = parts -> 'parts' where id = $1`, [mem.script]);
    await env.pool.query(`delete from recoup_migrate.target_ledger where kind = 'message' and id = $1`, [mem.script]);
    const before = await targetSnapshot(env.pool);

    const { code, json, stdout } = await explain(room.drift, '--json');
    expect(code).toBe(1);
    expectNoContent(stdout);
    expect(json).toMatchObject({ exitCode: 1, reasons: { message_missing: 1, message_mismatch: 2 }, problems: [expect.stringContaining(room.drift)] });
    expect(json!.room).toMatchObject({ status: 'drift', target: 'present', backfill: { ledger: 'migrated', walksRoom: false } });
    expect(json!.verdicts).toMatchObject({ clean: 1, missing: 1, mismatch: 2 });
    const messages = byMemory(json!);
    expect(messages.get(mem.kept)).toMatchObject({ verdict: 'clean', fix: null });
    // backfill skips a room its ledger says is unchanged, so its entry must go first.
    expect(messages.get(mem.missing)).toMatchObject({
      verdict: 'missing',
      reasons: ['message_missing'],
      target: { present: false },
      fix: { commands: [`psql "$DATABASE_URL" -c "delete from recoup_migrate.room_ledger where room_id = '${room.drift}'"`, `npx recoup-migrate backfill --room ${room.drift}`] },
    });
    expect(messages.get(mem.changed)).toMatchObject({
      verdict: 'mismatch',
      reasons: ['message_mismatch'],
      diff: { fields: ['parts'], parts: [{ index: 0, change: 'differs', expected: 'text', actual: 'text' }], digest: { expected: expect.any(String), actual: expect.any(String) } },
      fix: { commands: [], note: expect.stringContaining('nothing in the tool') },
    });
    expect(messages.get(mem.changed)!.diff).not.toHaveProperty('shape');
    expect(messages.get(mem.script)).toMatchObject({
      verdict: 'mismatch',
      target: { present: true, shape: 'bare array', parts: ['step-start', 'text'] },
      diff: { fields: ['parts'], shape: { expected: 'envelope', actual: 'bare array' } },
      fix: { commands: [`npx recoup-migrate fix-parts --room ${room.drift} --dry-run`, `npx recoup-migrate fix-parts --room ${room.drift}`] },
    });

    // explain and reconcile judge the room alike.
    const audit = await runCli(['reconcile', '--room', room.drift, '--json', '--report-dir', report()], { databaseUrl: env.db.url });
    expect(audit.code).toBe(1);
    expect(audit.json!.reasons).toEqual(json!.reasons);

    const human = await explain(room.drift);
    expect(human.code).toBe(1);
    expectNoContent(human.stdout);
    expect(human.stdout).toContain('verdict    missing (message_missing)');
    expect(human.stdout).toContain('verdict    mismatch (message_mismatch): parts differ');
    expect(human.stdout).toContain('diff       part 0 (text): differs');
    expect(human.stdout).toContain('diff       target form: bare array (the converter\'s: envelope)');
    expect(human.stdout).toContain(`fix        npx recoup-migrate fix-parts --room ${room.drift} --dry-run`);
    expect(human.stdout).toContain(`npx recoup-migrate backfill --room ${room.drift}`);

    // With --show-values, the parts that differ are shown side by side.
    const loud = await explain(room.drift, '--json', '--show-values');
    const changed = byMemory(loud.json!).get(mem.changed)!;
    expect(changed.diff.parts[0].values.expected).toContain('secret changed');
    expect(changed.diff.parts[0].values.actual).toContain('tampered');

    // explain read only.
    expect(await targetSnapshot(env.pool)).toEqual(before);

    // The fixes it named do fix what they are for; the row nothing in the tool rewrites stays.
    expect((await runCli(['fix-parts', '--room', room.drift, '--json', '--report-dir', report()], { databaseUrl: env.db.url })).code).toBe(0);
    await env.pool.query('delete from recoup_migrate.room_ledger where room_id = $1', [room.drift]);
    expect((await runCli(['backfill', '--room', room.drift, '--json', '--report-dir', report()], { databaseUrl: env.db.url })).code).toBe(0);
    const after = await explain(room.drift, '--json');
    expect(after.code).toBe(1);
    expect((after.json!.entries as any[]).map((m) => [m.memoryId, m.verdict])).toEqual([
      [mem.kept, 'clean'],
      [mem.missing, 'clean'],
      [mem.changed, 'mismatch'],
      [mem.script, 'clean'],
    ]);
  });

  it('a skipped memory shows its reason code; a message the app added is listed as app, not drift', async () => {
    const { code, json, stdout } = await explain(room.skip, '--json');
    expect(code).toBe(0);
    expectNoContent(stdout);
    expect(json!.reasons).toEqual({ message_malformed: 1 });
    expect(json!.verdicts).toMatchObject({ clean: 1, skipped: 1, app: 1, missing: 0, mismatch: 0, unexpected: 0 });
    expect(json!.room).toMatchObject({ status: 'clean', app: { addedMessages: 1 } });
    expect(json!.entries.map((m: any) => [m.memoryId, m.messageId, m.verdict])).toEqual([
      [mem.good, mem.good, 'clean'],
      [mem.malformed, mem.malformed, 'skipped'],
      [null, 'app-msg-1', 'app'],
    ]);
    const skipped = byMemory(json!).get(mem.malformed)!;
    expect(skipped).toMatchObject({ reasons: ['message_malformed'], detail: expect.any(String), fix: null, legacy: { json: 'string' }, converted: { ok: false, reason: 'message_malformed' } });
    expect(byMemory(json!).get('app-msg-1')).toMatchObject({ fix: null, target: { present: true, shape: 'envelope', parts: ['text'] } });

    const human = await explain(room.skip);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('verdict    skipped (message_malformed)');
    expect(human.stdout).toMatch(/^app message {2}app-msg-1 {2}user/m);
    expect(human.stdout).toContain('verdict    app');
  });

  it('a room expected to be skipped, and a chat the app deleted: exit 0, with the room\'s reason on every memory', async () => {
    const orphan = await explain(room.noAccount, '--json');
    expect(orphan.code).toBe(0);
    expect(orphan.json!.room).toMatchObject({ target: 'skipped', skipReason: 'room_no_account', status: 'skipped' });
    expect(orphan.json!.entries).toEqual([expect.objectContaining({ memoryId: mem.orphan, verdict: 'skipped', reasons: ['room_no_account'], converted: expect.objectContaining({ ok: true }) })]);

    const deleted = await explain(room.deleted, '--json');
    expect(deleted.code).toBe(0);
    expect(deleted.json!.room).toMatchObject({ target: 'deleted', status: 'info' });
    expect(deleted.json!.entries).toEqual([expect.objectContaining({ verdict: 'skipped', reasons: ['target_deleted'] })]);
  });

  it('message content reaches stdout only with --show-values', async () => {
    for (const id of [room.clean, room.skip]) {
      for (const args of [[], ['--json']]) {
        const quiet = await explain(id, ...args);
        expect(quiet.code).toBe(0);
        expectNoContent(quiet.stdout);
        // A tool's name is content too: its part is shown as tool-….
        expect(quiet.stdout).not.toContain('tool-search');
      }
    }
    expect((await explain(room.clean)).stdout).toContain('tool-…');
    const loud = await explain(room.clean, '--show-values');
    expect(loud.code).toBe(0);
    expect(loud.stdout).toContain('tool-search');
    expect(loud.stdout).toContain('Secret topic clean');
    expect(loud.stdout).toContain('secret question clean');
    expect(loud.stdout).toContain('secret answer clean');
    const loudJson = await explain(room.skip, '--json', '--show-values');
    expect(byMemory(loudJson.json!).get('app-msg-1')!.target.value).toContain('secret app');
  });

  it('--json prints exactly one JSON object on stdout, whatever the exit code', async () => {
    for (const [id, exit] of [[room.clean, 0], [room.drift, 1], ['00000000-0000-4000-8000-00000000abcd', 2]] as const) {
      const { code, stdout } = await explain(id, '--json');
      expect(code).toBe(exit);
      const lines = stdout.split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(1);
      const parsed = JSON.parse(lines[0]!) as Record<string, unknown>;
      expect(Object.keys(parsed).slice(0, 7)).toEqual(['command', 'runId', 'dryRun', 'complete', 'startedAt', 'finishedAt', 'exitCode']);
      expect(parsed).toMatchObject({ command: 'explain', exitCode: exit });
    }
  });

  it('an unknown room is exit 2, naming it; so is a missing or malformed --room', async () => {
    const unknown = '00000000-0000-4000-8000-00000000abcd';
    const human = await explain(unknown);
    expect(human.code).toBe(2);
    expect(human.stderr).toContain(`No room ${unknown}`);
    expect(human.stdout).toContain('explain: exit 2');
    const json = await explain(unknown, '--json');
    expect(json.json).toMatchObject({ exitCode: 2, error: expect.stringContaining(unknown) });

    const none = await runCli(['explain', '--json'], { databaseUrl: env.db.url });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--room');
    const malformed = await explain('not-a-uuid', '--json');
    expect(malformed.code).toBe(2);
    expect(malformed.json!.error).toContain('--room');
  });
});
