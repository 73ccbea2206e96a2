import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionIdForRoom } from '../../src/migration/session-id.ts';
import { BIN, runCli } from '../support/cli.ts';
import { createMigrationDatabase, seedDeterministicRooms } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

const ROOMS = 120;
const MEMORIES_PER_ROOM = 3;
const POLL_MS = 20;
// The advisory lock a test holds to stop one chat_messages update (in whichever worker reaches it).
const BLOCKER_LOCK = 424242;

let reportRoot: string;

/**
 * The target as the original script left it: every memory copied as its bare parts array (its first
 * shape), plus a chat the app created with one valid row and one that cannot be repaired.
 */
async function seedScriptTarget(env: Db): Promise<void> {
  await seedDeterministicRooms(env.pool, ROOMS, MEMORIES_PER_ROOM);
  const { rows: rooms } = await env.pool.query<{ id: string }>(`select id::text from rooms order by id`);
  await env.pool.query(
    `insert into sessions (id, account_id, title, created_at, updated_at)
     select x.session_id, r.account_id, r.topic, r.updated_at, r.updated_at
       from unnest($1::uuid[], $2::text[]) as x(room_id, session_id) join rooms r on r.id = x.room_id`,
    [rooms.map((r) => r.id), rooms.map((r) => sessionIdForRoom(r.id))],
  );
  await env.pool.query(
    `insert into chats (id, session_id, title, created_at, updated_at)
     select r.id::text, x.session_id, r.topic, r.updated_at, r.updated_at
       from unnest($1::uuid[], $2::text[]) as x(room_id, session_id) join rooms r on r.id = x.room_id`,
    [rooms.map((r) => r.id), rooms.map((r) => sessionIdForRoom(r.id))],
  );
  await env.pool.query(
    `insert into chat_messages (id, chat_id, role, parts, created_at)
     select m.id::text, m.room_id::text, m.content->>'role', m.content->'parts', m.updated_at from memories m`,
  );
  await env.pool.query(`insert into sessions (id, account_id, title) select 'sess_app_01', id, 'App' from accounts limit 1`);
  await env.pool.query(`insert into chats (id, session_id, title) values ('chat_app_01', 'sess_app_01', 'App chat')`);
  await env.pool.query(
    `insert into chat_messages (id, chat_id, role, parts, created_at) values
       ('msg_app_valid', 'chat_app_01', 'user', '{"id":"msg_app_valid","role":"user","parts":[{"type":"text","text":"hi"}]}', '2025-06-01'),
       ('msg_app_string', 'chat_app_01', 'user', '"just a string"', '2025-06-01')`,
  );
}

/** Makes every chat_messages update take `ms`, and the update of `blockedId` wait for the test's advisory lock. */
async function slowDownUpdates(env: Db, ms: number, blockedId = ''): Promise<void> {
  await env.pool.query(`create or replace function test_slow_update() returns trigger language plpgsql as $$
    begin
      if new.id = '${blockedId}' then perform pg_advisory_xact_lock(${BLOCKER_LOCK}); end if;
      perform pg_sleep(${ms / 1000});
      return new;
    end $$`);
  await env.pool.query(`create trigger test_slow_update before update on chat_messages for each row execute function test_slow_update()`);
}

async function dropSlowDown(env: Db): Promise<void> {
  await env.pool.query(`drop trigger if exists test_slow_update on chat_messages`);
}

function startFixParts(env: Db, args: string[]): { child: ChildProcess; result: Promise<{ code: number | null; signal: string | null; stdout: string }> } {
  const child = spawn(process.execPath, [BIN, 'fix-parts', '--json', '--report-dir', join(reportRoot, crypto.randomUUID()), ...args], {
    env: { ...process.env, DATABASE_URL: env.db.url },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const result = new Promise<{ code: number | null; signal: string | null; stdout: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout })),
  );
  return { child, result };
}

async function fixPartsCli(env: Db, args: string[]): Promise<Awaited<ReturnType<typeof runCli>>> {
  return runCli(['fix-parts', '--json', '--report-dir', join(reportRoot, crypto.randomUUID()), ...args], { databaseUrl: env.db.url });
}

/** Everything fix-parts leaves behind that must not depend on how many workers did it. */
async function fixPartsOutcome(pool: pg.Pool): Promise<{ messages: string[]; backups: string[]; ledger: string[] }> {
  const messages = await pool.query<{ r: string }>(`select row(m.*)::text as r from chat_messages m order by id`);
  const backups = await pool.query<{ r: string }>(
    `select row(message_id, chat_id, old_role, old_parts, old_digest, new_digest, restored_at)::text as r
       from recoup_migrate.parts_backup order by message_id, backed_up_at`,
  );
  const ledger = await pool.query<{ r: string }>(`select row(kind, id, room_id, digest)::text as r from recoup_migrate.target_ledger order by kind, id`);
  return { messages: messages.rows.map((r) => r.r), backups: backups.rows.map((r) => r.r), ledger: ledger.rows.map((r) => r.r) };
}

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
}

