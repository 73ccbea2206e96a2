/**
 * `npm run bench`: backfill against the in-database ceiling and the original script's pattern, a re-run,
 * reconcile, the optional module benches, the converter alone, and peak RSS at two sizes — in one run,
 * on the same seeded databases. Prints a table and writes docs/benchmarks.md. Not part of `npm test`
 * (a tiny smoke run of `runBench` is).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { seedDatabase } from '../src/commands/seed/database.ts';
import { createLogger } from '../src/engine/logger.ts';
import { createProgress } from '../src/engine/progress.ts';
import { openBenchServer, resetTarget, serverVersion, type BenchServer } from './bench-database.ts';
import { inDatabaseBaseline, originalScriptPattern } from './baselines.ts';
import { leanPipelineBaseline } from './lean-pipeline.ts';
import { latencyRows } from './latency.ts';
import { runBinary } from './child-run.ts';
import { benchConverter } from './converter.ts';
import { snapshotRow, stampArtistIdRow } from './optional-benches.ts';
import { describeMachine, renderTable, writeBenchmarksDoc, type BenchRow, type Machine, type RssRow } from './report.ts';

export interface BenchOptions {
  /** Rooms of the database every ratio is measured on, and of the larger one for peak RSS. */
  small: number;
  large: number;
  messagesPerRoom: number;
  /** Runs of each side; each figure is the best of them. */
  repetitions: number;
  converterMessages: number;
  /** Run the other modules' benches (bench/stamp-artist-id.ts, bench/snapshot.ts). */
  optionalBenches: boolean;
  writeDoc: boolean;
  log: (line: string) => void;
}

export interface BenchResult {
  rows: BenchRow[];
  rss: RssRow[];
  machine: Machine;
  table: string;
}

export const DEFAULT_BENCH_OPTIONS: BenchOptions = {
  small: 2_000,
  large: 20_000,
  // Production averages 2 memories per room; 10 gives the batches real work (as the anchors' 20k × 10).
  messagesPerRoom: 10,
  repetitions: 3,
  converterMessages: 20_000,
  optionalBenches: true,
  writeDoc: true,
  log: (line) => process.stderr.write(`${line}\n`),
};

const BENCH_SEED = 42;
const DOC = new URL('../docs/benchmarks.md', import.meta.url);
const cliExists = (command: string) => existsSync(new URL(`../src/commands/${command}/cli.ts`, import.meta.url));

interface SeededDatabase {
  url: string;
  pool: pg.Pool;
  rooms: number;
  memories: number;
  drop: () => Promise<void>;
}

