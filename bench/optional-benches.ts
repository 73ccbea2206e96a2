/**
 * Benchmarks written by other modules' engineers, loaded only when their files exist: a missing file
 * gives a "not built yet" row instead of a failure.
 */
import { existsSync } from 'node:fs';
import type { BenchRow } from './report.ts';

const here = (file: string) => new URL(file, import.meta.url);

async function load(file: string): Promise<Record<string, unknown> | null> {
  if (!existsSync(here(file))) return null;
  try {
    return (await import(here(file).href)) as Record<string, unknown>;
  } catch (error) {
    return { loadError: (error as Error).message };
  }
}

// Postgres admin_shutdown: what a client still connected to a database gets when it is dropped WITH (FORCE).
const TERMINATED_BY_ADMINISTRATOR = '57P01';

/**
 * Runs another module's bench, tolerating one known failure: a pool client of its scratch database that
 * is still open when it drops that database emits 'error' with no listener, which would crash the whole
 * benchmark. Anything else still crashes it.
 */
async function tolerant<T>(work: () => Promise<T>): Promise<T> {
  const swallow = (error: Error & { code?: string }) => {
    if (error.code !== TERMINATED_BY_ADMINISTRATOR) throw error;
  };
  process.on('uncaughtException', swallow);
  try {
    return await work();
  } finally {
    process.off('uncaughtException', swallow);
  }
}

const notBuilt = (name: string, file: string): BenchRow => ({ name, tool: null, baseline: null, unit: '', ratio: null, goal: '', note: `not built yet (bench/${file})` });

/** stamp-artist-id vs its baseline, on the seeded and backfilled database: `benchStampArtistId(url) → {toolMs, baselineMs}`. */
export async function stampArtistIdRow(databaseUrl: string): Promise<BenchRow> {
  const module = await load('stamp-artist-id.ts');
  const run = module?.benchStampArtistId as ((url: string) => Promise<{ toolMs: number; baselineMs: number }>) | undefined;
  if (!run) return notBuilt('stamp-artist-id time vs its baseline', 'stamp-artist-id.ts');
  const { toolMs, baselineMs } = await tolerant(() => run(databaseUrl));
  const ratio = toolMs / baselineMs;
  return { name: 'stamp-artist-id time vs the hand-written UPDATE (time ÷ time)', tool: toolMs, baseline: baselineMs, unit: 'ms', ratio, goal: '≤ 2×', met: ratio <= 2 };
}

/** The drop-legacy snapshot + verify vs `pg_dump -Fc` of the same tables: `benchSnapshot(databaseUrl)`. */
export async function snapshotRow(databaseUrl: string): Promise<BenchRow> {
  const module = await load('snapshot.ts');
  const run = module?.benchSnapshot as ((url: string) => Promise<{ toolMs: number; pgDumpMs: number | null; rowsPerSecond: number }>) | undefined;
  if (!run) return notBuilt('drop-legacy snapshot time vs pg_dump', 'snapshot.ts');
  const { toolMs, pgDumpMs, rowsPerSecond } = await tolerant(() => run(databaseUrl));
  return {
    name: 'drop-legacy snapshot + verify vs pg_dump -Fc (time ÷ time)',
    tool: toolMs,
    baseline: pgDumpMs,
    unit: 'ms',
    ratio: pgDumpMs ? toolMs / pgDumpMs : null,
    goal: '≤ 2×',
    ...(pgDumpMs ? { met: toolMs / pgDumpMs <= 2 } : {}),
    note: `${Math.round(rowsPerSecond).toLocaleString('en-US')} rows/s${pgDumpMs ? '' : '; no pg_dump of the server version'}`,
  };
}
