/**
 * Network latency: backfill, reconcile and the original script's pattern measured directly (0 ms) and
 * through a TCP proxy that delays every chunk by half a round trip, as a database in another region
 * would. `node --import tsx bench/latency.ts --rooms 2000` seeds a fresh database and prints the rows.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { seedDatabase } from '../src/commands/seed/database.ts';
import { createLogger } from '../src/engine/logger.ts';
import { createProgress } from '../src/engine/progress.ts';
import { openBenchServer, resetTarget } from './bench-database.ts';
import { originalScriptPattern } from './baselines.ts';
import { runBinary } from './child-run.ts';
import { renderTable, type BenchRow } from './report.ts';

export interface DelayProxy {
  port: number;
  /** Request flights so far, all connections: each send after an answer costs one round trip. */
  roundTrips(): number;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 that adds `rttMs` to every request/response round trip (half each way). */
export async function startDelayProxy(targetHost: string, targetPort: number, rttMs: number): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  let roundTrips = 0;
  const server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      // Nagle's algorithm would hold small writes back for an ACK: latency the bench did not ask for.
      socket.setNoDelay(true);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    let answered = true;
    delayedPipe(client, upstream, rttMs / 2, () => {
      if (answered) roundTrips++;
      answered = false;
    });
    delayedPipe(upstream, client, rttMs / 2, () => (answered = true));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    roundTrips: () => roundTrips,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Writes each chunk of `from` to `to` `delayMs` after it arrived. One queue and one timer per direction:
 * a timer per chunk could fire out of order and corrupt the protocol stream. Ends `to` once drained.
 */
function delayedPipe(from: Socket, to: Socket, delayMs: number, onChunk: () => void): void {
  const queue: { due: number; chunk: Buffer }[] = [];
  let ended = false;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    if (to.destroyed) return;
    // Timers take whole milliseconds and fire a millisecond or so late: waiting for the floor and sending
    // what is due within the next millisecond keeps the round trip close to rttMs (logged as measured).
    const soon = performance.now() + 1;
    while (queue.length > 0 && queue[0]!.due < soon) to.write(queue.shift()!.chunk);
    if (queue.length > 0) timer = setTimeout(flush, Math.floor(queue[0]!.due - soon + 1));
    else if (ended) to.end();
  };
  from.on('data', (chunk: Buffer) => {
    onChunk();
    queue.push({ due: performance.now() + delayMs, chunk });
    timer ??= setTimeout(flush, Math.floor(delayMs));
  });
  from.on('end', () => {
    ended = true;
    if (timer === undefined) flush();
  });
}

export interface LatencyDatabase {
  url: string;
  /** A direct pool (never through the proxy): resets and counts are not part of any measure. */
  pool: pg.Pool;
  memories: number;
  rooms: number;
}

type ToolRun = { seconds: number; summary: Record<string, any> };

export interface LatencyRun<D extends LatencyDatabase> {
  /** Runs the CLI with `--database-url db.url`; the proxied side passes a copy of `db` with the proxy's URL. */
  tool: (command: string, db: D, ...flags: string[]) => Promise<ToolRun>;
  log: (line: string) => void;
  resetTarget: (pool: pg.Pool) => Promise<void>;
}

export interface LatencyOptions {
  rttMs: number;
  /** The original script's pattern walks only the first this many rooms: whole, it takes minutes at 25 ms. */
  originalRooms: number;
  /** Runs of each measure per side; each figure is the best of them. */
  repetitions: number;
}

export const DEFAULT_LATENCY_OPTIONS: LatencyOptions = { rttMs: 25, originalRooms: 500, repetitions: 1 };

interface SideTimes {
  backfill: number;
  batches: number;
  /** Backfill's round trips, counted by the proxy (null on the direct side). */
  roundTrips: number | null;
  reconcile: number;
  reconcileFull: number;
  original: { seconds: number; rooms: number; migrated: number };
}

export async function latencyRows<D extends LatencyDatabase>(
  db: D,
  run: LatencyRun<D>,
  options: Partial<LatencyOptions> = {},
): Promise<BenchRow[]> {
  const { rttMs, originalRooms, repetitions } = { ...DEFAULT_LATENCY_OPTIONS, ...options };
  const target = new URL(db.url);
  const proxy = await startDelayProxy(target.hostname, Number(target.port || 5432), rttMs);
  try {
    const far: D = { ...db, url: throughProxy(db.url, proxy.port) };
    run.log(`Latency: ${rttMs} ms proxy on port ${proxy.port}; measured round trip ${(await medianRoundTripMs(far.url)).toFixed(1)} ms (select 1)`);
    const nears: SideTimes[] = [];
    const fars: SideTimes[] = [];
    for (let round = 1; round <= repetitions; round++) {
      run.log(`Latency round ${round}/${repetitions}: backfill, reconcile, reconcile --full, original pattern (${originalRooms} rooms) at 0 ms, then at ${rttMs} ms`);
      nears.push(await measureSide(db, db, run, originalRooms));
      fars.push(await measureSide(far, db, run, originalRooms, proxy.roundTrips));
    }
    const near = bestOf(nears);
    const farBest = bestOf(fars);
    logDiagnosis(near, farBest, rttMs, db, run.log);
    return rowsOf(near, farBest, rttMs, db);
  } finally {
    await proxy.close();
  }
}