async function seeded(server: BenchServer, rooms: number, messagesPerRoom: number): Promise<SeededDatabase> {
  const database = await server.createDatabase();
  const pool = new pg.Pool({ connectionString: database.url, max: 4 });
  const result = await seedDatabase(
    pool,
    { rooms, seed: BENCH_SEED, messagesPerRoom, dropArtistFk: false, concurrency: 2 },
    { logger: createLogger('warn'), progress: createProgress('seed', false, 'rooms') },
  );
  return { url: database.url, pool, rooms, memories: result.memories, drop: async () => { await pool.end(); await database.drop(); } };
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const { log } = options;
  const server = await openBenchServer();
  const reports = await mkdtemp(join(tmpdir(), 'recoup-bench-'));
  const databases: SeededDatabase[] = [];
  // Every run of the tool goes through here, so a failed one stops the bench instead of reading as fast.
  const tool = async (command: string, db: SeededDatabase, ...flags: string[]) => {
    const run = await runBinary([command, '--json', '--no-progress', '--log-level', 'warn', ...flags, '--database-url', db.url,
      '--report-dir', join(reports, `${command}-${Date.now()}-${Math.random()}`)]);
    if (run.code === 3 || run.code === 2) throw new Error(`${command} failed (exit ${run.code}): ${String(run.summary.error)}`);
    return run;
  };
  try {
    log(`Seeding ${options.small} rooms × ~${options.messagesPerRoom} memories…`);
    const small = await seeded(server, options.small, options.messagesPerRoom);
    databases.push(small);
    const times = {
      backfill: [] as number[], rerun: [] as number[], reconcile: [] as number[], reconcileFull: [] as number[], ceiling: [] as number[], original: [] as number[],
      fixParts: [] as number[], noThrottle: [] as number[], lean: [] as number[],
    };
    let scriptRows = 0;
    for (let round = 1; round <= options.repetitions; round++) {
      log(`Round ${round}/${options.repetitions}: backfill, re-run, reconcile, in-database baseline, original pattern`);
      await resetTarget(small.pool);
      times.backfill.push((await tool('backfill', small)).seconds);
      times.rerun.push((await tool('backfill', small)).seconds);
      times.reconcile.push((await tool('reconcile', small)).seconds);
      times.reconcileFull.push((await tool('reconcile', small, '--full')).seconds);
      await resetTarget(small.pool);
      times.ceiling.push(await timed(() => inDatabaseBaseline(small.pool)));
      // The ceiling's statements leave the target exactly as the original script did (parts copied as
      // they were): fix-parts repairs that, on the same data backfill migrated.
      if (cliExists('fix-parts')) {
        scriptRows = Number((await small.pool.query<{ n: string }>('select count(*) as n from public.chat_messages')).rows[0]?.n ?? 0);
        times.fixParts.push((await tool('fix-parts', small)).seconds);
      }
      await resetTarget(small.pool);
      times.original.push(await timed(() => originalScriptPattern(small.url)));
      await resetTarget(small.pool);
      times.noThrottle.push((await tool('backfill', small, '--no-throttle')).seconds);
      await resetTarget(small.pool);
      times.lean.push(await timed(() => leanPipelineBaseline(small.url)));
    }
    const rate = (seconds: number[]) => small.memories / Math.min(...seconds);
    const backfillRate = rate(times.backfill);
    const rows: BenchRow[] = [
      ratioRow('backfill vs in-database INSERT … SELECT, a lesser job: no conversion (messages/s)', backfillRate, rate(times.ceiling), '', null),
      ratioRow('backfill vs the lean COPY → convert + validate → COPY pipeline, same output, no guarantees (messages/s)', backfillRate, rate(times.lean), '≥ 0.7×', 0.7),
      ratioRow("backfill vs the original script's pattern (messages/s)", backfillRate, rate(times.original), '≥ 5×', 5),
      timeRow('re-run on the unchanged, migrated database vs first run (time)', Math.min(...times.rerun), Math.min(...times.backfill), '≤ 0.1×', 0.1),
      { name: 'backfill with the throttle check vs --no-throttle, idle database (time)', tool: Math.min(...times.backfill), baseline: Math.min(...times.noThrottle), unit: 's',
        ratio: Math.min(...times.backfill) / Math.min(...times.noThrottle), goal: '≤ 1.05× (free when idle)', met: Math.min(...times.backfill) / Math.min(...times.noThrottle) <= 1.05 },
      times.fixParts.length > 0
        ? { ...ratioRow('fix-parts rows/s on the original script\'s target vs backfill messages/s', scriptRows / Math.min(...times.fixParts), backfillRate, '≥ 1×', 1) }
        : { name: 'fix-parts vs backfill', tool: null, baseline: null, unit: '', ratio: null, goal: '', note: 'not built yet' },
      timeRow('reconcile (CI mode: unchanged rooms confirmed by digest) on the unchanged, migrated database vs first backfill (time)',
        Math.min(...times.reconcile), Math.min(...times.backfill), '≤ 0.1×', 0.1),
      ratioRow('reconcile --full vs backfill (messages/s)', rate(times.reconcileFull), backfillRate, '≥ 1×', 1),
    ];
    log(`Converter alone: ${options.converterMessages} messages…`);
    const converter = await benchConverter({ messages: options.converterMessages });
    rows.push(ratioRow('converter alone vs backfill (messages/s)', converter.messagesPerSecond, backfillRate, '≥ 5×', 5));
    rows.push(ratioRow('converter + AI SDK validation vs backfill (messages/s)', converter.withValidationPerSecond, backfillRate, '', null));
    if (options.optionalBenches) {
      log('Optional benches: stamp-artist-id, fix-parts, snapshot…');
      await resetTarget(small.pool);
      await tool('backfill', small);
      rows.push(await snapshotRow(small.url));
    }
    log('Over a network: backfill, reconcile and the original pattern at 0 and 25 ms round trip…');
    rows.push(...(await latencyRows(small, { tool, log, resetTarget })));
    const rss: RssRow[] = [];
    let large = small;
    for (const rooms of [options.small, options.large]) {
      const db = rooms === small.rooms ? small : await seeded(server, rooms, options.messagesPerRoom);
      if (db !== small) databases.push(db);
      large = db;
      log(`Peak RSS at ${rooms} rooms (${db.memories} memories)…`);
      await resetTarget(db.pool);
      for (const [command, ...flags] of [['backfill'], ['reconcile'], ['reconcile', '--full'], ['stamp-artist-id'], ['fix-parts']] as const) {
        const run = await tool(command, db, ...flags);
        rss.push({ command: [command, ...flags].join(' '), rooms, memories: db.memories, peakRssMb: run.peakRssMb, seconds: run.seconds });
      }
    }
    if (options.optionalBenches) {
      // On the large database (migrated above): on the small one the tool's fixed costs (catalog checks,
      // lease, run record) would dwarf a 20 ms UPDATE.
      log(`stamp-artist-id vs its hand-written UPDATE at ${large.rooms} rooms…`);
      rows.push(await stampArtistIdRow(large.url));
    }
    rows.push(...(await largeDatabaseRows(large, rss, { tool, log })));
    const peak = Math.max(...rss.map((r) => r.peakRssMb ?? 0));
    rows.push({ name: 'peak RSS of any command, any size', tool: peak, baseline: null, unit: 'MB', ratio: null, goal: '< 256 MB', met: peak < 256 });
    const machine = describeMachine(await serverVersion(small.pool));
    const table = renderTable(rows, rss);
    if (options.writeDoc) {
      const settings = `--small ${options.small} --large ${options.large} --messages-per-room ${options.messagesPerRoom} --repetitions ${options.repetitions} (small: ${small.memories} memories); seed ${BENCH_SEED}`;
      writeBenchmarksDoc(DOC, table, machine, settings);
    }
    return { rows, rss, machine, table };
  } finally {
    for (const db of databases) await db.drop().catch(() => {});
    await server.stop().catch(() => {});
    await rm(reports, { recursive: true, force: true });
  }
}

