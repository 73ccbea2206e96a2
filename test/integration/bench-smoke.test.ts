import { existsSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runBench, DEFAULT_BENCH_OPTIONS } from '../../bench/run.ts';

const DOC = new URL('../../docs/benchmarks.md', import.meta.url);

// A tiny run of `npm run bench` (not a measurement: no timing is asserted), proving every side runs.
describe('bench smoke run', () => {
  it('measures every side on a tiny database and writes no docs/benchmarks.md', async () => {
    const docBefore = existsSync(DOC) ? statSync(DOC).mtimeMs : null;
    const lines: string[] = [];
    const result = await runBench({
      ...DEFAULT_BENCH_OPTIONS,
      small: 40,
      large: 80,
      messagesPerRoom: 3,
      repetitions: 1,
      converterMessages: 200,
      // The other modules' benches size themselves (thousands of rows): too slow for a smoke run.
      optionalBenches: false,
      writeDoc: false,
      log: (line) => lines.push(line),
    });
    const rated = result.rows.filter((row) => row.tool !== null && row.unit === '/s');
    expect(rated.map((row) => row.name)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/in-database/), expect.stringMatching(/original script/), expect.stringMatching(/converter/),
        expect.stringMatching(/lean COPY/), expect.stringMatching(/reconcile --full vs backfill/), expect.stringMatching(/25 ms round trip vs at 0 ms/),
      ]),
    );
    for (const row of rated) {
      expect(row.tool, row.name).toBeGreaterThan(0);
      expect(row.baseline, row.name).toBeGreaterThan(0);
      expect(row.ratio, row.name).toBeGreaterThan(0);
    }
    const digestMode = result.rows.find((row) => /CI mode/.test(row.name));
    expect(digestMode?.tool, 'reconcile in its CI mode is timed').toBeGreaterThan(0);
    const commands = new Set(result.rss.map((r) => r.command));
    expect(commands.has('backfill')).toBe(true);
    for (const r of result.rss) expect(r.peakRssMb, `${r.command} at ${r.rooms}`).toBeGreaterThan(0);
    expect(new Set(result.rss.map((r) => r.rooms))).toEqual(new Set([40, 80]));
    expect(result.table).toMatch(/\| backfill vs in-database/);
    expect(existsSync(DOC) ? statSync(DOC).mtimeMs : null).toBe(docBefore);
  }, 300_000);
});