function throughProxy(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(port);
  return parsed.toString();
}

async function medianRoundTripMs(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const samples: number[] = [];
    for (let i = 0; i < 21; i++) {
      const started = performance.now();
      await client.query('select 1');
      samples.push(performance.now() - started);
    }
    return samples.sort((a, b) => a - b)[10]!;
  } finally {
    await client.end();
  }
}

/** One run of each measure on `side`'s URL; `direct` resets the target and counts between them. */
async function measureSide<D extends LatencyDatabase>(
  side: D,
  direct: LatencyDatabase,
  run: LatencyRun<D>,
  originalRooms: number,
  roundTrips?: () => number,
): Promise<SideTimes> {
  await run.resetTarget(direct.pool);
  const flightsBefore = roundTrips?.() ?? 0;
  const backfill = await run.tool('backfill', side);
  const flights = roundTrips ? roundTrips() - flightsBefore : null;
  const batches = await countRows(direct.pool, 'recoup_migrate.batches');
  const reconcile = await run.tool('reconcile', side);
  const reconcileFull = await run.tool('reconcile', side, '--full');
  await run.resetTarget(direct.pool);
  const started = performance.now();
  const { rooms } = await originalScriptPattern(side.url, originalRooms);
  const seconds = (performance.now() - started) / 1000;
  const migrated = await countRows(direct.pool, 'public.chat_messages');
  await run.resetTarget(direct.pool);
  return { backfill: backfill.seconds, batches, roundTrips: flights, reconcile: reconcile.seconds, reconcileFull: reconcileFull.seconds, original: { seconds, rooms, migrated } };
}

async function countRows(pool: pg.Pool, table: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`select count(*) as n from ${table}`);
  return Number(rows[0]?.n ?? 0);
}

function bestOf(runs: SideTimes[]): SideTimes {
  const fastest = (key: 'reconcile' | 'reconcileFull') => Math.min(...runs.map((r) => r[key]));
  const backfill = runs.reduce((best, r) => (r.backfill < best.backfill ? r : best));
  const original = runs.reduce((best, r) => (r.original.seconds < best.original.seconds ? r : best)).original;
  return { ...backfill, reconcile: fastest('reconcile'), reconcileFull: fastest('reconcileFull'), original };
}

/** Where backfill's time at latency goes: its round trips, and how many of them the added time is worth. */
function logDiagnosis(near: SideTimes, far: SideTimes, rttMs: number, db: LatencyDatabase, log: (line: string) => void): void {
  const critical = ((far.backfill - near.backfill) * 1000) / rttMs;
  log(
    `Backfill at ${rttMs} ms: ${far.backfill.toFixed(2)} s vs ${near.backfill.toFixed(2)} s direct; ${far.roundTrips} round trips ` +
      `over ${far.batches} batches (${((far.roundTrips ?? 0) / far.batches).toFixed(0)} per batch, start-up and finish included), ` +
      `the added time worth ${critical.toFixed(0)} in sequence`,
  );
  const originalRate = (side: SideTimes) => side.original.migrated / side.original.seconds;
  log(
    `Original pattern on its first ${far.original.rooms} rooms (${far.original.migrated} messages migrated): ${originalRate(near).toFixed(0)}/s direct, ` +
      `${originalRate(far).toFixed(0)}/s at ${rttMs} ms; backfill ${(db.memories / near.backfill).toFixed(0)}/s direct, ${(db.memories / far.backfill).toFixed(0)}/s at ${rttMs} ms`,
  );
}

function rowsOf(near: SideTimes, far: SideTimes, rttMs: number, db: LatencyDatabase): BenchRow[] {
  const rate = (seconds: number) => db.memories / seconds;
  const at = `at ${rttMs} ms round trip`;
  return [
    ratioRow(`backfill ${at} vs at 0 ms (messages/s)`, rate(far.backfill), rate(near.backfill), '≥ 0.5×', 0.5),
    {
      ...ratioRow(`backfill vs the original script's pattern, both ${at} (messages/s)`, rate(far.backfill), far.original.migrated / far.original.seconds, '≥ 30×', 30),
      note: `the pattern timed on its first ${far.original.rooms.toLocaleString('en-US')} rooms: ${far.original.migrated.toLocaleString('en-US')} messages migrated`,
    },
    { name: `reconcile ${at} vs at 0 ms (time)`, tool: far.reconcile, baseline: near.reconcile, unit: 's', ratio: far.reconcile / near.reconcile, goal: '' },
    ratioRow(`reconcile --full at ${rttMs} ms vs at 0 ms (messages/s)`, rate(far.reconcileFull), rate(near.reconcileFull), '', null),
  ];
}

