/**
 * fix-parts throughput: chat_messages rows classified (and, for the script's rows, rebuilt, backed up
 * and ledgered) per second, end to end through the command, on a target shaped as the original script
 * left it. Not run by the tests.
 *
 * `url` names a Postgres server on which the bench may create a database: it makes a scratch database,
 * fills it, runs fix-parts in this process, and drops the database again.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { fixParts } from '../src/commands/fix-parts.ts';
import { applySchema } from '../src/commands/schema.ts';
import { resolveConnection } from '../src/db/connection.ts';
import { sessionIdForRoom } from '../src/migration/session-id.ts';
import { createLogger } from '../src/runtime/logger.ts';

// ~46k messages in production over ~23k chats: two per chat; 5,000 chats keeps a run under a minute.
const BENCH_CHATS = 5_000;
const MESSAGES_PER_CHAT = 2;
const BATCH_SIZE = 500;
const CONCURRENCY = 2;

// What the original script found in memories: v4 tool results, v4 text with attachments, v5/v6 text.
const CONTENT_SQL = `case k % 3
  when 0 then jsonb_build_object('role', 'assistant', 'content', 'Done', 'parts', jsonb_build_array(
    jsonb_build_object('type', 'step-start'),
    jsonb_build_object('type', 'tool-invocation', 'toolInvocation', jsonb_build_object('state', 'result',
      'toolCallId', 'call_' || k, 'toolName', 'search_web', 'args', jsonb_build_object('q', 'query ' || k),
      'result', jsonb_build_object('hits', k))),
    jsonb_build_object('type', 'text', 'text', 'Done')))
  when 1 then jsonb_build_object('role', 'user', 'content', 'look at this', 'parts',
    jsonb_build_array(jsonb_build_object('type', 'text', 'text', 'look at this')),
    'experimental_attachments', jsonb_build_array(jsonb_build_object('name', 'a.png', 'contentType', 'image/png',
      'url', 'https://files.test/a.png')))
  else jsonb_build_object('role', 'user', 'content', '[object Object]', 'parts',
    jsonb_build_array(jsonb_build_object('type', 'text', 'text', 'hello ' || k, 'state', 'streaming')))
end`;

export async function benchFixParts(url: string): Promise<{ rowsPerSecond: number; rows: number; seconds: number; classes: unknown }> {
  const name = `recoup_bench_fix_parts_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const databaseUrl = withDatabase(url, name);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: CONCURRENCY + 2 });
  const reportDir = await mkdtemp(join(tmpdir(), 'bench-fix-parts-'));
  try {
    await applySchema(pool, { legacy: true, target: true, withoutArtistId: false });
    const rows = await seedScriptTarget(pool);
    const started = performance.now();
    const summary = await fixParts(
      { scope: {}, batchSize: BATCH_SIZE, concurrency: CONCURRENCY, dryRun: false, statementTimeoutMs: 120_000, lockTimeoutMs: 10_000 },
      {
        pool,
        connection: resolveConnection({ databaseUrl }),
        logger: createLogger('silent'),
        stateSchema: 'recoup_migrate',
        runId: randomUUID(),
        startedAt: new Date(),
        reportDir,
        progress: false,
        showValues: false,
        stopSignal: new AbortController().signal,
      },
    );
    const seconds = (performance.now() - started) / 1000;
    if (summary.exitCode !== 0) throw new Error(`fix-parts exited ${summary.exitCode}: ${summary.error ?? JSON.stringify(summary.classes)}`);
    return { rowsPerSecond: Math.round(rows / seconds), rows, seconds: Math.round(seconds * 10) / 10, classes: summary.classes };
  } finally {
    await pool.end();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
    await rm(reportDir, { recursive: true, force: true });
  }
}

/** Legacy rooms and memories, and the target as the original script wrote them (bare arrays and envelopes). */
async function seedScriptTarget(pool: pg.Pool): Promise<number> {
  const account = randomUUID();
  await pool.query(`insert into accounts (id, name) values ($1, 'bench')`, [account]);
  const { rows: rooms } = await pool.query<{ id: string }>(
    `insert into rooms (id, account_id, topic, updated_at)
     select gen_random_uuid(), $1, 'Bench ' || g, now() from generate_series(1, $2) g returning id::text`,
    [account, BENCH_CHATS],
  );
  await pool.query(
    `insert into memories (id, room_id, content, updated_at)
     select gen_random_uuid(), r.id, ${CONTENT_SQL}, now() - make_interval(secs => k)
       from rooms r cross join generate_series(1, $1) k`,
    [MESSAGES_PER_CHAT],
  );
  await pool.query(
    `insert into sessions (id, account_id, title, created_at, updated_at)
     select s.id, $1, 'Bench', now(), now() from unnest($2::text[]) as s(id)`,
    [account, rooms.map((r) => sessionIdForRoom(r.id))],
  );
  await pool.query(
    `insert into chats (id, session_id, title, created_at, updated_at)
     select c.id, c.session_id, 'Bench', now(), now() from unnest($1::text[], $2::text[]) as c(id, session_id)`,
    [rooms.map((r) => r.id), rooms.map((r) => sessionIdForRoom(r.id))],
  );
  const { rowCount } = await pool.query(
    `insert into chat_messages (id, chat_id, role, parts, created_at)
     select m.id::text, m.room_id::text, m.content->>'role',
            case when get_byte(uuid_send(m.id), 0) % 2 = 0 then m.content->'parts'
                 else jsonb_build_object('id', m.id::text, 'role', m.content->'role', 'parts', m.content->'parts') end,
            m.updated_at
       from memories m`,
  );
  return rowCount ?? 0;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
