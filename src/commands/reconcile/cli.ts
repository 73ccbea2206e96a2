import type { Command } from 'commander';
import { z } from 'zod';
import { reconcile } from './reconcile.ts';
import { exitCodesHelp, STOPPED_BY_BUDGET } from '../../report/summary.ts';
import { connectionFlags, decimal, outputFlags, pacingFlags, walkFlags } from '../../engine/config.ts';
import { addCommonOptions, addPacingOptions, addWalkOptions, pacingFrom, walkOptionsFrom } from '../../cli/options.ts';
import { runCommand } from '../../cli/run-command.ts';

export const reconcileFlags = z
  .object({
    ...connectionFlags,
    ...outputFlags,
    ...walkFlags,
    ...pacingFlags,
    shared: z.boolean().default(false),
    full: z.boolean().default(false),
    sample: decimal(0, 1, { aboveMin: true }).optional(),
    baseline: z.string().min(1).optional(),
  })
  .strict();

export function registerReconcile(program: Command, setExitCode: (code: number) => void): void {
  addPacingOptions(addWalkOptions(addCommonOptions(program.command('reconcile'))))
    .description('per-room audit of the target against the source; read-only; the CI gate (exit 1 on drift)')
    .option('--sample <fraction>', 'audit only this fraction (0..1] of the rooms, chosen by a hash of the room id')
    .option('--baseline <rooms.jsonl>', 'fail only on drift that this earlier run\'s rooms.jsonl does not list')
    .option('--full', 'convert and compare every room; by default rooms unchanged since backfill are confirmed by their ledger digests')
    .option('--shared', "record a run and its batches in the state schema, so that several processes split the rooms")
    .addHelpText(
      'after',
      `
Examples:
  $ recoup-migrate reconcile                                the CI audit: rooms unchanged since backfill confirmed by digest
  $ recoup-migrate reconcile --full                         convert and compare everything (the gate before drop-legacy)
  $ recoup-migrate reconcile --sample 0.05                  quick random audit of ~5% of the rooms
  $ recoup-migrate reconcile --since 2026-11-01T00:00:00Z   rooms changed since then
  $ recoup-migrate reconcile --room 1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed --show-values
  $ recoup-migrate reconcile --baseline reports/reconcile-<runId>/rooms.jsonl   CI: fail on new drift only
  $ recoup-migrate reconcile --shared                       on each of several machines: they split the rooms

Reads only (read-only transactions); takes no lease and records no run. With --shared it writes to its
own state schema (a run, its batches, a lease; never the production tables) so that several processes
with the same scope split the rooms; each prints the whole run's totals (runTotals) and exits on them.

${exitCodesHelp({ 0: `no drift (${STOPPED_BY_BUDGET})`, 1: 'drift: see the report\'s rooms.jsonl (with --shared, each worker\'s own); with --baseline, drift the baseline does not hold' })}`,
    )
    .action(async (flags: Record<string, unknown>) => {
      setExitCode(
        await runCommand('reconcile', reconcileFlags, flags, (f, context) =>
          reconcile(
            {
              ...walkOptionsFrom(f),
              sample: f.sample,
              baseline: f.baseline,
              shared: f.shared,
              full: f.full,
              ...pacingFrom(f),
            },
            context,
          ),
        ),
      );
    });
}
