import { chatDigestSql, messageDigestSql, sessionDigestSql } from '../../engine/digests.ts';
import { acquireLease } from '../../engine/leases.ts';
import { partsBackupExists, restoreBackup } from '../../engine/parts-backup.ts';
import { inspectDatabase } from '../../engine/preflight.ts';
import { quoteIdent } from '../../engine/sql-files.ts';
import { stateSchemaExists } from '../../engine/state-schema.ts';
import { inTransaction } from '../../engine/transactions.ts';
import { countReason, type ReasonCounts } from '../../migration/reasons.ts';
import { ReportWriter } from '../../report/report-writer.ts';
import { summaryHead, type RunSummary } from '../../report/summary.ts';
import { PreconditionError } from '../../engine/errors.ts';
import type { CommandContext } from '../../engine/context.ts';

export interface UndoOptions {
  runId: string;
  dryRun: boolean;
  /** The undo is one transaction (all or nothing), so it gets the whole --statement-timeout per statement. */
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

/**
 * Takes back the rows a backfill run inserted, where they still hold what it wrote. A chat the app has
 * written new messages into is the app's now: it is kept, with its messages, and reported. The rooms
 * undone lose their ledger entries, so the next backfill migrates them afresh (with a fixed converter).
 * Messages the run rewrote (a newer converter, a changed memory) get back the value it backed up, where
 * they still hold what it wrote. Updates it made to sessions and chats (a renamed room) are not
 * reverted: the source says the new title.
 */
export async function undoBackfill(options: UndoOptions, context: CommandContext): Promise<RunSummary> {
  const { pool, stateSchema } = context;
  const shape = await inspectDatabase(pool, { target: true, writes: { sessions: ['DELETE'], chats: ['DELETE'], chat_messages: ['DELETE', 'UPDATE'] }, state: { schema: stateSchema, write: true } });
  if (!(await stateSchemaExists(pool, stateSchema))) {
    throw new PreconditionError(`No state schema ${stateSchema} in this database, so no run ${options.runId} to undo.`);
  }
  const state = quoteIdent(stateSchema);
  const { rows: runs } = await pool.query<{ command: string; status: string }>(
    `select command, status from ${state}.runs where run_id = $1`,
    [options.runId],
  );
  const run = runs[0];
  if (!run || run.command !== 'backfill') {
    throw new PreconditionError(`Run ${options.runId} is not a backfill run in ${stateSchema}.runs; \`recoup-migrate status\` lists runs.`);
  }
  const backupExists = await partsBackupExists(pool, stateSchema);
  const lease = options.dryRun ? null : await acquireLease(pool, stateSchema, { command: 'backfill', runId: context.runId });
  try {
    const report = await ReportWriter.open(context.reportDir);
    const reasons: ReasonCounts = {};
    const outcome = await inTransaction(
      pool,
      { isolation: 'read committed', statementTimeoutMs: options.statementTimeoutMs, lockTimeoutMs: options.lockTimeoutMs, rollback: options.dryRun },
      async (client) => {
        const ledger = `${state}.target_ledger`;
        const rewrites = backupExists ? await restoreBackup(client, stateSchema, options.runId, { after: null, pageSize: null }) : [];
        const { rows: appChats } = await client.query<{ chat_id: string; room_id: string }>(
          `select distinct cm.chat_id, l.room_id::text
             from public.chat_messages cm
             join ${ledger} l on l.kind = 'chat' and l.id = cm.chat_id and l.inserted_by = $1
            where not exists (select 1 from ${ledger} lm where lm.kind = 'message' and lm.id = cm.id)`,
          [options.runId],
        );
        const kept = appChats.map((c) => c.chat_id);
        const deleted = async (kind: string, table: string, digest: string, extra: string) => {
          const { rows } = await client.query<{ id: string; room_id: string }>(
            `with gone as (
               delete from public.${table} t using ${ledger} l
                where l.kind = $2 and l.id = t.id and l.inserted_by = $1 and ${digest} = l.digest ${extra}
               returning t.id, l.room_id)
             delete from ${ledger} l using gone where l.kind = $2 and l.id = gone.id
             returning gone.id, gone.room_id::text`,
            [options.runId, kind, kept],
          );
          return rows;
        };
        const messages = await deleted('message', 'chat_messages', messageDigestSql('t'), 'and not (t.chat_id = any($3::text[]))');
        const chats = await deleted('chat', 'chats', chatDigestSql('t'), 'and not exists (select 1 from public.chat_messages m where m.chat_id = t.id) and $3::text[] is not null');
        const sessions = await deleted('session', 'sessions', sessionDigestSql('t', shape.sessionsHasArtistId), 'and not exists (select 1 from public.chats c where c.session_id = t.id) and $3::text[] is not null');
        const { rows: remaining } = await client.query<{ kind: string; count: number }>(
          `select kind, count(*)::int as count from ${ledger} where inserted_by = $1 group by kind`,
          [options.runId],
        );
        const restored = rewrites.filter((r) => r.restored);
        // A restored message's chat is its legacy room (the tool's chats take their room's id).
        const rooms = new Set([...messages, ...chats, ...sessions].map((r) => r.room_id).concat(restored.map((r) => r.chat_id)));
        await client.query(`delete from ${state}.room_ledger where room_id = any($1::uuid[])`, [[...rooms]]);
        if (!options.dryRun) await client.query(`update ${state}.runs set status = 'undone' where run_id = $1`, [options.runId]);
        const rewritesKept = rewrites.filter((r) => !r.restored && !r.already_restored && !r.gone);
        return { messages, chats, sessions, rooms, kept: appChats, remaining, restored, rewritesKept };
      },
    );
    for (const chat of outcome.kept) {
      countReason(reasons, 'target_changed_in_app');
      await report.writeRoom({ roomId: chat.room_id, status: 'kept', reasons: ['target_changed_in_app'] });
    }
    for (const row of outcome.rewritesKept) {
      countReason(reasons, 'target_changed_in_app');
      await report.writeRoom({ roomId: row.chat_id, status: 'kept', reasons: ['target_changed_in_app'], messageId: row.message_id });
    }
    for (const roomId of outcome.rooms) await report.writeRoom({ roomId, status: 'undone', reasons: [] });
    const notRemoved = outcome.remaining.reduce((sum, r) => sum + r.count, 0);
    const summary: RunSummary = {
      ...summaryHead('backfill', context, { dryRun: options.dryRun, complete: true, exitCode: 0 }),
      undoneRunId: options.runId,
      removed: { sessions: outcome.sessions.length, chats: outcome.chats.length, messages: outcome.messages.length },
      // Messages the run rewrote: put back, or kept because the app changed them since.
      restored: { messages: outcome.restored.length, kept: outcome.rewritesKept.length },
      // Rows the run inserted that stay: changed in the app since, or in a chat the app has written to.
      kept: notRemoved,
      reasons,
      reportDir: report.dir,
    };
    await report.finish(summary);
    return summary;
  } finally {
    await lease?.release();
  }
}
