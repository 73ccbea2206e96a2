import type pg from 'pg';
import { TOOL_VERSION } from '../../engine/runs.ts';
import type { DependentScan } from './dependents.ts';
import type { SnapshotManifest } from './snapshot/manifest.ts';
import { verifySnapshot } from './snapshot/verify.ts';
import { assertEmptySnapshotDir, SnapshotRefusal, writeSnapshot } from './snapshot/write.ts';
import type { CommandContext } from '../../engine/context.ts';
import type { DropLegacyOptions } from './drop-legacy.ts';
import { dropGate } from './drop.ts';
import { failed, passed, renderGate, type GateResult } from './gates.ts';
import type { DropPlan } from './plan.ts';
import { reconciledGate } from './reconciled.ts';
import { quietGate } from './watch.ts';

export interface GateRun {
  gates: GateResult[];
  manifest: SnapshotManifest | null;
}

/** Runs the gates in order and stops at the first failure; each result is printed as it comes. */
export async function runGates(
  options: DropLegacyOptions,
  context: CommandContext,
  resolved: { plan: DropPlan; scan: DependentScan; snapshotDir: string },
): Promise<GateRun> {
  const { plan, scan, snapshotDir } = resolved;
  const run: GateRun = { gates: [], manifest: null };
  const record = (gate: GateResult): boolean => {
    run.gates.push(gate);
    process.stderr.write(`${renderGate(gate)}\n`);
    return gate.ok !== false;
  };
  const timeouts = { statementTimeoutMs: options.statementTimeoutMs, lockTimeoutMs: options.lockTimeoutMs };
  const pool: pg.Pool = context.pool;

  if (!record(dependentsGate(plan))) return run;
  // Checked up front: finding the directory occupied after a long watch window helps no one.
  const occupied = await refusal(() => assertEmptySnapshotDir(snapshotDir));
  if (occupied) {
    record(failed('snapshot', occupied, 'pass --snapshot-dir with a new, empty directory'));
    return run;
  }
  if (!record(await reconciledGate({ ...options, reportPath: options.reconcileReport }, context))) return run;
  const duringWatch = options.hooks?.duringWatch;
  if (!record(await quietGate(pool, scan.tables, options.watchSeconds, context.stopSignal, duringWatch ? { duringWatch } : {}))) return run;
  if (!record(unmigratedGate(plan, options, snapshotDir))) return run;

  let manifest: SnapshotManifest | null = null;
  const cannotWrite = await refusal(async () => {
    manifest = await writeSnapshot(pool, snapshotDir, { ...timeouts, tables: scan.tables, keptForeignKeys: scan.keptForeignKeys, dropOrder: scan.dropOrder, toolVersion: TOOL_VERSION });
  });
  if (cannotWrite || !manifest) {
    record(failed('snapshot', cannotWrite ?? 'no manifest written', 'pass --snapshot-dir with a new, empty directory on a disk with room'));
    return run;
  }
  const written: SnapshotManifest = manifest;
  run.manifest = written;
  if (written.unmigrated.memories !== plan.unmigrated.memories) {
    record(failed('snapshot', `the snapshot holds ${written.unmigrated.memories} unmigrated memories, the plan counted ${plan.unmigrated.memories}: the tables changed meanwhile`, 'run drop-legacy again with a new --snapshot-dir'));
    return run;
  }
  const rows = written.tables.map((t) => `${t.printed} ${t.data.rows}`).join(', ');
  record(passed('snapshot', `${snapshotDir}: ${rows}; unmigrated.jsonl ${written.unmigrated.memories} memories, ${written.unmigrated.rooms} rooms`));

  await options.hooks?.afterSnapshot?.(snapshotDir);
  const checks = await verifySnapshot(pool, snapshotDir, written, { live: true, ...timeouts });
  const bad = checks.filter((c) => !c.ok);
  const verified = bad.length === 0
    ? passed('verified', `${checks.length} checks: every file read back from disk (sha256, size, rows) and every live table's checksum match the manifest`)
    : failed('verified', bad.map((c) => `${c.subject}: ${c.detail}`).join('; '), 'check the disk under --snapshot-dir, then run drop-legacy again with a new --snapshot-dir');
  if (!record(verified)) return run;
  if (!record(confirmGate(options, written.database)) || options.dryRun) return run;

  const beforeDrop = options.hooks?.beforeDrop;
  const mode = options.quarantine ? { kind: 'quarantine' as const, schema: options.quarantine } : { kind: 'drop' as const };
  record(await dropGate(pool, { ...timeouts, manifest: written, mode, ...(beforeDrop ? { beforeDrop } : {}) }));
  return run;
}

async function refusal(work: () => Promise<void>): Promise<string | null> {
  try {
    await work();
    return null;
  } catch (error) {
    if (error instanceof SnapshotRefusal) return error.message;
    throw error;
  }
}

function dependentsGate(plan: DropPlan): GateResult {
  if (plan.blockers.length === 0) {
    return passed('dependents', `${plan.tables.length} table(s); ${plan.dropConstraints.length} foreign key(s) from kept tables to drop; no other dependents`);
  }
  return failed(
    'dependents',
    `${plan.blockers.length} object(s) depend on the tables and are not in the plan: ${plan.blockers.map((b) => `${b.object} (${b.detail})`).join('; ')}`,
    'drop or rewrite each blocker (or leave its table out with --tables); for a function reviewed as not using the tables, --allow-dependent <schema.function>',
  );
}

/** Gate 3: the memories that never reached chat_messages are acknowledged, by their exact count. */
function unmigratedGate(plan: DropPlan, options: DropLegacyOptions, snapshotDir: string): GateResult {
  const { memories, rooms } = plan.unmigrated;
  const seen = `${memories} memories without a chat_messages row and ${rooms} rooms without a chat; after the drop they exist only in ${snapshotDir} (unmigrated.jsonl lists them)`;
  if (options.acceptUnmigrated === memories) return passed('unmigrated', `${seen}; accepted (--accept-unmigrated ${memories})`);
  if (options.acceptUnmigrated === undefined && options.dryRun) return { name: 'unmigrated', ok: null, detail: `${seen}; the drop would require --accept-unmigrated ${memories}` };
  const given = options.acceptUnmigrated === undefined ? 'no --accept-unmigrated was given' : `--accept-unmigrated ${options.acceptUnmigrated} does not match`;
  return failed('unmigrated', `${seen}; ${given}`, `review them (a --dry-run writes unmigrated.jsonl), migrate what should be (\`recoup-migrate backfill\`), then pass --accept-unmigrated ${memories}`);
}

/** Gate 6: the operator names the database, so a drop aimed at the wrong one stops here. */
function confirmGate(options: DropLegacyOptions, database: string): GateResult {
  const fix = `add --confirm ${database}`;
  if (options.dryRun) return { name: 'confirmed', ok: null, detail: `dry run: the drop would require --confirm ${database}` };
  if (options.confirm === undefined) return failed('confirmed', `no --confirm given; the connected database is ${database}`, fix);
  if (options.confirm !== database) return failed('confirmed', `--confirm ${options.confirm} does not match the connected database ${database}`, `check the connection; if ${database} is the one to drop from, ${fix}`);
  return passed('confirmed', `--confirm matches the connected database ${database}`);
}
