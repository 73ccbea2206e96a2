/**
 * The lean pipeline: a baseline for backfill. The same target rows as backfill writes into an empty
 * target, by the shortest path there is — COPY the legacy rows out, convert each memory with the
 * project's own converter exactly as backfill does, COPY the sessions, chats and messages in — and with
 * none of backfill's guarantees: no ledger, no REPEATABLE READ batches, no classification against
 * existing rows, no resumability, no report. Memory stays bounded: rows stream through with
 * backpressure (a COPY's output is read only as fast as the other COPY takes the converted rows).
 *
 * What backfill decides, decided by the same code:
 * - rooms: mapRoomRow (the session id, the title, artist_missing → NULL artist; rooms with no account or
 *   a deleted one are skipped), from the room's columns as readRoomsInRange reads them;
 * - memories: convertMemoryRow (lossless JSON parse, convertMemory with AI SDK validation, bad times
 *   skipped), from the columns forEachMemoryPage reads; only the memories of rooms mapRoom migrates;
 * - values: created_at (and updated_at) as the microsecond text backfill writes, parts as stringifyJson
 *   of the envelope.
 *
 * COPY's text format both ways: on 190k memories (107 MB) splitting and unescaping it costs ~0.25 s of
 * CPU, an exotic-quote CSV about the same, standard CSV more (every JSON field quoted, its quotes
 * doubled: 7% more bytes); the conversion itself (~40 µs a memory, two thirds of it AI SDK validation) is
 * what the pipeline waits for.
 *
 * Also a check (run this file): seeds a fresh database, runs the real backfill CLI, captures every
 * target row, resets the target, runs this pipeline, and asserts the same rows; then times both.
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node --import tsx bench/lean-pipeline.ts --rooms 300
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { convertMemoryRow } from '../src/engine/memory-conversion.ts';
import { timestampTextSql, type MemoryRow } from '../src/engine/source-reads.ts';
import { stringifyJson } from '../src/migration/json.ts';
import { mapRoomRow, type LegacyRoomRow } from '../src/migration/map-room.ts';

// Converted rows are handed to the COPY in chunks of about this many characters.
const OUT_CHUNK_CHARS = 64 * 1024;
const NEWLINE = 0x0a;

type Fields = (string | null)[];

/** Fills the (empty) target from the legacy tables; `messages` is the chat_messages rows written. */
export async function leanPipelineBaseline(url: string): Promise<{ messages: number }> {
  // One connection reads, the other writes: both COPYs run at once, each on its own backend.
  const source = new pg.Client({ connectionString: url });
  const target = new pg.Client({ connectionString: url });
  await Promise.all([source.connect(), target.connect()]);
  try {
    // Big estimates would otherwise cross jit_above_cost; nothing to gain from JIT on a COPY's query.
    await source.query('set jit = off');
    // As backfill's batches (asyncCommit): no wait for the WAL flush at commit.
    await target.query('set synchronous_commit = off');
    const shape = await columnShape(source);
    // Sessions, then chats (whose FK needs the sessions), then messages (whose FK needs the chats); each
    // COPY is its own transaction, so a failure leaves a partial target (a baseline needs no better).
    await copyThrough(source, target, roomsCopySql(shape.roomsHaveArtistId), sessionsCopySql(shape.sessionsHaveArtistId), (fields) =>
      sessionLine(roomRow(fields), shape.sessionsHaveArtistId),
    );
    await copyThrough(source, target, roomsCopySql(shape.roomsHaveArtistId), 'copy public.chats (id, session_id, title, created_at, updated_at) from stdin', (fields) =>
      chatLine(roomRow(fields)),
    );
    const messages = await copyThrough(source, target, MEMORIES_COPY_SQL, 'copy public.chat_messages (id, chat_id, role, parts, created_at) from stdin', (fields) =>
      messageLine(memoryRow(fields)),
    );
    return { messages };
  } finally {
    await Promise.allSettled([source.end(), target.end()]);
  }
}

/** The optional artist_id columns, as backfill's preflight finds them (DatabaseShape). */
async function columnShape(client: pg.Client): Promise<{ roomsHaveArtistId: boolean; sessionsHaveArtistId: boolean }> {
  const { rows } = await client.query<{ table_name: string }>(
    `select table_name from information_schema.columns
      where table_schema = 'public' and table_name in ('rooms', 'sessions') and column_name = 'artist_id'`,
  );
  const has = (table: string) => rows.some((row) => row.table_name === table);
  return { roomsHaveArtistId: has('rooms'), sessionsHaveArtistId: has('sessions') };
}

