import { describe, expect, it } from 'vitest';
import { renderHuman } from '../../src/report/summary-text.ts';
import type { RunSummary } from '../../src/report/summary.ts';

const own = {
  rooms: { total: 40, migrated: 40, unchanged: 0, skipped: 0, failed: 0 },
  messages: { total: 120, written: 120, unchanged: 0, skipped: 0, converted: 120 },
  reasons: {},
};
const summary = (extra: Partial<RunSummary>): RunSummary => ({
  command: 'backfill',
  runId: 'run-1',
  dryRun: false,
  complete: true,
  startedAt: '2026-12-04T00:00:00.000Z',
  finishedAt: '2026-12-04T00:00:01.000Z',
  exitCode: 0,
  reportDir: null,
  ...own,
  ...extra,
});

describe('the human summary of a run several workers shared', () => {
  it('a worker that had the run to itself prints its counts once', () => {
    const text = renderHuman(summary({ runTotals: own }));
    expect(text).not.toContain('share');
    expect(text).not.toContain('whole run');
    expect(text).toContain('rooms: total 40, migrated 40');
  });

  it('a worker that shared it prints its own share and the whole run, each labelled', () => {
    const whole = { ...own, rooms: { ...own.rooms, total: 100, migrated: 100 } };
    const text = renderHuman(summary({ joinedRun: true, runTotals: whole }));
    expect(text).toContain("this process's share of run run-1:\n  rooms: total 40, migrated 40");
    expect(text).toContain('the whole run (every worker):\n  rooms: total 100, migrated 100');
  });

  it('a worker that joined and left before the run ended says where the whole run is', () => {
    const text = renderHuman(summary({ joinedRun: true }));
    expect(text).toContain("this process's share of run run-1:");
    expect(text).toContain('the whole run: not finished when this process stopped; `npx recoup-migrate status` shows it');
  });

  it('a run stopped by Ctrl-C says how far it got of the rooms in scope', () => {
    const text = renderHuman(summary({ complete: false, exitCode: 3, stoppedBy: 'signal', inScope: { rooms: 250 } }));
    expect(text).toContain('stopped by a signal after 40 of 250 rooms in scope; run the same command again to finish');
  });
});
