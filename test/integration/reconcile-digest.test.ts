import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageDigestSql } from '../../src/engine/digests.ts';
import { runCli } from '../support/cli.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

interface Line {
  roomId: string;
  app?: { renamed?: boolean };
  status: string;
  confirmedBy?: string;
  drift: { code: string; id: string }[];
  memories: { total: number; migrated: number; skipped: number };
  skipped: { memoryId: string; reason: string }[];
}

/**
 * reconcile's default mode confirms rooms unchanged since backfill by the ledger's digests, without
 * converting them; every way a room can have changed sends it back to the full comparison, and --full
 * compares everything whatever the ledger says.
 */
describe('reconcile: rooms confirmed by digest, the rest compared in full', () => {
  let env: Db;
  const rooms: string[] = [];
  let emptyMemory: string;
  let skippedRoom: string;
  const messageIn = (room: number, index: number) => env.pool.query<{ id: string }>(
    'select id::text from memories where room_id = $1 order by updated_at, id offset $2 limit 1', [rooms[room], index],
  ).then((r) => r.rows[0]!.id);
  const reconcile = async (...flags: string[]) => {
    const result = await runCli(['reconcile', '--json', ...flags], { databaseUrl: env.db.url });
    const { readFile } = await import('node:fs/promises');
    const lines = (await readFile(`${result.json!.reportDir}/rooms.jsonl`, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Line);
    return { ...result, lines: new Map(lines.map((l) => [l.roomId, l])) };
  };

  beforeAll(async () => {
    env = await createMigrationDatabase();
    const account = await insertAccount(env.pool);
    for (let r = 0; r < 6; r++) {
      const room = await insertRoom(env.pool, { accountId: account, topic: `room ${r}`, updatedAt: '2025-05-01T00:00:00Z' });
      rooms.push(room);
      await insertMemory(env.pool, room, { role: 'user', content: `question ${r}` }, '2025-05-01T00:00:01Z');
      await insertMemory(env.pool, room, { role: 'assistant', content: `answer ${r}`, parts: [{ type: 'text', text: `answer ${r}` }] }, '2025-05-01T00:00:02Z');
    }
    emptyMemory = await insertMemory(env.pool, rooms[0]!, { role: 'assistant', parts: [{ type: 'step-start' }] }, '2025-05-01T00:00:03Z');
    skippedRoom = await insertRoom(env.pool, { accountId: null, topic: 'no account' });
    await insertMemory(env.pool, skippedRoom, { role: 'user', content: 'orphan' });
    const backfill = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
    expect(backfill.code, backfill.stderr).toBe(0);
  });
  afterAll(async () => env.close());

  it('confirms every migrated room by digest, with the lines backfill recorded, and says so', async () => {
    const result = await reconcile();
    expect(result.code).toBe(0);
    expect(result.json!.full).toBe(false);
    expect(result.json!.compared).toEqual({ byDigest: 6, inFull: 1 });
    const first = result.lines.get(rooms[0]!)!;
    expect(first).toMatchObject({ status: 'clean', confirmedBy: 'digest', memories: { total: 3, migrated: 2, skipped: 1 } });
    expect(first.skipped).toEqual([expect.objectContaining({ memoryId: emptyMemory, reason: 'message_empty' })]);
    expect(result.lines.get(skippedRoom)).toMatchObject({ status: 'skipped' });
    expect(result.lines.get(skippedRoom)!.confirmedBy).toBeUndefined();
    // The same verdicts as the full comparison, which converts every memory.
    const full = await reconcile('--full');
    expect(full.json!.compared).toEqual({ byDigest: 0, inFull: 7 });
    expect(full.json!.reasons).toEqual(result.json!.reasons);
    expect(full.json!.messages).toMatchObject({ expected: result.json!.messages.expected, clean: result.json!.messages.clean, skipped: result.json!.messages.skipped });
    expect(full.json!.messages.converted).toBe(13);
    expect(result.json!.messages.converted).toBe(0);
  });

  it('compares in full, and finds, whatever changed since backfill: a message, a row for a skipped memory, a memory, a title, the converter version', async () => {
    const edited = await messageIn(1, 1);
    const { rows: original } = await env.pool.query<{ parts: string }>('select parts::text as parts from chat_messages where id = $1', [edited]);
    await env.pool.query(`update chat_messages set parts = jsonb_set(parts, '{parts,0,text}', '"tampered"') where id = $1`, [edited]);
    await env.pool.query(`insert into chat_messages (id, chat_id, role, parts) values ($1, $2, 'assistant', '[{"type":"step-start"}]')`, [emptyMemory, rooms[0]]);
    await env.pool.query(`update memories set content = '{"role":"user","content":"question 2, edited"}' where id = $1`, [await messageIn(2, 0)]);
    await env.pool.query(`update chats set title = 'renamed in the app' where id = $1`, [rooms[3]]);
    await env.pool.query(`update recoup_migrate.room_ledger set converter_version = converter_version - 1 where room_id = $1`, [rooms[4]]);

    const result = await reconcile();
    expect(result.code).toBe(1);
    expect(result.json!.compared).toEqual({ byDigest: 1, inFull: 6 });
    expect(result.lines.get(rooms[5]!)!.confirmedBy).toBe('digest');
    for (const room of rooms.slice(0, 5)) expect(result.lines.get(room)!.confirmedBy, room).toBeUndefined();
    expect(result.lines.get(rooms[0]!)!.drift).toEqual([expect.objectContaining({ code: 'message_unexpected', id: emptyMemory })]);
    expect(result.lines.get(rooms[1]!)!.drift).toEqual([expect.objectContaining({ code: 'message_mismatch', id: edited })]);
    expect(result.lines.get(rooms[2]!)!.drift).toEqual([expect.objectContaining({ code: 'message_mismatch' })]);
    expect(result.lines.get(rooms[3]!)).toMatchObject({ status: 'clean', app: { renamed: true } });
    expect(result.lines.get(rooms[4]!)!.status).toBe('clean');

    // Put it back for what follows: the message as it was, no row for the skipped memory, and backfill
    // for the edited memory and the older converter version; only the renamed chat stays the app's.
    await env.pool.query('update chat_messages set parts = $2::jsonb where id = $1', [edited, original[0]!.parts]);
    await env.pool.query('delete from chat_messages where id = $1', [emptyMemory]);
    await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
    const after = await reconcile();
    expect(after.code).toBe(0);
    expect(after.json!.compared).toEqual({ byDigest: 5, inFull: 2 });
  });

  it('confirms a message by the row version the write left, and by its digest where the ledger has no version', async () => {
    const message = await messageIn(4, 1);
    const ledger = 'recoup_migrate.target_ledger';
    const { rows } = await env.pool.query<{ digest: string; row_xmin: string | null; xmin: string }>(
      `select l.digest, l.row_xmin, cm.xmin::text as xmin from ${ledger} l join chat_messages cm on cm.id = l.id where l.kind = 'message' and l.id = $1`,
      [message],
    );
    expect(rows[0]!.row_xmin).toBe(rows[0]!.xmin);
    // The row version alone vouches for the row: a wrong digest beside it does not matter…
    await env.pool.query(`update ${ledger} set digest = 'not the digest' where kind = 'message' and id = $1`, [message]);
    expect((await reconcile()).lines.get(rooms[4]!)!.confirmedBy).toBe('digest');
    // …but without it (a ledger from before row_xmin, a restored dump) the digest decides.
    await env.pool.query(`update ${ledger} set row_xmin = null where kind = 'message' and id = $1`, [message]);
    expect((await reconcile()).lines.get(rooms[4]!)!.confirmedBy).toBeUndefined();
    await env.pool.query(`update ${ledger} set digest = $2 where kind = 'message' and id = $1`, [message, rows[0]!.digest]);
    expect((await reconcile()).lines.get(rooms[4]!)!.confirmedBy).toBe('digest');
  });

  it('works with a ledger from before row_xmin (digests decide), and the next backfill adds the column', async () => {
    const current = await reconcile();
    await env.pool.query('alter table recoup_migrate.target_ledger drop column row_xmin');
    const old = await reconcile();
    expect(old.code).toBe(current.code);
    expect(old.json!.compared).toEqual(current.json!.compared);
    expect(old.json!.reasons).toEqual(current.json!.reasons);
    const preview = await runCli(['backfill', '--dry-run', '--json'], { databaseUrl: env.db.url });
    expect(preview.code, preview.stderr).toBe(0);
    const { rows: before } = await env.pool.query(`select 1 from pg_attribute where attrelid = 'recoup_migrate.target_ledger'::regclass and attname = 'row_xmin' and not attisdropped`);
    expect(before).toHaveLength(0);
    const backfill = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
    expect(backfill.code, backfill.stderr).toBe(0);
    const { rows: after } = await env.pool.query(`select 1 from pg_attribute where attrelid = 'recoup_migrate.target_ledger'::regclass and attname = 'row_xmin' and not attisdropped`);
    expect(after).toHaveLength(1);
  });

  it('cannot see a converter bug, which --full does: a row and its ledger digest changed together', async () => {
    const wrong = await messageIn(5, 1);
    await env.pool.query(`update chat_messages set parts = jsonb_set(parts, '{parts,0,text}', '"a converter bug"') where id = $1`, [wrong]);
    await env.pool.query(
      `update recoup_migrate.target_ledger l set digest = ${messageDigestSql('cm')} from chat_messages cm where l.kind = 'message' and l.id = cm.id and cm.id = $1`,
      [wrong],
    );
    const byDigest = await reconcile();
    expect(byDigest.lines.get(rooms[5]!)).toMatchObject({ status: 'clean', confirmedBy: 'digest' });
    const full = await reconcile('--full');
    expect(full.code).toBe(1);
    expect(full.lines.get(rooms[5]!)!.drift).toEqual([expect.objectContaining({ code: 'message_mismatch', id: wrong })]);
  });
});