function ratioRow(name: string, toolRate: number, baselineRate: number, goal: string, atLeast: number | null): BenchRow {
  const ratio = toolRate / baselineRate;
  return { name, tool: toolRate, baseline: baselineRate, unit: '/s', ratio, goal, ...(atLeast !== null ? { met: ratio >= atLeast } : {}) };
}

/** Backfill with each set of flags at 0 ms and through the proxy (best of `repetitions`): which settings hide latency. */
export async function backfillFlagSweep<D extends LatencyDatabase>(
  db: D,
  run: LatencyRun<D>,
  options: { rttMs: number; repetitions: number; flagSets: readonly (readonly string[])[] },
): Promise<void> {
  const target = new URL(db.url);
  const proxy = await startDelayProxy(target.hostname, Number(target.port || 5432), options.rttMs);
  const best = async (side: D, flags: readonly string[]) => {
    let seconds = Infinity;
    for (let i = 0; i < options.repetitions; i++) {
      await run.resetTarget(db.pool);
      seconds = Math.min(seconds, (await run.tool('backfill', side, ...flags)).seconds);
    }
    return seconds;
  };
  try {
    const far: D = { ...db, url: throughProxy(db.url, proxy.port) };
    for (const flags of options.flagSets) {
      const direct = await best(db, flags);
      const proxied = await best(far, flags);
      run.log(
        `backfill ${flags.join(' ') || '(defaults)'}: ${(db.memories / direct).toFixed(0)}/s at 0 ms, ` +
          `${(db.memories / proxied).toFixed(0)}/s at ${options.rttMs} ms (${(direct / proxied).toFixed(2)}×)`,
      );
    }
    await run.resetTarget(db.pool);
  } finally {
    await proxy.close();
  }
}

const BENCH_SEED = 42;
const SWEEP: readonly (readonly string[])[] = [
  [],
  ['--concurrency', '4'],
  ['--batch-size', '1000'],
  ['--batch-size', '1000', '--concurrency', '4'],
  ['--batch-size', '250', '--concurrency', '8'],
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rooms: { type: 'string' }, 'messages-per-room': { type: 'string' }, rtt: { type: 'string' },
      'original-rooms': { type: 'string' }, repetitions: { type: 'string' }, sweep: { type: 'boolean' },
    },
  });
  const number = (value: string | undefined, fallback: number) => (value === undefined ? fallback : Number(value));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const started = performance.now();
  const server = await openBenchServer();
  const reports = await mkdtemp(join(tmpdir(), 'recoup-latency-'));
  const database = await server.createDatabase();
  const pool = new pg.Pool({ connectionString: database.url, max: 4 });
  try {
    const rooms = number(values.rooms, 2_000);
    const messagesPerRoom = number(values['messages-per-room'], 10);
    log(`Seeding ${rooms} rooms × ~${messagesPerRoom} memories…`);
    const seeded = await seedDatabase(
      pool,
      { rooms, seed: BENCH_SEED, messagesPerRoom, dropArtistFk: false, concurrency: 2 },
      { logger: createLogger('warn'), progress: createProgress('seed', false, 'rooms') },
    );
    const db: LatencyDatabase = { url: database.url, pool, rooms, memories: seeded.memories };
    const run: LatencyRun<LatencyDatabase> = { tool: cliTool(reports), log, resetTarget };
    const rttMs = number(values.rtt, DEFAULT_LATENCY_OPTIONS.rttMs);
    const repetitions = number(values.repetitions, DEFAULT_LATENCY_OPTIONS.repetitions);
    const rows = await latencyRows(db, run, {
      rttMs,
      originalRooms: number(values['original-rooms'], DEFAULT_LATENCY_OPTIONS.originalRooms),
      repetitions,
    });
    // renderTable also prints an (empty) peak-RSS table after a blank line.
    process.stdout.write(`${renderTable(rows, []).split('\n\n')[0]}\n`);
    log(`${rooms} rooms, ${seeded.memories} memories; wall time ${((performance.now() - started) / 1000).toFixed(0)} s`);
    if (values.sweep) await backfillFlagSweep(db, run, { rttMs, repetitions: Math.max(2, repetitions), flagSets: SWEEP });
  } finally {
    await pool.end();
    await database.drop().catch(() => {});
    await server.stop().catch(() => {});
    await rm(reports, { recursive: true, force: true });
  }
}

/** As bench/run.ts's: a failed run stops the bench instead of reading as fast. */
function cliTool(reports: string): LatencyRun<LatencyDatabase>['tool'] {
  return async (command, db, ...flags) => {
    const run = await runBinary([command, '--json', '--no-progress', '--log-level', 'warn', ...flags, '--database-url', db.url,
      '--report-dir', join(reports, `${command}-${Date.now()}-${Math.random()}`)]);
    if (run.code === 3 || run.code === 2) throw new Error(`${command} failed (exit ${run.code}): ${String(run.summary.error)}`);
    return run;
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