/** Every room, with the facts mapRoomRow needs, as readRoomsInRange reads them. */
function roomsCopySql(roomsHaveArtistId: boolean): string {
  const artist = roomsHaveArtistId ? 'r.artist_id' : 'null::uuid';
  return `copy (
    select r.id::text, r.account_id::text, r.topic, ${timestampTextSql('r.updated_at')}, ${artist}::text,
           a.id is not null, ar.id is not null
      from public.rooms r
      left join public.accounts a on a.id = r.account_id
      left join public.accounts ar on ar.id = ${artist}
  ) to stdout`;
}

function sessionsCopySql(withArtistId: boolean): string {
  return `copy public.sessions (id, account_id, title, created_at, updated_at${withArtistId ? ', artist_id' : ''}) from stdin`;
}

/**
 * The memories of the rooms mapRoom migrates, in chat order, with the columns forEachMemoryPage reads.
 * The join is mapRoom's rule for a room it skips: no account (NULL account_id) or a deleted account
 * (no such row in accounts); every other room is migrated. Memories without a room (room_id NULL) are
 * not migrated by backfill either.
 */
const MEMORIES_COPY_SQL = `copy (
    select m.id::text, m.room_id::text, m.content::text, ${timestampTextSql('m.updated_at')},
           case when not isfinite(m.updated_at) then m.updated_at::text
                when m.updated_at < '0001-01-01 00:00:00+00'::timestamptz then 'a date before year 1 (' || m.updated_at::text || ')' end
      from public.memories m
      join public.rooms r on r.id = m.room_id
      join public.accounts a on a.id = r.account_id
     order by m.room_id, m.updated_at, m.id
  ) to stdout`;

function roomRow(fields: Fields): LegacyRoomRow {
  return {
    id: fields[0]!,
    account_id: fields[1] ?? null,
    topic: fields[2] ?? null,
    updated_at: fields[3]!,
    artist_id: fields[4] ?? null,
    account_exists: fields[5] === 't',
    artist_exists: fields[6] === 't',
    memory_count: 0,
  };
}

function memoryRow(fields: Fields): MemoryRow {
  return { id: fields[0]!, room_id: fields[1]!, content: fields[2]!, updated_at: fields[3]!, bad_time: fields[4] ?? null };
}

// Backfill writes created_at (and updated_at) as the room's updated_at text, to the microsecond.
function sessionLine(row: LegacyRoomRow, withArtistId: boolean): string | null {
  const mapping = mapRoomRow(row);
  if (!mapping.ok) return null;
  const { session } = mapping.mapped;
  const artist = withArtistId ? `\t${copyText(session.artistId)}` : '';
  return `${session.id}\t${session.accountId}\t${copyText(session.title)}\t${row.updated_at}\t${row.updated_at}${artist}\n`;
}

function chatLine(row: LegacyRoomRow): string | null {
  const mapping = mapRoomRow(row);
  if (!mapping.ok) return null;
  const { chat } = mapping.mapped;
  return `${chat.id}\t${chat.sessionId}\t${copyText(chat.title)}\t${row.updated_at}\t${row.updated_at}\n`;
}

async function messageLine(memory: MemoryRow): Promise<string | null> {
  const conversion = await convertMemoryRow(memory);
  if (!conversion.ok) return null;
  const { message } = conversion;
  // The row as backfill's convertMemories builds it: parts is the whole envelope, created_at the memory's updated_at text.
  return `${memory.id}\t${memory.room_id}\t${message.role}\t${copyText(stringifyJson(message))}\t${memory.updated_at}\n`;
}

/**
 * Streams `copy … to stdout` (text format) through `convert`, one row at a time, into `copy … from
 * stdin`; returns the rows written. The pipeline pulls the next chunk of the COPY's output only once the
 * converted rows of the last one are accepted by the target's COPY (backpressure), so memory is bounded
 * by a chunk, not by the table.
 */
