import { partsBackupExists, partsBackupTable, restoreBackup, type RestoredBackupRow } from '../../engine/parts-backup.ts';
import { acquireLease } from '../../engine/leases.ts';
import { inspectDatabase } from '../../engine/preflight.ts';
import { quoteIdent } from '../../engine/sql-files.ts';
import { stateSchemaExists } from '../../engine/state-schema.ts';
import { inTransaction, withTransientRetry } from '../../engine/transactions.ts';
import { countReason, type ReasonCounts } from '../../migration/reasons.ts';
import { ReportWriter } from '../../report/report-writer.ts';
import { summaryHead, type RunSummary } from '../../report/summary.ts';
import { PreconditionError } from '../../engine/errors.ts';
import { createProgress } from '../../engine/progress.ts';
import type { CommandContext } from '../../engine/context.ts';

export interface FixPartsUndoOptions {
  runId: string;
  dryRun: boolean;
  /** Backup rows restored per transaction. */
  batchSize: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

interface UndoChatLine {
  roomId: string;
  chatId: string;
  status: 'restored' | 'kept' | 'gone' | 'unchanged';
  reasons: string[];
  restored: string[];
  /** Rows that no longer hold what the run wrote (changed in the app since): left as they are. */
  kept: string[];
  gone: string[];
}

/**
 * Puts back the old parts (and role) of every row a fix-parts run changed, exactly as they were stored,
 * where the row still holds what that run wrote, and the rows it removed. Pages of the backup, one transaction each; re-runnable
 * (rows already restored are skipped).
 */
export async function undoFixParts(options: FixPartsUndoOptions, context: CommandContext): Promise<RunSummary> {
  const { pool, stateSchema } = context;
  await inspectDatabase(pool, { target: true, writes: { chat_messages: ['UPDATE', 'INSERT'] }, state: { schema: stateSchema, write: true } });
  if (!(await stateSchemaExists(pool, stateSchema)) || !(await partsBackupExists(pool, stateSchema))) {
    throw new PreconditionError(`No fix-parts backup in state schema ${stateSchema}, so no run ${options.runId} to undo (wrong --state-schema?).`);
  }
  const { rows: runs } = await pool.query<{ command: string }>(`select command from ${quoteIdent(stateSchema)}.runs where run_id = $1`, [options.runId]);
  if (runs[0]?.command !== 'fix-parts') {
    throw new PreconditionError(`Run ${options.runId} is not a fix-parts run in ${stateSchema}.runs; \`recoup-migrate status\` lists runs.`);
  }
  const lease = options.dryRun ? null : await acquireLease(pool, stateSchema, { command: 'fix-parts', runId: context.runId });
  try {
    const report = await ReportWriter.open(context.reportDir);
    const chats = new Map<string, UndoChatLine>();
    const counts = { restored: 0, kept: 0, gone: 0, alreadyRestored: 0 };
    const reasons: ReasonCounts = {};
    const progress = createProgress(options.dryRun ? 'fix-parts --undo (dry run)' : 'fix-parts --undo', context.progress, 'messages');
    const { rows: backedUp } = await pool.query<{ count: number }>(
      `select count(*)::int as count from ${partsBackupTable(stateSchema)} where run_id = $1`,
      [options.runId],
    );
    progress.start(backedUp[0]?.count ?? 0);
    let after: string | null = null;
    for (;;) {
      const cursor: string | null = after;
      const page: RestoredBackupRow[] = await withTransientRetry(() =>
        inTransaction(
          pool,
          { isolation: 'read committed', statementTimeoutMs: options.statementTimeoutMs, lockTimeoutMs: options.lockTimeoutMs, rollback: options.dryRun },
          (client) => restoreBackup(client, stateSchema, options.runId, { after: cursor, pageSize: options.batchSize }),
        ),
      );
      if (page.length === 0) break;
      for (const row of page) {
        const line = lineFor(chats, row.chat_id);
        if (row.restored) {
          counts.restored += 1;
          line.restored.push(row.message_id);
        } else if (row.already_restored) {
          counts.alreadyRestored += 1;
        } else if (row.gone) {
          counts.gone += 1;
          line.gone.push(row.message_id);
        } else {
          counts.kept += 1;
          line.kept.push(row.message_id);
          countReason(reasons, 'target_changed_in_app');
          if (!line.reasons.includes('target_changed_in_app')) line.reasons.push('target_changed_in_app');
        }
      }
      progress.increment(page.length);
      after = page[page.length - 1]?.message_id ?? null;
    }
    progress.stop();
    for (const line of chats.values()) {
      line.status = line.kept.length > 0 ? 'kept' : line.restored.length > 0 ? 'restored' : line.gone.length > 0 ? 'gone' : 'unchanged';
      await report.writeRoom(line);
    }
    if (!options.dryRun && counts.kept === 0) {
      await pool.query(`update ${quoteIdent(stateSchema)}.runs set status = 'undone' where run_id = $1`, [options.runId]);
    }
    const summary: RunSummary = {
      ...summaryHead('fix-parts', context, { dryRun: options.dryRun, complete: true, exitCode: 0 }),
      undoneRunId: options.runId,
      restored: counts,
      reasons,
      reportDir: report.dir,
    };
    await report.finish(summary);
    return summary;
  } finally {
    await lease?.release();
  }
}

function lineFor(chats: Map<string, UndoChatLine>, chatId: string): UndoChatLine {
  let line = chats.get(chatId);
  if (!line) {
    line = { roomId: chatId, chatId, status: 'unchanged', reasons: [], restored: [], kept: [], gone: [] };
    chats.set(chatId, line);
  }
  return line;
}
