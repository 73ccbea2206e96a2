import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSampled } from '../../src/commands/reconcile/expected.ts';
import { sessionIdForRoom } from '../../src/migration/session-id.ts';
import { runCli, type CliResult } from '../support/cli.ts';
import { loadMessageFixtures } from '../support/fixtures.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom, targetSnapshot } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

interface Audit {
  result: CliResult;
  summary: Record<string, any>;
  lines: Record<string, any>[];
  text: string;
  byRoom: Map<string, Record<string, any>>;
  /** Every drift item as `roomId|code|id`, sorted. */
  drift: string[];
  path: string;
}

/** One victim room per kind of damage, so each test can prove that nothing else is flagged. */
const VICTIMS = [
  'deleteSession', 'deleteMessage', 'unexpected', 'role', 'parts', 'createdAt', 'chatSession', 'artist',
  'bareArray', 'app', 'chatDeleted', 'sourceAndApp', 'sourceOnly', 'baselineOld', 'baselineNew',
] as const;
type Victim = (typeof VICTIMS)[number];

describe('reconcile', () => {
  let env: Db;
  let owner: string;
  let artist: string;
  let otherArtist: string;
  let noAccountRoom: string;
  let accountGoneRoom: string;
  const room = {} as Record<Victim, string>;
  const user = {} as Record<Victim, string>;
  const assistant = {} as Record<Victim, string>;
  let malformedMemory: string;
  const fixtures = loadMessageFixtures();

  async function audit(...args: string[]): Promise<Audit> {
    const dir = join(mkdtempSync(join(tmpdir(), 'recoup-reconcile-')), 'report');
    const result = await runCli(['reconcile', '--json', '--report-dir', dir, ...args], { databaseUrl: env.db.url });
    const path = join(dir, 'rooms.jsonl');
    const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    const lines = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, any>);
    const drift = lines.flatMap((line) => (line.drift as { code: string; id: string }[]).map((d) => `${line.roomId}|${d.code}|${d.id}`)).sort();
    return { result, summary: result.json ?? {}, lines, text, byRoom: new Map(lines.map((l) => [l.roomId as string, l])), drift, path };
  }

  /** Saves rows as jsonb text, so they can be put back exactly (big integers, microseconds). */
  async function save(table: string, where: string, params: unknown[]): Promise<string> {
    const { rows } = await env.pool.query<{ rows: string }>(`select coalesce(jsonb_agg(t), '[]')::text as rows from ${table} t where ${where}`, params);
    return rows[0]!.rows;
  }
  async function restore(table: string, saved: string): Promise<void> {
    await env.pool.query(`insert into ${table} select * from jsonb_populate_recordset(null::${table}, $1::jsonb)`, [saved]);
  }

  /** Applies damage, runs the check, and always undoes the damage. */
  async function withDamage(apply: () => Promise<unknown>, undo: () => Promise<unknown>, check: () => Promise<void>): Promise<void> {
    await apply();
    try {
      await check();
    } finally {
      await undo();
    }
  }

  beforeAll(async () => {
    env = await createMigrationDatabase();
    owner = await insertAccount(env.pool, 'owner');
    artist = await insertAccount(env.pool, 'artist');
    otherArtist = await insertAccount(env.pool, 'other artist');
    const shapes = await insertRoom(env.pool, { accountId: owner, topic: 'Every shape', artistId: artist, updatedAt: '2025-05-01T10:00:00.123456Z' });
    for (const fixture of fixtures) await insertMemory(env.pool, shapes, fixture.contentText, fixture.updatedAt, fixture.memoryId);
    noAccountRoom = await insertRoom(env.pool, { accountId: null, topic: 'orphan' });
    await insertMemory(env.pool, noAccountRoom, { role: 'user', content: 'hi' });
    accountGoneRoom = await insertRoom(env.pool, { accountId: randomUUID(), topic: 'deleted account' });
    await insertMemory(env.pool, accountGoneRoom, { role: 'user', content: 'hi' });
    for (const [index, victim] of VICTIMS.entries()) {
      room[victim] = await insertRoom(env.pool, { accountId: owner, topic: victim, artistId: artist });
      const second = String(index).padStart(2, '0');
      user[victim] = await insertMemory(env.pool, room[victim], { role: 'user', parts: [{ type: 'text', text: `question ${victim}` }] }, `2025-06-01T10:00:${second}.000001Z`);
      assistant[victim] = await insertMemory(
        env.pool,
        room[victim],
        { role: 'assistant', content: `answer ${victim}`, toolInvocations: [{ toolCallId: 'c1', toolName: 'search', args: { q: 12345678901234567890 }, state: 'result', result: 1 }] },
        `2025-06-01T10:00:${second}.000002Z`,
      );
    }
    malformedMemory = await insertMemory(env.pool, room.unexpected, '"not a message"', '2025-06-01T11:00:00.000003Z');
    const backfill = await runCli(['backfill', '--json', '--report-dir', mkdtempSync(join(tmpdir(), 'recoup-backfill-'))], { databaseUrl: env.db.url });
    expect(backfill.code).toBe(0);
  });
  afterAll(async () => env.close());

  it('a backfilled database reconciles clean, lists the expected skips, and writes nothing', async () => {
    const before = await targetSnapshot(env.pool);
    const ledgerBefore = await save('recoup_migrate.target_ledger', 'true', []);
    const { result, summary, byRoom, drift } = await audit();
    expect(result.code).toBe(0);
    expect(drift).toEqual([]);
    expect(summary.rooms).toEqual({ total: VICTIMS.length + 3, clean: VICTIMS.length + 1, drift: 0, skipped: 2, info: 0 });
    expect(summary.reasons).toMatchObject({ room_no_account: 1, room_account_missing: 1, message_malformed: expect.any(Number) });
    const fixtureSkips = fixtures.filter((f) => 'skip' in f.expected).length;
    expect(summary.messages).toMatchObject({ mismatch: 0, missing: 0, unexpected: 0, skipped: fixtureSkips + 1 + 2 });
    expect(summary.messages.clean).toBe(summary.messages.expected);
    expect(byRoom.get(noAccountRoom)).toMatchObject({ status: 'skipped', reasons: ['room_no_account'], memories: { total: 1, migrated: 0, skipped: 1 } });
    expect(byRoom.get(room.unexpected)!.skipped).toEqual([expect.objectContaining({ memoryId: malformedMemory, reason: 'message_malformed' })]);
    expect(await targetSnapshot(env.pool)).toEqual(before);
    expect(await save('recoup_migrate.target_ledger', 'true', [])).toBe(ledgerBefore);
    const runs = await env.pool.query(`select command from recoup_migrate.runs where command = 'reconcile'`);
    expect(runs.rows).toEqual([]);
  });

  it('a deleted message is message_missing, in its room only', async () => {
    let saved = '';
    await withDamage(
      async () => {
        saved = await save('chat_messages', 'id = $1', [assistant.deleteMessage]);
        await env.pool.query('delete from chat_messages where id = $1', [assistant.deleteMessage]);
      },
      () => restore('chat_messages', saved),
      async () => {
        const { result, drift, summary } = await audit();
        expect(result.code).toBe(1);
        expect(drift).toEqual([`${room.deleteMessage}|message_missing|${assistant.deleteMessage}`]);
        expect(summary.reasons.message_missing).toBe(1);
        expect(summary.rooms.drift).toBe(1);
      },
    );
  });

  it('a deleted session (its chat cascading) is target_deleted with the ledger, session_missing + chat_missing without', async () => {
    const saved: [string, string][] = [];
    const sessionId = sessionIdForRoom(room.deleteSession);
    await withDamage(
      async () => {
        saved.push(['sessions', await save('sessions', 'id = $1', [sessionId])]);
        saved.push(['chats', await save('chats', 'id = $1', [room.deleteSession])]);
        saved.push(['chat_messages', await save('chat_messages', 'chat_id = $1', [room.deleteSession])]);
        await env.pool.query('delete from sessions where id = $1', [sessionId]);
      },
      async () => {
        for (const [table, rows] of saved) await restore(table, rows);
      },
      async () => {
        const withLedger = await audit();
        expect(withLedger.result.code).toBe(0);
        expect(withLedger.drift).toEqual([]);
        expect(withLedger.byRoom.get(room.deleteSession)).toMatchObject({ status: 'info', reasons: ['target_deleted'] });
        expect(withLedger.summary.reasons.target_deleted).toBe(1);

        const withoutLedger = await audit('--state-schema', 'no_ledger_here');
        expect(withoutLedger.result.code).toBe(1);
        expect(withoutLedger.drift).toEqual([
          `${room.deleteSession}|chat_missing|${room.deleteSession}`,
          `${room.deleteSession}|session_missing|${sessionId}`,
        ]);
        expect(withoutLedger.summary.messages.missing).toBe(2);
        const schema = await env.pool.query(`select 1 from pg_namespace where nspname = 'no_ledger_here'`);
        expect(schema.rows).toEqual([]);
      },
    );
  });

  it('a message for a memory expected to be skipped is message_unexpected', async () => {
    await withDamage(
      () => env.pool.query(`insert into chat_messages (id, chat_id, role, parts) values ($1, $2, 'user', '{}')`, [malformedMemory, room.unexpected]),
      () => env.pool.query('delete from chat_messages where id = $1', [malformedMemory]),
      async () => {
        const { result, drift, byRoom } = await audit();
        expect(result.code).toBe(1);
        expect(drift).toEqual([`${room.unexpected}|message_unexpected|${malformedMemory}`]);
        expect(byRoom.get(room.unexpected)!.drift[0]).toMatchObject({ skipReason: 'message_malformed', actual: { digest: expect.any(String) } });
      },
    );
  });

  const fieldDamage: [string, Victim, 'user' | 'assistant', string, string, string[]][] = [
    ['a changed role', 'role', 'assistant', `role = 'user'`, `role = 'assistant'`, ['role']],
    ['a wrong created_at (by one microsecond)', 'createdAt', 'user', `created_at = created_at + interval '1 microsecond'`, `created_at = created_at - interval '1 microsecond'`, ['created_at']],
    ['a bare-array parts value, as production first wrote it', 'bareArray', 'assistant', `parts = parts -> 'parts'`, '', ['parts']],
  ];
  it.each(fieldDamage)('%s is message_mismatch naming the field', async (_name, victim, which, damage, undo, fields) => {
    const id = which === 'user' ? user[victim] : assistant[victim];
    const saved = await save('chat_messages', 'id = $1', [id]);
    await withDamage(
      () => env.pool.query(`update chat_messages set ${damage} where id = $1`, [id]),
      async () => {
        if (undo) await env.pool.query(`update chat_messages set ${undo} where id = $1`, [id]);
        else {
          await env.pool.query('delete from chat_messages where id = $1', [id]);
          await restore('chat_messages', saved);
        }
      },
      async () => {
        const { result, drift, byRoom } = await audit();
        expect(result.code).toBe(1);
        expect(drift).toEqual([`${room[victim]}|message_mismatch|${id}`]);
        const item = byRoom.get(room[victim])!.drift[0];
        expect(item.fields).toEqual(fields);
        expect(item.expected.digest).not.toBe(item.actual.digest);
      },
    );
  });

  it('a changed parts value is message_mismatch; its text appears only with --show-values', async () => {
    const id = user.parts;
    await withDamage(
      () => env.pool.query(`update chat_messages set parts = jsonb_set(parts, '{parts,0,text}', '"tampered"') where id = $1`, [id]),
      () => env.pool.query(`update chat_messages set parts = jsonb_set(parts, '{parts,0,text}', '"question parts"') where id = $1`, [id]),
      async () => {
        const quiet = await audit();
        expect(quiet.result.code).toBe(1);
        expect(quiet.drift).toEqual([`${room.parts}|message_mismatch|${id}`]);
        expect(quiet.byRoom.get(room.parts)!.drift[0].fields).toEqual(['parts']);
        expect(quiet.text).not.toContain('tampered');
        expect(quiet.text).not.toContain('question parts');

        const loud = await audit('--room', room.parts, '--show-values');
        expect(loud.summary.rooms.total).toBe(1);
        const item = loud.byRoom.get(room.parts)!.drift[0];
        expect(item.actual.values.parts).toContain('tampered');
        expect(item.expected.values.parts).toContain('question parts');
      },
    );
  });

  it('a chat pointing at another session is chat_mismatch', async () => {
    await withDamage(
      () => env.pool.query('update chats set session_id = $2 where id = $1', [room.chatSession, sessionIdForRoom(room.role)]),
      () => env.pool.query('update chats set session_id = $2 where id = $1', [room.chatSession, sessionIdForRoom(room.chatSession)]),
      async () => {
        const { result, drift, byRoom } = await audit();
        expect(result.code).toBe(1);
        expect(drift).toEqual([`${room.chatSession}|chat_mismatch|${room.chatSession}`]);
        expect(byRoom.get(room.chatSession)!.drift[0].fields).toEqual(['session_id']);
      },
    );
  });

  it('a wrong sessions.artist_id is artist_mismatch', async () => {
    const sessionId = sessionIdForRoom(room.artist);
    await withDamage(
      () => env.pool.query('update sessions set artist_id = $2 where id = $1', [sessionId, otherArtist]),
      () => env.pool.query('update sessions set artist_id = $2 where id = $1', [sessionId, artist]),
      async () => {
        const { result, drift } = await audit();
        expect(result.code).toBe(1);
        expect(drift).toEqual([`${room.artist}|artist_mismatch|${sessionId}`]);
      },
    );
  });

  it('a session for a room expected to be skipped is session_unexpected', async () => {
    const sessionId = sessionIdForRoom(accountGoneRoom);
    await withDamage(
      async () => {
        await env.pool.query(`insert into sessions (id, account_id, title) values ($1, $2, 'x')`, [sessionId, owner]);
        await env.pool.query(`insert into chats (id, session_id, title) values ($1, $2, 'x')`, [accountGoneRoom, sessionId]);
      },
      () => env.pool.query('delete from sessions where id = $1', [sessionId]),
      async () => {
        const { result, drift, byRoom } = await audit();
        expect(result.code).toBe(1);
        expect(drift).toEqual([`${accountGoneRoom}|session_unexpected|${sessionId}`]);
        expect(byRoom.get(accountGoneRoom)).toMatchObject({ status: 'drift', reasons: ['room_account_missing', 'session_unexpected'] });
      },
    );
  });

  it('app changes are not drift: renames, archive, new messages, a chat deleted with its session kept', async () => {
    const appSession = sessionIdForRoom(room.app);
    let savedChat = '';
    let savedMessages = '';
    await withDamage(
      async () => {
        await env.pool.query(`update chats set title = 'Renamed' where id = $1`, [room.app]);
        await env.pool.query(`update sessions set title = 'Renamed', status = 'archived' where id = $1`, [appSession]);
        await env.pool.query(`insert into chat_messages (id, chat_id, role, parts) values ('app-msg-1', $1, 'user', '{"id":"app-msg-1","role":"user","parts":[]}')`, [room.app]);
        savedChat = await save('chats', 'id = $1', [room.chatDeleted]);
        savedMessages = await save('chat_messages', 'chat_id = $1', [room.chatDeleted]);
        await env.pool.query('delete from chats where id = $1', [room.chatDeleted]);
      },
      async () => {
        await env.pool.query(`update chats set title = 'app' where id = $1`, [room.app]);
        await env.pool.query(`update sessions set title = 'app', status = 'running' where id = $1`, [appSession]);
        await env.pool.query(`delete from chat_messages where id = 'app-msg-1'`);
        await restore('chats', savedChat);
        await restore('chat_messages', savedMessages);
      },
      async () => {
        const { result, drift, byRoom, summary } = await audit();
        expect(result.code).toBe(0);
        expect(drift).toEqual([]);
        expect(byRoom.get(room.app)).toMatchObject({ status: 'clean', app: { renamed: true, archived: true, addedMessages: 1 } });
        expect(byRoom.get(room.chatDeleted)).toMatchObject({ status: 'info', reasons: ['target_deleted'] });
        expect(summary.messages.addedInApp).toBe(1);
        expect(summary.app).toEqual({ renamed: 1, archived: 1 });
      },
    );
  });

  /** Changes a memory's content (the trigger moves its updated_at too) and restores it exactly. */
  async function withSourceChange(memoryId: string, check: () => Promise<void>, alsoTarget?: string): Promise<void> {
    let savedMemory = '';
    let savedMessage = '';
    await withDamage(
      async () => {
        savedMemory = await save('memories', 'id = $1', [memoryId]);
        savedMessage = await save('chat_messages', 'id = $1', [memoryId]);
        await env.pool.query(`update memories set content = jsonb_set(content, '{parts,0,text}', '"edited in legacy"') where id = $1`, [memoryId]);
        if (alsoTarget) await env.pool.query(`update chat_messages set ${alsoTarget} where id = $1`, [memoryId]);
      },
      async () => {
        await env.pool.query('delete from memories where id = $1', [memoryId]);
        await restore('memories', savedMemory);
        await env.pool.query('delete from chat_messages where id = $1', [memoryId]);
        await restore('chat_messages', savedMessage);
      },
      check,
    );
  }

  it('a source change the target lacks is drift (a backfill re-run updates it)', async () => {
    await withSourceChange(user.sourceOnly, async () => {
      const { result, drift, byRoom } = await audit();
      expect(result.code).toBe(1);
      expect(drift).toEqual([`${room.sourceOnly}|message_mismatch|${user.sourceOnly}`]);
      expect(byRoom.get(room.sourceOnly)!.drift[0].fields).toEqual(['created_at', 'parts']);
    });
  });

  it('a row the app changed after the tool wrote it, while the source changed too, is target_changed_in_app (info)', async () => {
    await withSourceChange(
      user.sourceAndApp,
      async () => {
        const { result, drift, byRoom, summary } = await audit();
        expect(result.code).toBe(0);
        expect(drift).toEqual([]);
        expect(byRoom.get(room.sourceAndApp)).toMatchObject({ status: 'info', info: [{ code: 'target_changed_in_app', kind: 'message', id: user.sourceAndApp }] });
        expect(summary.reasons.target_changed_in_app).toBe(1);
      },
      `parts = jsonb_set(parts, '{parts,0,text}', '"edited in the app"')`,
    );
  });

  it('--baseline: known drift passes, new drift fails, and fixes are counted', async () => {
    let savedOld = '';
    await withDamage(
      async () => {
        savedOld = await save('chat_messages', 'id = $1', [user.baselineOld]);
        await env.pool.query('delete from chat_messages where id = $1', [user.baselineOld]);
      },
      () => (savedOld ? restore('chat_messages', savedOld) : Promise.resolve()),
      async () => {
        const first = await audit();
        expect(first.result.code).toBe(1);
        await withDamage(
          () => env.pool.query(`update chat_messages set role = 'user' where id = $1`, [assistant.baselineNew]),
          () => env.pool.query(`update chat_messages set role = 'assistant' where id = $1`, [assistant.baselineNew]),
          async () => {
            const second = await audit('--baseline', first.path);
            expect(second.result.code).toBe(1);
            expect(second.summary.baseline).toMatchObject({ known: 1, new: 1, fixed: 0, notWalked: 0 });
            expect(second.byRoom.get(room.baselineOld)!.drift[0].known).toBe(true);
            expect(second.byRoom.get(room.baselineNew)!.drift[0].known).toBe(false);
          },
        );
        const third = await audit('--baseline', first.path);
        expect(third.result.code).toBe(0);
        expect(third.summary.baseline).toMatchObject({ known: 1, new: 0, fixed: 0 });
        expect(third.summary.rooms.drift).toBe(1);
        await restore('chat_messages', savedOld);
        savedOld = '';
        const fourth = await audit('--baseline', first.path);
        expect(fourth.result.code).toBe(0);
        expect(fourth.summary.baseline).toMatchObject({ known: 0, new: 0, fixed: 1 });
        expect(fourth.byRoom.get(room.baselineOld)!.fixed).toEqual([{ code: 'message_missing', id: user.baselineOld }]);
      },
    );
  });

  it('--sample audits the same rooms on every run, chosen by room id', async () => {
    const { rows } = await env.pool.query<{ id: string }>('select id::text from rooms');
    const expected = rows.map((r) => r.id).filter((id) => isSampled(id, 0.5)).sort();
    const first = await audit('--sample', '0.5');
    const second = await audit('--sample', '0.5');
    expect(first.result.code).toBe(0);
    expect(first.lines.map((l) => l.roomId).sort()).toEqual(expected);
    expect(second.lines.map((l) => l.roomId).sort()).toEqual(expected);
  });

  it('usage errors exit 2 with the error in the JSON summary', async () => {
    const zero = await audit('--sample', '0');
    expect(zero.result.code).toBe(2);
    expect(zero.summary.error).toContain('--sample');
    const missing = await audit('--baseline', join(tmpdir(), 'no-such-baseline.jsonl'));
    expect(missing.result.code).toBe(2);
    expect(missing.summary.error).toContain('--baseline');
    const notReconcile = join(mkdtempSync(join(tmpdir(), 'recoup-baseline-')), 'rooms.jsonl');
    writeFileSync(notReconcile, `${JSON.stringify({ roomId: room.app, status: 'migrated', reasons: [] })}\n`);
    const wrongKind = await audit('--baseline', notReconcile);
    expect(wrongKind.result.code).toBe(2);
    expect(wrongKind.summary.error).toContain('drift');
  });
});

