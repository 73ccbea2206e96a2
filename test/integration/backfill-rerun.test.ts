import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sessionIdForRoom } from '../../src/migration/session-id.ts';
import { runCli } from '../support/cli.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom, targetSnapshot } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

let env: Db;
let accountId: string;
beforeEach(async () => {
  env = await createMigrationDatabase();
  accountId = await insertAccount(env.pool);
});
afterEach(async () => env.close());

async function backfill(...args: string[]) {
  const result = await runCli(['backfill', '--json', ...args], { databaseUrl: env.db.url });
  if (result.json === null) throw new Error(`backfill printed no JSON: ${result.stderr}`);
  return result;
}

async function roomWithMessages(topic: string, contents: string[]): Promise<string> {
  const roomId = await insertRoom(env.pool, { accountId, topic, updatedAt: '2025-04-01T00:00:00Z' });
  for (const [i, content] of contents.entries()) {
    await insertMemory(env.pool, roomId, { role: i % 2 === 0 ? 'user' : 'assistant', content }, `2025-04-01T00:00:0${i}Z`);
  }
  return roomId;
}

describe('backfill re-runs', () => {
  it('writes zero rows on a second run over an unchanged source (same xmin everywhere)', async () => {
    await roomWithMessages('one', ['a', 'b', 'c']);
    await roomWithMessages('two', ['d']);
    expect((await backfill()).json!.messages.written).toBe(4);
    const before = await targetSnapshot(env.pool);
    const ledgerBefore = await env.pool.query(`select xmin::text, room_id from recoup_migrate.room_ledger order by room_id`);
    const second = await backfill();
    expect(second.code).toBe(0);
    expect(second.json!.rooms).toMatchObject({ total: 2, migrated: 0, unchanged: 2 });
    expect(second.json!.messages).toMatchObject({ written: 0, unchanged: 4, converted: 0 });
    expect(await targetSnapshot(env.pool)).toEqual(before);
    const ledgerAfter = await env.pool.query(`select xmin::text, room_id from recoup_migrate.room_ledger order by room_id`);
    expect(ledgerAfter.rows).toEqual(ledgerBefore.rows);
  });

  it('never clobbers what the app changed, and picks up stragglers', async () => {
    const roomId = await roomWithMessages('original topic', ['hello', 'hi']);
    await backfill();
    const sessionId = sessionIdForRoom(roomId);
    await env.pool.query(`update chats set title = 'renamed', model_id = 'gpt-x' where id = $1`, [roomId]);
    await env.pool.query(`update sessions set title = 'renamed', status = 'archived' where id = $1`, [sessionId]);
    await env.pool.query(
      `insert into chat_messages (id, chat_id, role, parts) values ('app-msg-1', $1, 'user', '{"id":"app-msg-1","role":"user","parts":[{"type":"text","text":"new"}]}')`,
      [roomId],
    );
    // The live email flow adds a memory to the old room, and a new room.
    const straggler = await insertMemory(env.pool, roomId, { role: 'assistant', content: 'late reply' }, '2025-06-01T00:00:00Z');
    const newRoom = await roomWithMessages('brand new', ['x']);

    const rerun = await backfill();
    expect(rerun.code).toBe(0);
    expect(rerun.json!.messages.written).toBe(2);
    const session = await env.pool.query(`select title, status from sessions where id = $1`, [sessionId]);
    expect(session.rows).toEqual([{ title: 'renamed', status: 'archived' }]);
    const chat = await env.pool.query(`select title, model_id from chats where id = $1`, [roomId]);
    expect(chat.rows).toEqual([{ title: 'renamed', model_id: 'gpt-x' }]);
    const messages = await env.pool.query(`select id from chat_messages where chat_id = $1 order by created_at, id`, [roomId]);
    expect(messages.rows.map((r) => r.id)).toContain(straggler);
    expect(messages.rows.map((r) => r.id)).toContain('app-msg-1');
    expect((await env.pool.query(`select 1 from chats where id = $1`, [newRoom])).rowCount).toBe(1);
  });

  it('narrows to rooms changed since --since: the room, or any of its memories', async () => {
    await roomWithMessages('old', ['a']); // room and memories dated 2025-04
    const fresh = await insertRoom(env.pool, { accountId, topic: 'fresh', updatedAt: '2026-06-01T00:00:00Z' });
    await insertMemory(env.pool, fresh, { role: 'user', content: 'b' }, '2026-06-01T00:00:00Z');
    const oldRoomNewMemory = await roomWithMessages('old room, new memory', ['c']);
    await insertMemory(env.pool, oldRoomNewMemory, { role: 'user', content: 'd' }, '2026-06-02T00:00:00Z');
    const result = await backfill('--since', '2026-01-01T00:00:00Z');
    expect(result.json!.rooms.total).toBe(2);
    const chats = (await env.pool.query(`select id from chats`)).rows.map((r) => r.id).sort();
    expect(chats).toEqual([fresh, oldRoomNewMemory].sort());
  });

  it('re-syncs changed source rows only where the target still holds what the tool wrote', async () => {
    const ours = await roomWithMessages('topic v1', ['first']);
    const theirs = await roomWithMessages('topic v1', ['second']);
    await backfill();
    // The app edits one message; then legacy code edits both memories and both topics.
    const theirMemory = (await env.pool.query(`select id from memories where room_id = $1`, [theirs])).rows[0].id;
    await env.pool.query(
      `update chat_messages set parts = jsonb_set(parts, '{parts,0,text}', '"edited in app"') where id = $1`,
      [theirMemory],
    );
    await env.pool.query(`update memories set content = '{"role":"user","content":"changed at source"}'`);
    await env.pool.query(`update rooms set topic = 'topic v2'`);

    const rerun = await backfill();
    expect(rerun.code).toBe(0);
    expect(rerun.json!.reasons.target_changed_in_app).toBe(1);
    const texts = await env.pool.query(
      `select cm.chat_id, cm.parts->'parts'->0->>'text' as text from chat_messages cm order by cm.chat_id`,
    );
    const byChat = Object.fromEntries(texts.rows.map((r) => [r.chat_id, r.text]));
    expect(byChat[ours]).toBe('changed at source');
    expect(byChat[theirs]).toBe('edited in app');
    const titles = await env.pool.query(`select id, title from chats`);
    expect(titles.rows.every((r) => r.title === 'topic v2')).toBe(true);
  });

  it('does not re-create a chat the app deleted (target_deleted), with and without a ledger', async () => {
    const withLedger = await roomWithMessages('deleted later', ['a']);
    await backfill();
    await env.pool.query(`delete from chats where id = $1`, [withLedger]);
    await insertMemory(env.pool, withLedger, { role: 'user', content: 'straggler into a deleted chat' });

    // Without a ledger: the original script's state, session kept, chat deleted by the app.
    const noLedger = await roomWithMessages('script era', ['b']);
    await env.pool.query(`insert into sessions (id, account_id, title) values ($1, $2, 'script era')`, [sessionIdForRoom(noLedger), accountId]);

    const rerun = await backfill();
    expect(rerun.code).toBe(0);
    expect(rerun.json!.reasons.target_deleted).toBe(2);
    expect((await env.pool.query(`select id from chats where id = any($1::text[])`, [[withLedger, noLedger]])).rowCount).toBe(0);
    expect((await env.pool.query(`select 1 from chat_messages where chat_id = any($1::text[])`, [[withLedger, noLedger]])).rowCount).toBe(0);
  });

  it('takes over from the original script: adds what it skipped, never overwrites what it wrote', async () => {
    const roomId = await insertRoom(env.pool, { accountId, topic: 'script' });
    const withParts = await insertMemory(env.pool, roomId, {
      role: 'assistant',
      content: 'done',
      parts: [{ type: 'step-start' }, { type: 'text', text: 'done' }],
    });
    const withoutParts = await insertMemory(env.pool, roomId, { role: 'user', content: 'skipped by the script' });
    const sessionId = sessionIdForRoom(roomId);
    await env.pool.query(`insert into sessions (id, account_id, title) values ($1, $2, 'script')`, [sessionId, accountId]);
    await env.pool.query(`insert into chats (id, session_id, title) values ($1, $2, 'script')`, [roomId, sessionId]);
    // The original script's first shape: a bare parts array.
    await env.pool.query(
      `insert into chat_messages (id, chat_id, role, parts) select m.id::text, $1, 'assistant', m.content->'parts' from memories m where m.id = $2`,
      [roomId, withParts],
    );
    const before = await env.pool.query(`select xmin::text, parts::text from chat_messages where id = $1`, [withParts]);

    const result = await backfill();
    expect(result.code).toBe(0);
    expect(result.json!.messages.written).toBe(1);
    expect(result.json!.reasons.message_needs_fix_parts).toBe(1);
    const after = await env.pool.query(`select xmin::text, parts::text from chat_messages where id = $1`, [withParts]);
    expect(after.rows).toEqual(before.rows);
    expect((await env.pool.query(`select 1 from chat_messages where id = $1`, [withoutParts])).rowCount).toBe(1);
  });
});