/** The worker (host:pid) holding the running batch whose range covers `messageId`, once it waits on the blocker. */
async function blockedHolder(env: Db, messageId: string): Promise<string> {
  let holder = '';
  await until(async () => {
    const { rows } = await env.pool
      .query<{ claimed_by: string }>(
        `select b.claimed_by from recoup_migrate.batches b
          where b.status = 'running' and (b.after_id is null or b.after_id < $1) and b.last_id >= $1
            and exists (select 1 from pg_locks l where l.locktype = 'advisory' and l.objid = $2 and not l.granted)`,
        [messageId, BLOCKER_LOCK],
      )
      .catch(() => ({ rows: [] as { claimed_by: string }[] }));
    holder = rows[0]?.claimed_by ?? '';
    return holder !== '';
  });
  return holder;
}

/** Holds the blocker lock on a client of its own until `release`. */
async function holdBlocker(env: Db): Promise<{ release: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: env.db.url });
  await client.connect();
  await client.query(`select pg_advisory_lock($1)`, [BLOCKER_LOCK]);
  return {
    release: async () => {
      await client.query(`select pg_advisory_unlock($1)`, [BLOCKER_LOCK]);
      await client.end();
    },
  };
}

/** A message id in the middle of the id order: a batch in the middle of the run. */
async function middleMessageId(env: Db): Promise<string> {
  const { rows } = await env.pool.query<{ id: string }>(
    `select id from chat_messages order by id offset (select count(*) / 2 from chat_messages) limit 1`,
  );
  return rows[0]!.id;
}

let reference: Awaited<ReturnType<typeof fixPartsOutcome>>;
let referenceClasses: Record<string, number>;
beforeAll(async () => {
  reportRoot = await mkdtemp(join(tmpdir(), 'fix-parts-workers-'));
  const env = await createMigrationDatabase();
  try {
    await seedScriptTarget(env);
    const single = await fixPartsCli(env, []);
    expect(single.code, single.stderr).toBe(1); // the app's string row cannot be repaired
    referenceClasses = single.json!.classes;
    expect(referenceClasses).toMatchObject({ rebuilt: ROOMS * MEMORIES_PER_ROOM, unrepairable: 1, app: 1 });
    reference = await fixPartsOutcome(env.pool);
  } finally {
    await env.close();
  }
});
afterAll(async () => rm(reportRoot, { recursive: true, force: true }));

describe('several fix-parts workers on one run', () => {
  it('three processes share the batches; the one holding a batch is killed with -9; its batch is reclaimed; the outcome equals a single process', async () => {
    const env = await createMigrationDatabase();
    try {
      await seedScriptTarget(env);
      const blocked = await middleMessageId(env);
      await slowDownUpdates(env, 2, blocked);
      const blocker = await holdBlocker(env);
      const workers = [0, 1, 2].map(() => startFixParts(env, ['--batch-size', '10', '--concurrency', '1', '--lock-timeout', '60000']));
      const holder = await blockedHolder(env, blocked);
      const victim = workers.find((w) => holder.endsWith(`:${w.child.pid}`));
      expect(victim, `the batch holder ${holder} is one of the workers`).toBeDefined();
      victim!.child.kill('SIGKILL');
      expect((await victim!.result).signal).toBe('SIGKILL');
      await blocker.release();

      const survivors = await Promise.all(workers.filter((w) => w !== victim).map(async (w) => JSON.parse((await w.result).stdout)));
      expect(new Set(survivors.map((s) => s.runId)).size).toBe(1);
      expect(survivors.some((s) => s.joinedRun === true)).toBe(true);
      for (const summary of survivors) {
        // Run-wide totals: the unrepairable row fails every worker, whichever one walked it.
        expect(summary).toMatchObject({ exitCode: 1, complete: true, runTotals: { classes: referenceClasses } });
      }
      const runId = survivors[0].runId as string;
      const { rows: batches } = await env.pool.query<{ status: string; attempts: number; claimed_by: string; after_id: string | null; last_id: string }>(
        `select status, attempts, claimed_by, after_id, last_id from recoup_migrate.batches where run_id = $1`,
        [runId],
      );
      expect(new Set(batches.map((b) => b.status))).toEqual(new Set(['done']));
      const reclaimed = batches.find((b) => (b.after_id === null || b.after_id < blocked) && b.last_id >= blocked);
      expect(reclaimed?.attempts).toBeGreaterThanOrEqual(2);
      expect(reclaimed?.claimed_by).not.toBe(holder);
      expect(new Set(batches.map((b) => b.claimed_by)).size).toBeGreaterThanOrEqual(2);
      const { rows: runs } = await env.pool.query(`select status from recoup_migrate.runs where run_id = $1`, [runId]);
      expect(runs[0].status).toBe('completed');

      await dropSlowDown(env);
      expect(await fixPartsOutcome(env.pool)).toEqual(reference);
      const status = await runCli(['status', '--json'], { databaseUrl: env.db.url });
      expect(status.json!.runs[0]).toMatchObject({ runId, command: 'fix-parts', unit: 'messages', done: ROOMS * MEMORIES_PER_ROOM + 2, total: ROOMS * MEMORIES_PER_ROOM + 2 });
    } finally {
      await env.close();
    }
  });
});

