import { resolve } from 'node:path';
import { recordRunEndOrWarn, recordRunStart } from '../../engine/runs.ts';
import { checkSnapshotFiles, readManifest } from './snapshot/manifest.ts';
import { restoreSnapshot } from './snapshot/restore.ts';
import { CONVERTER_VERSION } from '../../migration/convert.ts';
import { ReportWriter } from '../../report/report-writer.ts';
import { summaryHead, type ExitCode, type RunSummary } from '../../report/summary.ts';
import { withCommandLease, type CommandContext } from '../../engine/context.ts';
import { assertPrivileges } from '../../engine/preflight.ts';

export interface RestoreOptions {
  snapshotDir: string;
  /** Restore under this schema instead of the tables' own, for inspection. */
  intoSchema?: string | undefined;
  /** Do everything in a transaction that is rolled back: proves the snapshot restores, changes nothing. */
  dryRun: boolean;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

/** Brings back what drop-legacy dropped: verified files in, verified tables out, or nothing at all. */
export async function restore(options: RestoreOptions, context: CommandContext): Promise<RunSummary> {
  const { pool, logger } = context;
  const dir = resolve(options.snapshotDir);
  const manifest = await readManifest(dir);
  // It records its run in the state schema (a dry run only reads it): exit 2 with the GRANT, before anything.
  await assertPrivileges(pool, { target: false, legacy: false, state: { schema: context.stateSchema, write: !options.dryRun } });
  const report = await ReportWriter.open(context.reportDir);
  const head = (exitCode: ExitCode) => summaryHead('restore', context, { dryRun: options.dryRun, complete: true, exitCode });
  const base = {
    reasons: {},
    reportDir: report.dir,
    snapshotDir: dir,
    snapshot: { database: manifest.database, createdAt: manifest.createdAt, serverVersion: manifest.serverVersion, tables: manifest.tables.map((t) => t.printed) },
  };
  const fileChecks = (await checkSnapshotFiles(dir, manifest)).map((c) => ({ subject: `file ${c.file}`, ok: c.ok, detail: c.detail }));
  const damaged = fileChecks.filter((c) => !c.ok);
  if (damaged.length > 0) {
    const summary: RunSummary = {
      ...head(1),
      ...base,
      restored: false,
      checks: fileChecks,
      problems: damaged.map((c) => `${c.subject} does not match the manifest (${c.detail}); nothing was restored. Use an intact copy of the snapshot directory.`),
    };
    await report.finish(summary);
    return summary;
  }

  return withCommandLease(context, 'restore', options.dryRun, async () => {
    if (!options.dryRun) {
      await recordRunStart(pool, context.stateSchema, {
        runId: context.runId,
        command: 'restore',
        scope: { tables: manifest.tables.map((t) => t.printed) },
        options: { snapshotDir: dir, intoSchema: options.intoSchema ?? null },
        converterVersion: CONVERTER_VERSION,
      });
    }
    const outcome = await restoreSnapshot(pool, dir, manifest, { intoSchema: options.intoSchema ?? null, dryRun: options.dryRun, statementTimeoutMs: options.statementTimeoutMs, lockTimeoutMs: options.lockTimeoutMs });
    const mismatched = outcome.checks.filter((c) => !c.ok);
    for (const missing of outcome.incomplete) logger.warn(missing);
    // Rows back but a grant, publication, owner or FK not: an incomplete restore, exit 1, each with its statement.
    const problems = [...mismatched.map((c) => `${c.subject}: ${c.detail}; everything was rolled back`), ...outcome.incomplete];
    const summary: RunSummary = {
      ...head(problems.length > 0 ? 1 : 0),
      ...base,
      restored: outcome.restored,
      tables: outcome.tables,
      checks: [...fileChecks, ...outcome.checks],
      warnings: outcome.incomplete,
      ...(problems.length > 0 ? { problems } : {}),
    };
    await report.finish(summary);
    if (!options.dryRun) {
      await recordRunEndOrWarn(pool, context.stateSchema, context.runId, outcome.restored ? 'completed' : 'failed', summary, logger);
    }
    return summary;
  });
}