// Adaptive batches start this small and should settle near this duration.
const ADAPTIVE_FIRST_ROOMS = 50;
const ADAPTIVE_TARGET_MS = 1_000;
const ADAPTIVE_SETTLED_BATCHES = 5;

/**
 * On the large database, one run each: the ceiling and fix-parts at scale (the small database's four
 * batches are dominated by fixed costs), one worker process against two, and whether adaptive batch
 * sizes settle on their target.
 */
async function largeDatabaseRows(
  large: SeededDatabase,
  rss: RssRow[],
  run: {
    tool: (command: string, db: SeededDatabase, ...flags: string[]) => Promise<{ seconds: number; summary: Record<string, any> }>;
    log: (line: string) => void;
  },
): Promise<BenchRow[]> {
  const at = `at ${large.rooms.toLocaleString('en-US')} rooms`;
  run.log(`${at}: in-database baseline, fix-parts, one vs two workers, adaptive batch sizes…`);
  const backfillSeconds = rss.find((r) => r.command === 'backfill' && r.rooms === large.rooms)?.seconds;
  const rate = (seconds: number) => large.memories / seconds;
  const rows: BenchRow[] = [];
  await resetTarget(large.pool);
  const ceiling = await timed(() => inDatabaseBaseline(large.pool));
  if (backfillSeconds !== undefined) rows.push(ratioRow(`backfill vs in-database INSERT … SELECT, ${at} (messages/s, one run each)`, rate(backfillSeconds), rate(ceiling), '', null));

  if (cliExists('fix-parts') && backfillSeconds !== undefined) {
    const scriptRows = Number((await large.pool.query<{ n: string }>('select count(*) as n from public.chat_messages')).rows[0]?.n ?? 0);
    const fixParts = await run.tool('fix-parts', large);
    rows.push(ratioRow(`fix-parts rows/s on the original script's target vs backfill messages/s, ${at}`, scriptRows / fixParts.seconds, rate(backfillSeconds), '≥ 1×', 1));
  }
  await resetTarget(large.pool);
  const lean = await timed(() => leanPipelineBaseline(large.url));
  if (backfillSeconds !== undefined) rows.push(ratioRow(`backfill vs the lean COPY pipeline, ${at} (messages/s, one run each)`, rate(backfillSeconds), rate(lean), '≥ 0.7×', 0.7));
  // Two processes on one run (each one batch at a time) against one process doing the same alone.
  await resetTarget(large.pool);
  const one = await timed(() => run.tool('backfill', large, '--concurrency', '1'));
  await resetTarget(large.pool);
  const two = await timed(() => Promise.all([run.tool('backfill', large, '--concurrency', '1'), run.tool('backfill', large, '--concurrency', '1')]));
  rows.push(ratioRow(`two worker processes vs one, --concurrency 1 each, ${at} (messages/s)`, rate(two), rate(one), '', null));

  await resetTarget(large.pool);
  const adaptive = await run.tool('backfill', large, '--concurrency', '1', '--batch-size', String(ADAPTIVE_FIRST_ROOMS), '--target-batch-ms', String(ADAPTIVE_TARGET_MS));
  const { rows: batches } = await large.pool.query<{ rooms: number; duration_ms: number }>(
    `select rooms, duration_ms from recoup_migrate.batches where run_id = $1 and status = 'done' order by batch_no`,
    [adaptive.summary.runId],
  );
  if (backfillSeconds !== undefined) {
    const rerun = await run.tool('backfill', large);
    rows.push({ name: `re-run on the unchanged, migrated database vs first run, ${at} (time)`, tool: rerun.seconds, baseline: backfillSeconds, unit: 's',
      ratio: rerun.seconds / backfillSeconds, goal: '≤ 0.1×', met: rerun.seconds / backfillSeconds <= 0.1 });
  }
  // The last batch holds whatever rooms were left: not a full one.
  const settled = batches.slice(0, -1).slice(-ADAPTIVE_SETTLED_BATCHES).map((b) => b.duration_ms).sort((a, b) => a - b);
  const median = settled[Math.floor(settled.length / 2)];
  if (median !== undefined) {
    const ratio = median / ADAPTIVE_TARGET_MS;
    rows.push({
      name: `adaptive batches from ${ADAPTIVE_FIRST_ROOMS} rooms: median duration of the last ${settled.length} full batches vs --target-batch-ms, ${at}`,
      tool: median, baseline: ADAPTIVE_TARGET_MS, unit: 'ms', ratio, goal: '0.75–1.25× (converges)', met: ratio >= 0.75 && ratio <= 1.25,
      note: `${batches.length} batches; sizes ${batches.slice(0, 4).map((b) => b.rooms).join(', ')} … ${batches.slice(-4, -1).map((b) => b.rooms).join(', ')} rooms`,
    });
  }
  return rows;
}