describe('reconcile on a target without sessions.artist_id (before stamp-artist-id)', () => {
  let env: Db;
  afterAll(async () => env.close());

  it('compares everything else, not the artist, and finds a deleted message', async () => {
    env = await createMigrationDatabase({ withoutArtistId: true });
    const owner = await insertAccount(env.pool, 'owner');
    const artist = await insertAccount(env.pool, 'artist');
    const roomId = await insertRoom(env.pool, { accountId: owner, topic: 't', artistId: artist });
    const memoryId = await insertMemory(env.pool, roomId, { role: 'user', parts: [{ type: 'text', text: 'hi' }] });
    const report = () => join(mkdtempSync(join(tmpdir(), 'recoup-reconcile-')), 'report');
    expect((await runCli(['backfill', '--json', '--report-dir', report()], { databaseUrl: env.db.url })).code).toBe(0);
    const clean = await runCli(['reconcile', '--json', '--report-dir', report()], { databaseUrl: env.db.url });
    expect(clean.code).toBe(0);
    expect(clean.json!.rooms).toMatchObject({ total: 1, clean: 1 });
    await env.pool.query('delete from chat_messages where id = $1', [memoryId]);
    const damaged = await runCli(['reconcile', '--json', '--report-dir', report()], { databaseUrl: env.db.url });
    expect(damaged.code).toBe(1);
    expect(damaged.json!.reasons).toEqual({ message_missing: 1 });
  });
});