describe('stopping and excluding', () => {
  it('--time-budget stops with exit 0 and complete: false; --undo is refused while a fix-parts runs; the next run finishes the job', async () => {
    const env = await createMigrationDatabase();
    try {
      await seedScriptTarget(env);
      await slowDownUpdates(env, 20);
      const stopped = await fixPartsCli(env, ['--batch-size', '10', '--time-budget', '3s']);
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(stopped.json).toMatchObject({ complete: false, stoppedBy: 'time_budget' });
      expect(stopped.json!.messages.total).toBeLessThan(ROOMS * MEMORIES_PER_ROOM);
      const { rows: stoppedRun } = await env.pool.query(`select status from recoup_migrate.runs where run_id = $1`, [stopped.json!.runId]);
      expect(stoppedRun[0].status).toBe('incomplete');

      // A second run, held up on its first update: an undo of the first run must not overlap it.
      await dropSlowDown(env);
      const { rows: unfixed } = await env.pool.query<{ id: string }>(
        `select cm.id from chat_messages cm where jsonb_typeof(cm.parts) = 'array' order by cm.id limit 1`,
      );
      await slowDownUpdates(env, 0, unfixed[0]!.id);
      const blocker = await holdBlocker(env);
      const rest = startFixParts(env, ['--batch-size', '10', '--lock-timeout', '60000']);
      await blockedHolder(env, unfixed[0]!.id);
      const undo = await fixPartsCli(env, ['--undo', stopped.json!.runId]);
      expect(undo.code).toBe(2);
      expect(undo.json!.error).toMatch(/Another fix-parts run \([0-9a-f-]{36}, on .+\) is active/);
      await blocker.release();
      const finished = JSON.parse((await rest.result).stdout);
      expect(finished).toMatchObject({ exitCode: 1, complete: true });
      // The two runs together rebuilt every script row exactly once.
      expect(stopped.json!.classes.rebuilt + finished.classes.rebuilt).toBe(referenceClasses.rebuilt);

      await dropSlowDown(env);
      const outcome = await fixPartsOutcome(env.pool);
      expect(outcome.messages).toEqual(reference.messages);
      expect(outcome.ledger).toEqual(reference.ledger);
      expect(outcome.backups).toEqual(reference.backups);
    } finally {
      await env.close();
    }
  });

  it('SIGTERM finishes the batch in flight, hands the rest back, writes the report and exits 3', async () => {
    const env = await createMigrationDatabase();
    try {
      await seedScriptTarget(env);
      await slowDownUpdates(env, 5);
      const run = startFixParts(env, ['--batch-size', '10']);
      await until(async () => {
        const { rows } = await env.pool
          .query<{ n: number }>(`select count(*)::int as n from recoup_migrate.parts_backup`)
          .catch(() => ({ rows: [{ n: 0 }] }));
        return rows[0]!.n >= 20;
      });
      run.child.kill('SIGTERM');
      const result = await run.result;
      expect(result.code).toBe(3);
      const summary = JSON.parse(result.stdout);
      expect(summary).toMatchObject({ exitCode: 3, complete: false, stoppedBy: 'signal' });
      // Every batch it reported is committed; none is left claimed; its lease is gone.
      const { rows: written } = await env.pool.query<{ n: number }>(`select count(*)::int as n from recoup_migrate.parts_backup where run_id = $1`, [summary.runId]);
      expect(written[0]!.n).toBe(summary.messages.written);
      const { rows: held } = await env.pool.query(`select 1 from recoup_migrate.batches where run_id = $1 and status = 'running'`, [summary.runId]);
      expect(held).toEqual([]);
      const { rows: leases } = await env.pool.query(`select 1 from recoup_migrate.leases where run_id = $1`, [summary.runId]);
      expect(leases).toEqual([]);
      await dropSlowDown(env);
      expect((await fixPartsCli(env, [])).json).toMatchObject({ exitCode: 1, complete: true });
      expect((await fixPartsOutcome(env.pool)).messages).toEqual(reference.messages);
    } finally {
      await env.close();
    }
  });
});
