import type { RunSummary } from './summary.ts';

const MESSAGE_COUNTERS_LEGEND =
  '(converted: memories the converter turned into messages in this run; written: rows this run inserted or updated; ' +
  'unchanged: rows already as the converter makes them, or left alone)';

/** The summary as a person reads it on stdout: outcome, counts, what they mean, where the reports are. */
export function renderHuman(summary: RunSummary): string {
  const lines: string[] = [];
  const head = `${summary.command}${summary.dryRun ? ' (dry run)' : ''}: exit ${summary.exitCode}${summary.complete ? '' : ' (incomplete)'}`;
  lines.push(head);
  for (const problem of summary.problems ?? []) lines.push(`problem: ${problem}`);
  const totals = summary.runTotals as Pick<RunSummary, 'rooms' | 'messages' | 'reasons'> | undefined;
  // Several workers shared the run: each says what it did itself, and the whole run's totals when it knows
  // them. A worker that had the run to itself has nothing to tell apart.
  const runTotals = totals && !sameCounts(totals, summary) ? totals : undefined;
  const shared = runTotals !== undefined || summary.joinedRun === true;
  if (shared) lines.push(`this process's share of run ${summary.runId}:`);
  lines.push(...counts(summary, shared ? '  ' : ''));
  if (runTotals) {
    lines.push(`the whole run (every worker):`, ...counts(runTotals, '  '));
  } else if (summary.joinedRun === true) {
    lines.push('the whole run: not finished when this process stopped; `npx recoup-migrate status` shows it');
  }
  lines.push(...undone(summary));
  const compared = summary.compared as { byDigest: number; inFull: number } | undefined;
  if (compared) {
    lines.push(
      summary.full === true
        ? `compared in full (--full): ${compared.inFull} room(s)`
        : `rooms confirmed by digest (unchanged since backfill recorded them): ${compared.byDigest}; converted and compared: ${compared.inFull} (--full compares every room)`,
    );
  }
  const withoutRoom = summary.withoutRoom as { memories: number; report: string } | undefined;
  if (withoutRoom) lines.push(`${withoutRoom.memories} memories belong to no room (room_id is null): listed in ${withoutRoom.report}`);
  const stopped = stoppedEarly(summary);
  if (stopped) lines.push(stopped);
  if (summary.reportDir) lines.push(`reports: ${summary.reportDir}`);
  if (Array.isArray(summary.runs)) lines.push(...renderRuns(summary.runs as RunLine[], (summary.leases ?? []) as LeaseLine[]));
  return `${lines.join('\n')}\n`;
}

function sameCounts(a: Pick<RunSummary, 'rooms' | 'messages'>, b: Pick<RunSummary, 'rooms' | 'messages'>): boolean {
  return JSON.stringify([a.rooms, a.messages]) === JSON.stringify([b.rooms, b.messages]);
}

function counts(summary: Pick<RunSummary, 'rooms' | 'messages' | 'reasons'>, indent: string): string[] {
  const lines: string[] = [];
  const line = (name: string, counters: object | undefined) => {
    if (counters) lines.push(`${indent}${name}: ${Object.entries(counters).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  };
  line('rooms', summary.rooms);
  line('messages', summary.messages);
  if (summary.messages && 'written' in summary.messages && 'converted' in summary.messages) lines.push(`${indent}  ${MESSAGE_COUNTERS_LEGEND}`);
  const reasons = Object.entries(summary.reasons ?? {});
  if (reasons.length > 0) lines.push(`${indent}reasons: ${reasons.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return lines;
}

/** What an undo took back, and what it left because the app changed it since. */
function undone(summary: RunSummary): string[] {
  if (typeof summary.undoneRunId !== 'string') return [];
  const entries = (counters: unknown) => Object.entries(counters as Record<string, number>).map(([k, v]) => `${k} ${v}`).join(', ');
  const lines = [`undo of run ${summary.undoneRunId}${summary.dryRun ? ' (dry run: nothing was changed)' : ''}:`];
  if (summary.removed) lines.push(`  removed: ${entries(summary.removed)}`);
  if (typeof summary.kept === 'number') lines.push(`  kept: ${summary.kept} row(s) the run inserted that the app has changed or written to since`);
  if (summary.restored) lines.push(`  ${summary.command === 'backfill' ? 'messages it rewrote' : 'messages'}: ${entries(summary.restored)}`);
  return lines;
}

/** For a walk that ended before its scope did: how far it got, and how to go on. */
function stoppedEarly(summary: RunSummary): string | null {
  const inScope = summary.inScope as { rooms?: number; messages?: number } | undefined;
  if (summary.complete || !inScope) return null;
  const unit = inScope.messages !== undefined ? 'messages' : 'rooms';
  const walked = (unit === 'messages' ? summary.messages?.total : summary.rooms?.total) ?? 0;
  const how =
    summary.stoppedBy === 'time_budget' ? 'stopped at --time-budget' : summary.stoppedBy === 'signal' ? 'stopped by a signal' : 'stopped by the error';
  return `${how} after ${walked} of ${inScope[unit]} ${unit} in scope; run the same command again to finish (what was committed stays)`;
}

interface RunLine {
  runId: string;
  command: string;
  status: string;
  startedAt: string;
  unit: string;
  done: number;
  perSecond: number | null;
  etaSeconds: number | null;
  workers: string[];
  abandoned?: { since: string; lastWorker: string | null; resume: string } | null;
}
interface LeaseLine { command: string; runId: string; holder: string; expiresAt: string; live: boolean }

function renderRuns(runs: RunLine[], leases: LeaseLine[]): string[] {
  const lines = runs.length === 0 ? ['no runs recorded'] : ['recent runs:'];
  for (const run of runs) {
    const rate = run.perSecond ? `, ${run.perSecond.toFixed(0)} ${run.unit}/s` : '';
    const eta = run.etaSeconds !== null ? `, ETA ${Math.ceil(run.etaSeconds)} s` : '';
    const workers = run.workers.length > 0 ? `, workers ${run.workers.join(' ')}` : '';
    lines.push(`  ${run.startedAt}  ${run.command.padEnd(16)} ${run.status.padEnd(10)} ${run.runId}  ${run.done} ${run.unit}${rate}${eta}${workers}`);
    if (run.abandoned) {
      const by = run.abandoned.lastWorker ? ` by ${run.abandoned.lastWorker}` : '';
      lines.push(`      no live worker: last seen ${run.abandoned.since}${by}. To go on: ${run.abandoned.resume}`);
    }
  }
  for (const lease of leases) {
    lines.push(`lease: ${lease.command} run ${lease.runId} held by ${lease.holder} until ${lease.expiresAt}${lease.live ? '' : ' (expired)'}`);
  }
  return lines;
}
