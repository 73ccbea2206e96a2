import type pg from 'pg';
import { looksLikeLegacyId, type MessageRange, type ResolvedMessageScope } from '../../engine/message-scope.ts';
import { readMemoriesOfMessages, readMessagesInRange, readStoredParts, type OwnershipTables, type StoredMessageRow } from './reads.ts';
import { partsBackupDdlIfNeeded } from '../../engine/parts-backup.ts';
import { applyPartsFixes, type AppliedFix, type PartsFix } from './write.ts';
import { stateDdlIfNeeded } from '../../engine/state-schema.ts';
import { markDoneAlone } from '../../engine/batch-runner.ts';
import { inTransaction } from '../../engine/transactions.ts';
import { CONVERTER_VERSION } from '../../migration/convert.ts';
import { stringifyJson } from '../../migration/json.ts';
import type { Logger } from '../../engine/logger.ts';
import { classifyRow, type Verdict } from './classify.ts';
import { shownValue, type ChatOutcome, type MessageOutcome } from './report.ts';

export interface FixPartsBatchContext {
  pool: pg.Pool;
  stateSchema: string;
  runId: string;
  dryRun: boolean;
  /** Which state tables exist to tell the tool's rows from the app's. */
  ownership: OwnershipTables;
  scope: ResolvedMessageScope;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  showValues: boolean;
  logger: Logger;
  /** Test seam: runs after classification, before the write transaction (a concurrent app write goes here). */
  beforeWrite?: (rows: readonly StoredMessageRow[]) => Promise<void>;
}

export interface BatchResult {
  chats: ChatOutcome[];
  conversions: number;
  rows: number;
}

interface RowWork {
  row: StoredMessageRow;
  verdict: Verdict;
}

/**
 * One keyset range: read (one REPEATABLE READ snapshot), classify in JavaScript, then write the fixes
 * in a READ COMMITTED transaction with compare-and-set, so that a row the app changed between the read
 * and the write is detected and left (not a serialization failure that would cost the whole batch).
 * `beforeCommit` (a shared run marking the batch done) runs inside the write transaction, or in one of
 * its own when the batch has nothing to write.
 */
export async function fixPartsRange(
  context: FixPartsBatchContext,
  range: MessageRange,
  beforeCommit?: (client: pg.ClientBase, result: BatchResult) => Promise<void>,
): Promise<BatchResult> {
  const { rows, memories, parts } = await inTransaction(
    context.pool,
    { isolation: 'repeatable read', readOnly: true, statementTimeoutMs: context.statementTimeoutMs, lockTimeoutMs: context.lockTimeoutMs },
    async (client) => {
      const stored = await readMessagesInRange(client, range, context.scope, context.ownership);
      const memories = await readMemoriesOfMessages(client, stored.map((r) => r.id));
      const needParts = stored.filter((r) => context.showValues || !memories.get(r.id)?.script_shape).map((r) => r.id);
      return { rows: stored, memories, parts: await readStoredParts(client, needParts) };
    },
  );

  let conversions = 0;
  const work: RowWork[] = [];
  for (const row of rows) {
    const classified = await classifyRow(row, memories.get(row.id), parts.get(row.id));
    conversions += classified.conversions;
    work.push({ row, verdict: classified.verdict });
  }

  const fixes: PartsFix[] = [];
  for (const { row, verdict } of work) {
    const roomId = looksLikeLegacyId(row.chat_id) ? row.chat_id : null;
    if (verdict.kind === 'rebuilt' || verdict.kind === 'repaired' || verdict.kind === 'upgraded') {
      fixes.push({ id: row.id, xmin: row.xmin, message: verdict.message, roomId });
    } else if (verdict.kind === 'removed') {
      fixes.push({ id: row.id, xmin: row.xmin, message: null, roomId });
    }
  }
  await context.beforeWrite?.(rows);
  const resultOf = (applied: Map<string, AppliedFix>): BatchResult => ({
    chats: outcomesByChat(work, applied, context.showValues ? parts : null),
    conversions,
    rows: rows.length,
  });
  const write = { isolation: 'read committed', statementTimeoutMs: context.statementTimeoutMs, lockTimeoutMs: context.lockTimeoutMs } as const;
  if (fixes.length === 0) {
    const result = resultOf(new Map());
    if (beforeCommit) await markDoneAlone(context.pool, (client) => beforeCommit(client, result));
    return result;
  }
  return await inTransaction(context.pool, { ...write, rollback: context.dryRun }, async (client) => {
    if (context.dryRun) {
      await stateDdlIfNeeded(client, context.stateSchema);
      await partsBackupDdlIfNeeded(client, context.stateSchema);
    }
    const applied = await applyPartsFixes(client, { stateSchema: context.stateSchema, runId: context.runId, converterVersion: CONVERTER_VERSION }, fixes);
    const result = resultOf(new Map(applied.map((a) => [a.id, a])));
    if (beforeCommit) await beforeCommit(client, result);
    return result;
  });
}

/** `shownParts`: the stored values to show (--show-values), else null. */
function outcomesByChat(work: RowWork[], applied: Map<string, AppliedFix>, shownParts: Map<string, string> | null): ChatOutcome[] {
  const chats = new Map<string, ChatOutcome>();
  for (const { row, verdict } of work) {
    let chat = chats.get(row.chat_id);
    if (!chat) {
      chat = { chatId: row.chat_id, sessionId: row.session_id, messages: [] };
      chats.set(row.chat_id, chat);
    }
    chat.messages.push(outcomeOf(row, verdict, applied, shownParts));
  }
  return [...chats.values()];
}

function outcomeOf(row: StoredMessageRow, verdict: Verdict, applied: Map<string, AppliedFix>, shownParts: Map<string, string> | null): MessageOutcome {
  switch (verdict.kind) {
    case 'rebuilt':
    case 'repaired':
    case 'upgraded':
    case 'removed': {
      const written = applied.get(row.id);
      if (written === undefined) {
        return { id: row.id, class: 'concurrent', reason: 'concurrent_change', detail: 'the row changed after it was read; left as it is now (re-run to classify it again)' };
      }
      if (verdict.kind === 'removed') {
        const values = shownParts ? { beforeValue: shownValue(shownParts.get(row.id) ?? '') } : {};
        return { id: row.id, class: 'removed', reason: verdict.reason, detail: verdict.detail, before: written.oldDigest, ...values };
      }
      const values = shownParts
        ? { beforeValue: shownValue(shownParts.get(row.id) ?? ''), afterValue: shownValue(stringifyJson(verdict.message)) }
        : {};
      return { id: row.id, class: verdict.kind, before: written.oldDigest, after: written.newDigest ?? '', ...values };
    }
    case 'unchanged':
      return { id: row.id, class: 'unchanged' };
    case 'app':
      return { id: row.id, class: 'app', reason: verdict.changedSinceMigration ? 'target_changed_in_app' : null };
    case 'unrepairable':
      return { id: row.id, class: 'unrepairable', reason: 'parts_unrepairable', detail: verdict.detail };
  }
}
