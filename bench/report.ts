/** The benchmark's table: printed, and written to docs/benchmarks.md with the machine and date. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';

export interface BenchRow {
  name: string;
  /** The tool's figure and the side it is compared with, in `unit`. */
  tool: number | null;
  baseline: number | null;
  unit: string;
  /** tool ÷ baseline for rates; for times, as the row's name says. */
  ratio: number | null;
  /** The goal, in words (reported, never asserted). */
  goal: string;
  met?: boolean;
  note?: string;
}

export interface RssRow {
  command: string;
  rooms: number;
  memories: number;
  peakRssMb: number | null;
  seconds: number;
}

export interface Machine {
  cores: number;
  cpu: string;
  memoryGb: number;
  node: string;
  postgres: string;
  date: string;
}

export function describeMachine(postgres: string): Machine {
  let cores = availableParallelism();
  try {
    cores = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || cores;
  } catch {
    // nproc is absent on some systems; availableParallelism is close enough.
  }
  return {
    cores,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres,
    date: new Date().toISOString(),
  };
}

const figure = (value: number | null, unit: string) =>
  value === null ? '—' : `${value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2)}${unit === '/s' ? '/s' : ` ${unit}`}`.trim();

export function renderTable(rows: readonly BenchRow[], rss: readonly RssRow[]): string {
  const lines = ['| measure | tool | compared with | ratio | goal | met |', '|---|---|---|---|---|---|'];
  for (const row of rows) {
    const ratio = row.ratio === null ? (row.note ?? '—') : `${row.ratio.toFixed(2)}×${row.note ? ` (${row.note})` : ''}`;
    const met = row.met === undefined ? '' : row.met ? 'yes' : '**no**';
    lines.push(`| ${row.name} | ${figure(row.tool, row.unit)} | ${figure(row.baseline, row.unit)} | ${ratio} | ${row.goal} | ${met} |`);
  }
  lines.push('', '| command | rooms | memories | peak RSS | run time |', '|---|---|---|---|---|');
  for (const r of rss) {
    lines.push(`| ${r.command} | ${r.rooms.toLocaleString('en-US')} | ${r.memories.toLocaleString('en-US')} | ${r.peakRssMb === null ? '—' : `${r.peakRssMb.toFixed(0)} MB`} | ${r.seconds.toFixed(1)} s |`);
  }
  return `${lines.join('\n')}\n`;
}

export function writeBenchmarksDoc(path: URL, table: string, machine: Machine, settings: string): void {
  const doc = `# Benchmarks

Produced by \`npm run bench\` (bench/run.ts); re-run it to refresh this file. Every rate is the best of
the repetitions of each side, measured in the same run on the same seeded database; rows marked "at
N rooms" are single runs on the large database, where fixed costs (start-up checks, the lease, the run
record) weigh less than on the small one's two batches of 1,000 rooms. Rates count the
source memories of the seeded database per second of the command's own run time (the summary's
startedAt → finishedAt, without Node's start-up). Peak RSS is the child process's maximum resident set
size (GNU time, else /proc VmHWM).

- Date: ${machine.date}
- Machine: ${machine.cores} cores (nproc), ${machine.cpu}, ${machine.memoryGb} GB RAM
- Node ${machine.node}, PostgreSQL ${machine.postgres}
- Settings: ${settings}

${table}
Goals are reported, not asserted. Backfill ≥ 0.7× the lean COPY → convert + validate → COPY pipeline
(bench/lean-pipeline.ts: the same converter and validation, output identical to backfill's, none of its
guarantees); the in-database INSERT … SELECT is shown for scale only (it converts nothing; the 0.5× goal
against it was withdrawn: on 2 cores even the lean pipeline cannot reach it). Backfill ≥ 5× the original
script's pattern; a re-run ≤ 0.1× the first run's time; reconcile in its CI mode (rooms confirmed by
digest) on an unchanged, migrated database ≤ 0.1× the first backfill's time, and reconcile --full ≥ 1×
backfill's message rate; peak RSS < 256 MB at every size; converter ≥ 5× the backfill rate; fix-parts ≥ 1×
backfill's message rate; stamp-artist-id ≤ 2× the hand-written UPDATE (measured on the large database);
snapshot + verify ≤ 2× pg_dump -Fc; the throttle's check costs nothing on an idle database (≤ 1.05× the
time without it); adaptive batch sizes settle near --target-batch-ms. Over a network (a delaying TCP proxy
in bench/latency.ts, 25 ms round trip): backfill ≥ 0.5× its own rate at 0 ms, and ≥ 30× the original
script's pattern at the same latency. "Two workers vs one" shows what a second process on the same 2 cores
adds: both cores are already busy with Node and Postgres, so the gain is for spreading a run over machines.
`;
  writeFileSync(path, doc);
}