describe('backfill --dry-run', () => {
  it('reports what a real run would do and writes nothing, not even the state schema', async () => {
    await roomWithMessages('a', ['1', '2']);
    await roomWithMessages('b', ['3']);
    await insertRoom(env.pool, { accountId: null });
    const dry = await backfill('--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.json!.dryRun).toBe(true);
    expect((await env.pool.query(`select to_regnamespace('recoup_migrate') as ns`)).rows[0].ns).toBeNull();
    for (const table of ['sessions', 'chats', 'chat_messages']) {
      expect((await env.pool.query(`select count(*)::int as n from ${table}`)).rows[0].n).toBe(0);
    }
    const real = await backfill();
    const strip = (s: Record<string, any>) => ({ rooms: s.rooms, messages: s.messages, reasons: s.reasons, exitCode: s.exitCode });
    expect(strip(dry.json!)).toEqual(strip(real.json!));
  });
});

describe('backfill --undo', () => {
  it('removes what a run inserted, keeps chats the app has written to, and lets a later run redo it', async () => {
    const quiet = await roomWithMessages('quiet', ['a', 'b']);
    const active = await roomWithMessages('active', ['c']);
    const first = await backfill();
    await env.pool.query(
      `insert into chat_messages (id, chat_id, role, parts) values ('app-1', $1, 'user', '{"id":"app-1","role":"user","parts":[{"type":"text","text":"hi"}]}')`,
      [active],
    );
    const undo = await backfill('--undo', first.json!.runId);
    expect(undo.code).toBe(0);
    expect(undo.json!.removed).toEqual({ sessions: 1, chats: 1, messages: 2 });
    expect(undo.json!.reasons.target_changed_in_app).toBe(1);
    expect((await env.pool.query(`select 1 from chats where id = $1`, [quiet])).rowCount).toBe(0);
    expect((await env.pool.query(`select count(*)::int as n from chat_messages where chat_id = $1`, [active])).rows[0].n).toBe(2);
    const redo = await backfill();
    expect(redo.json!.rooms.migrated).toBe(1);
    expect((await env.pool.query(`select count(*)::int as n from chat_messages where chat_id = $1`, [quiet])).rows[0].n).toBe(2);
  });

  it('refuses the walking flags beside --undo (it takes back the whole run), and says what the undo removed and kept', async () => {
    const one = await roomWithMessages('one', ['a', 'b']);
    const two = await roomWithMessages('two', ['c']);
    const first = await backfill();
    const before = await targetSnapshot(env.pool);
    for (const flags of [['--room', one], ['--since', '2025-01-01'], ['--limit', '1'], ['--time-budget', '5m']]) {
      const scoped = await runCli(['backfill', '--undo', first.json!.runId, ...flags], { databaseUrl: env.db.url });
      expect(scoped.code, flags.join(' ')).toBe(2);
      expect(scoped.stderr).toContain(`${flags[0]}: does not apply with --undo, which takes back the whole run; leave it out`);
    }
    expect(await targetSnapshot(env.pool)).toEqual(before);

    await env.pool.query(
      `insert into chat_messages (id, chat_id, role, parts) values ('app-2', $1, 'user', '{"id":"app-2","role":"user","parts":[{"type":"text","text":"hi"}]}')`,
      [two],
    );
    const undo = await runCli(['backfill', '--undo', first.json!.runId], { databaseUrl: env.db.url });
    expect(undo.code, undo.stderr).toBe(0);
    expect(undo.stdout).toContain(`undo of run ${first.json!.runId}:\n  removed: sessions 1, chats 1, messages 2\n  kept: 3 row(s) the run inserted`);
  });

  it('fix-parts --undo refuses a chat scope the same way', async () => {
    const result = await runCli(['fix-parts', '--undo', '00000000-0000-4000-8000-000000000001', '--chat', 'c-1'], { databaseUrl: env.db.url });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--chat: does not apply with --undo');
  });
});