async function copyThrough(
  source: pg.Client,
  target: pg.Client,
  copyOut: string,
  copyIn: string,
  convert: (fields: Fields) => string | null | Promise<string | null>,
): Promise<number> {
  let written = 0;
  const rows = source.query(copyTo(copyOut));
  const sink = target.query(copyFrom(copyIn));
  await pipeline(
    rows,
    async function* (chunks: AsyncIterable<Buffer>): AsyncGenerator<string> {
      let rest: Buffer | null = null;
      let out = '';
      for await (const chunk of chunks) {
        // A row may span chunks. 0x0a never occurs inside a UTF-8 multi-byte character, so whole lines decode alone.
        const data: Buffer = rest === null ? chunk : Buffer.concat([rest, chunk]);
        const end = data.lastIndexOf(NEWLINE);
        if (end === -1) {
          rest = data;
          continue;
        }
        rest = end + 1 < data.length ? data.subarray(end + 1) : null;
        for (const line of data.toString('utf8', 0, end).split('\n')) {
          const converted = await convert(parseCopyTextLine(line));
          if (converted === null) continue;
          out += converted;
          written += 1;
          if (out.length >= OUT_CHUNK_CHARS) {
            yield out;
            out = '';
          }
        }
      }
      if (rest !== null) throw new Error('COPY output ended inside a row');
      if (out !== '') yield out;
    },
    sink,
  );
  return written;
}

/** One line of COPY's text format: tab-separated, \N for NULL, backslash escapes. */
export function parseCopyTextLine(line: string): Fields {
  const fields: Fields = line.split('\t');
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    if (field === '\\N') fields[i] = null;
    else if (field.includes('\\')) fields[i] = field.replace(COPY_ESCAPE, unescapeOne);
  }
  return fields;
}

// What COPY TO writes in text format: \\, \b \f \n \r \t \v, and the delimiter escaped (\<tab>).
const COPY_ESCAPE = /\\(.)/gs;
const UNESCAPED: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
const unescapeOne = (_: string, char: string) => UNESCAPED[char] ?? char;

/** A value for COPY FROM's text format: NULL as \N; backslash, newline, carriage return and tab escaped. */
export function copyText(value: string | null): string {
  if (value === null) return '\\N';
  return NEEDS_ESCAPE.test(value) ? value.replace(ESCAPED_CHARS, escapeOne) : value;
}

const NEEDS_ESCAPE = /[\\\n\r\t]/;
const ESCAPED_CHARS = /[\\\n\r\t]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const escapeOne = (char: string) => ESCAPES[char]!;

// ---------------------------------------------------------------------------------------------------
// The check: same rows as backfill, then the timings.

interface Captured {
  sessions: string[];
  chats: string[];
  messages: string[];
}

/**
 * Every target row, whole, as text. Backfill sets every column it writes, and the others are constant
 * defaults (status 'running', '[]', 0, false, NULL): no column (no now() default) is left to differ
 * between two runs, so whole rows are compared.
 */
async function captureTarget(pool: pg.Pool): Promise<Captured> {
  const all = async (sql: string) => (await pool.query<{ row: string }>(sql)).rows.map((r) => r.row);
  return {
    sessions: await all('select row(s.*)::text as row from public.sessions s order by s.id'),
    chats: await all('select row(c.*)::text as row from public.chats c order by c.id'),
    messages: await all('select row(m.*)::text as row from public.chat_messages m order by m.id'),
  };
}