function timeRow(name: string, toolSeconds: number, baselineSeconds: number, goal: string, atMost: number): BenchRow {
  const ratio = toolSeconds / baselineSeconds;
  return { name, tool: toolSeconds, baseline: baselineSeconds, unit: 's', ratio, goal, met: ratio <= atMost };
}

function ratioRow(name: string, toolRate: number, baselineRate: number, goal: string, atLeast: number | null): BenchRow {
  const ratio = toolRate / baselineRate;
  return { name, tool: toolRate, baseline: baselineRate, unit: '/s', ratio, goal, ...(atLeast !== null ? { met: ratio >= atLeast } : {}) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: {
      small: { type: 'string' }, large: { type: 'string' }, 'messages-per-room': { type: 'string' },
      repetitions: { type: 'string' }, 'converter-messages': { type: 'string' }, 'no-write': { type: 'boolean' },
    },
  });
  const number = (value: string | undefined, fallback: number) => (value === undefined ? fallback : Number(value));
  const result = await runBench({
    ...DEFAULT_BENCH_OPTIONS,
    small: number(values.small, DEFAULT_BENCH_OPTIONS.small),
    large: number(values.large, DEFAULT_BENCH_OPTIONS.large),
    messagesPerRoom: number(values['messages-per-room'], DEFAULT_BENCH_OPTIONS.messagesPerRoom),
    repetitions: number(values.repetitions, DEFAULT_BENCH_OPTIONS.repetitions),
    converterMessages: number(values['converter-messages'], DEFAULT_BENCH_OPTIONS.converterMessages),
    writeDoc: values['no-write'] !== true,
  });
  process.stdout.write(result.table);
  if (values['no-write'] !== true) process.stdout.write(`\nWritten to docs/benchmarks.md\n`);
}
