import { orderedReasons, type ReasonCounts } from '../migration/reasons.ts';
import { describeRunError, scrubSecrets } from '../engine/errors.ts';

export type ExitCode = 0 | 1 | 2 | 3;

const EXIT_2 = 'usage, configuration or precondition error; nothing was written';
const EXIT_3 = 'it failed while running; what was committed stays consistent, and a re-run continues';

/** The tool's exit codes, for the top-level --help. */
export const EXIT_CODES_HELP = `Exit codes:
  0  done, nothing wrong found (also: stopped cleanly at --time-budget; the summary says "complete": false)
  1  it ran and found problems: drift, failed rooms, a budget exceeded, a refused gate
  2  ${EXIT_2}
  3  ${EXIT_3}`;

/** One command's exit codes for its --help: what 0 (and 1, where it can happen) mean for it. */
export function exitCodesHelp(meanings: { 0: string; 1?: string; 3?: string }): string {
  const lines = [`  0  ${meanings[0]}`];
  if (meanings[1]) lines.push(`  1  ${meanings[1]}`);
  lines.push(`  2  ${EXIT_2}`, `  3  ${meanings[3] ?? EXIT_3}`);
  return `Exit codes:\n${lines.join('\n')}`;
}

/** What exit 0 adds for a command that takes --time-budget. */
export const STOPPED_BY_BUDGET = 'also when stopped cleanly by --time-budget: "complete": false, and the next run resumes';

export interface RoomCounters {
  total: number;
  migrated: number;
  unchanged: number;
  skipped: number;
  failed: number;
  clean?: number;
  drift?: number;
  targetDeleted?: number;
}

export interface MessageCounters {
  total: number;
  written: number;
  unchanged: number;
  skipped: number;
  converted: number;
  failed?: number;
  /** Of written: rows an earlier converter version wrote, rewritten by this one (backed up). */
  upgraded?: number;
  /** fix-parts: the original script's copies of memories the converter skips, deleted (backed up). */
  removed?: number;
}

/** The run summary of the contract: `--json` prints it, summary.json holds it. */
export interface RunSummary {
  command: string;
  runId: string;
  dryRun: boolean;
  complete: boolean;
  startedAt: string;
  finishedAt: string;
  exitCode: ExitCode;
  rooms?: RoomCounters;
  messages?: MessageCounters;
  reasons: ReasonCounts;
  reportDir: string | null;
  error?: string;
  /** Why a run that found no drift or failure still exits 1 (budgets). */
  problems?: string[];
  [extra: string]: unknown;
}

export function emptyRoomCounters(): RoomCounters {
  return { total: 0, migrated: 0, unchanged: 0, skipped: 0, failed: 0 };
}

export function emptyMessageCounters(): MessageCounters {
  return { total: 0, written: 0, unchanged: 0, skipped: 0, converted: 0 };
}

/** The keys every summary starts with, in the contract's order; `finishedAt` is now. */
export function summaryHead(
  command: string,
  run: { runId: string; startedAt: Date },
  outcome: { dryRun: boolean; complete: boolean; exitCode: ExitCode },
): Pick<RunSummary, 'command' | 'runId' | 'dryRun' | 'complete' | 'startedAt' | 'finishedAt' | 'exitCode'> {
  return {
    command,
    runId: run.runId,
    dryRun: outcome.dryRun,
    complete: outcome.complete,
    startedAt: run.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    exitCode: outcome.exitCode,
  };
}

/** `{ error }` for a run that failed while running (secrets scrubbed), `{}` for one that did not. */
export function errorField(runError: unknown, secrets: readonly string[]): { error?: string } {
  return runError !== null ? { error: scrubSecrets(describeRunError(runError), secrets) } : {};
}

/** Adds `from`'s counts into `into`, key by key (a key `into` lacks starts at 0); returns `into`. */
export function addCounters<T extends object>(into: T, from: T): T {
  const target = into as Record<string, number>;
  for (const [name, count] of Object.entries(from as Record<string, number>)) target[name] = (target[name] ?? 0) + count;
  return into;
}

/** The summary as it is printed and stored: reason codes in their fixed order, the run's totals' too. */
export function canonicalSummary(summary: RunSummary): RunSummary {
  const runTotals = summary.runTotals as { reasons?: ReasonCounts } | null | undefined;
  return {
    ...summary,
    reasons: orderedReasons(summary.reasons),
    ...(runTotals?.reasons ? { runTotals: { ...runTotals, reasons: orderedReasons(runTotals.reasons) } } : {}),
  };
}