describe('reconcile: titles the app did not change', () => {
  let env: Awaited<ReturnType<typeof createMigrationDatabase>>;
  beforeAll(async () => {
    env = await createMigrationDatabase();
  });
  afterAll(async () => env.close());

  it('a blank topic the original script copied as it was is not a rename; a title the app gave is', async () => {
    const accountId = await insertAccount(env.pool);
    const room = await insertRoom(env.pool, { accountId, topic: '   ' });
    await insertMemory(env.pool, room, { role: 'user', content: 'hi' });
    const reports = mkdtempSync(join(tmpdir(), 'recoup-titles-'));
    expect((await runCli(['backfill', '--json', '--report-dir', join(reports, 'b')], { databaseUrl: env.db.url })).code).toBe(0);
    const setTitle = async (title: string) => {
      await env.pool.query('update sessions set title = $1 where id = $2', [title, sessionIdForRoom(room)]);
      await env.pool.query('update chats set title = $1 where id = $2', [title, room]);
    };
    const audit = async (name: string) => (await runCli(['reconcile', '--json', '--report-dir', join(reports, name)], { databaseUrl: env.db.url })).json!;
    await setTitle('   ');
    expect((await audit('script')).app).toEqual({ renamed: 0, archived: 0 });
    await setTitle('Release plan');
    expect((await audit('app')).app).toEqual({ renamed: 1, archived: 0 });
  });
});