function compareCaptures(expected: Captured, actual: Captured): string[] {
  const problems: string[] = [];
  for (const table of ['sessions', 'chats', 'messages'] as const) {
    const a = expected[table];
    const b = actual[table];
    if (a.length !== b.length) problems.push(`${table}: backfill wrote ${a.length} rows, the lean pipeline ${b.length}`);
    const differing: number[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) differing.push(i);
    if (differing.length > 0) {
      const first = differing[0]!;
      problems.push(`${table}: ${differing.length} rows differ; first:\n  backfill: ${a[first]?.slice(0, 400)}\n  lean:     ${b[first]?.slice(0, 400)}`);
    }
  }
  return problems;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rooms: { type: 'string', default: '300' },
      'bench-rooms': { type: 'string', default: '2000' },
      'messages-per-room': { type: 'string' },
      repetitions: { type: 'string', default: '3' },
      'no-timing': { type: 'boolean', default: false },
      // Drop rooms.artist_id's FK so that some rooms name a deleted artist (mapRoom's artist_missing → NULL).
      'dangling-artists': { type: 'boolean', default: false },
    },
  });
  // Imported here so that importing leanPipelineBaseline (bench/run.ts) loads none of the check's modules.
  const { DEFAULT_BENCH_OPTIONS } = await import('./run.ts');
  const { openBenchServer, resetTarget } = await import('./bench-database.ts');
  const { runBinary } = await import('./child-run.ts');
  const { seedDatabase } = await import('../src/commands/seed/database.ts');
  const { createLogger } = await import('../src/engine/logger.ts');
  const { createProgress } = await import('../src/engine/progress.ts');
  const messagesPerRoom = Number(values['messages-per-room'] ?? DEFAULT_BENCH_OPTIONS.messagesPerRoom);
  const log = (line: string) => process.stderr.write(`${line}\n`);

  const server = await openBenchServer();
  const reports = await mkdtemp(join(tmpdir(), 'recoup-lean-'));
  const drops: (() => Promise<void>)[] = [];
  const seeded = async (rooms: number) => {
    const database = await server.createDatabase();
    const pool = new pg.Pool({ connectionString: database.url, max: 4 });
    drops.push(async () => {
      await pool.end();
      await database.drop();
    });
    const seed = await seedDatabase(
      pool,
      { rooms, seed: 42, messagesPerRoom, dropArtistFk: values['dangling-artists'] === true, concurrency: 2 },
      { logger: createLogger('warn'), progress: createProgress('seed', false, 'rooms') },
    );
    return { url: database.url, pool, memories: seed.memories };
  };
  const backfill = async (url: string) => {
    const run = await runBinary(['backfill', '--json', '--no-progress', '--log-level', 'warn', '--database-url', url,
      '--report-dir', join(reports, `backfill-${Date.now()}-${Math.random()}`)]);
    if (run.code !== 0 && run.code !== 1) throw new Error(`backfill failed (exit ${run.code}): ${String(run.summary.error)}`);
    return run;
  };
  const lean = async (url: string) => {
    const started = performance.now();
    const result = await leanPipelineBaseline(url);
    return { ...result, seconds: (performance.now() - started) / 1000 };
  };
  const check = async (db: { url: string; pool: pg.Pool }, label: string) => {
    await resetTarget(db.pool);
    await backfill(db.url);
    const expected = await captureTarget(db.pool);
    await resetTarget(db.pool);
    const { messages } = await lean(db.url);
    const actual = await captureTarget(db.pool);
    const problems = compareCaptures(expected, actual);
    if (messages !== actual.messages.length) problems.push(`the lean pipeline said ${messages} messages, the table holds ${actual.messages.length}`);
    if (problems.length > 0) throw new Error(`${label}: the lean pipeline's rows differ from backfill's:\n${problems.join('\n')}`);
    log(`${label}: identical — ${expected.sessions.length} sessions, ${expected.chats.length} chats, ${expected.messages.length} chat_messages`);
  };

  try {
    const rooms = Number(values.rooms);
    log(`Equality check: seeding ${rooms} rooms × ~${messagesPerRoom} memories…`);
    const small = await seeded(rooms);
    await check(small, `${rooms} rooms (${small.memories} memories)`);
    if (values['no-timing']) return;

    const benchRooms = Number(values['bench-rooms']);
    log(`Timing: seeding ${benchRooms} rooms × ~${messagesPerRoom} memories…`);
    const big = await seeded(benchRooms);
    const times = { lean: [] as number[], backfill: [] as number[] };
    let written = 0;
    for (let round = 1; round <= Number(values.repetitions); round++) {
      // Alternating, each from an empty target and a fresh checkpoint (else one side may pay for the other's dirty pages).
      const fresh = async () => {
        await resetTarget(big.pool);
        await big.pool.query('checkpoint').catch(() => {});
      };
      await fresh();
      const b = await backfill(big.url);
      times.backfill.push(b.seconds);
      await fresh();
      const l = await lean(big.url);
      times.lean.push(l.seconds);
      written = l.messages;
      log(`  round ${round}: backfill ${b.seconds.toFixed(2)} s, lean ${l.seconds.toFixed(2)} s`);
    }
    // The same rows at this size too (the last round's backfill against a fresh lean run).
    await check(big, `${benchRooms} rooms (${big.memories} memories)`);
    // Messages per second as bench/run.ts counts them: the legacy memories walked (skipped ones included).
    const rate = (seconds: number[]) => big.memories / Math.min(...seconds);
    const leanRate = rate(times.lean);
    const backfillRate = rate(times.backfill);
    const lines = [
      `${benchRooms} rooms, ${big.memories} memories (${written} messages written), best of ${times.lean.length}:`,
      `  lean pipeline: ${Math.round(leanRate).toLocaleString('en-US')} messages/s (${Math.min(...times.lean).toFixed(2)} s; runs ${times.lean.map((t) => t.toFixed(2)).join(', ')})`,
      `  backfill:      ${Math.round(backfillRate).toLocaleString('en-US')} messages/s (${Math.min(...times.backfill).toFixed(2)} s; runs ${times.backfill.map((t) => t.toFixed(2)).join(', ')})`,
      `  backfill / lean: ${(backfillRate / leanRate).toFixed(2)}× (goal ≥ 0.7×)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const drop of drops) await drop().catch(() => {});
    await server.stop().catch(() => {});
    await rm(reports, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
