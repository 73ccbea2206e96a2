import { messageScopeFilter, type MessageRange } from '../../engine/message-scope.ts';
import { isConnectionLoss, withTransientRetry } from '../../engine/transactions.ts';
import { describeDatabaseError, scrubSecrets } from '../../engine/errors.ts';
import { fixPartsRange, type BatchResult, type FixPartsBatchContext } from './batch.ts';
import type { ChatOutcome } from './report.ts';

/**
 * A batch the database rejected is replayed one message per range: the messages that succeed commit,
 * and each one that fails again is reported `failed` (room_failed) with the database's own error, so
 * one bad row cannot stop every run at the same place.
 */
export async function isolateFailingMessages(
  context: FixPartsBatchContext,
  range: MessageRange,
  secrets: readonly string[],
): Promise<BatchResult> {
  const filter = messageScopeFilter(context.scope, 3);
  const { rows } = await context.pool.query<{ id: string; chat_id: string; session_id: string }>(
    `select cm.id, cm.chat_id, c.session_id
       from public.chat_messages cm
       join public.chats c on c.id = cm.chat_id
      where ($1::text is null or cm.id > $1::text) and cm.id <= $2::text and ${filter.sql}
      order by cm.id`,
    [range.after, range.last, ...filter.params],
  );
  const total: BatchResult = { chats: [], conversions: 0, rows: 0 };
  let after = range.after;
  for (const message of rows) {
    const single = { after, last: message.id };
    after = message.id;
    try {
      const result = await withTransientRetry(() => fixPartsRange(context, single));
      total.chats.push(...result.chats);
      total.conversions += result.conversions;
      total.rows += result.rows;
    } catch (error) {
      // A lost connection is not this message's fault: it ends the run, as it would any batch.
      if (isConnectionLoss(error)) throw error;
      const detail = scrubSecrets(describeDatabaseError(error), secrets);
      context.logger.error({ messageId: message.id, chatId: message.chat_id, reason: 'room_failed', error: detail }, 'Message failed; the rest of its batch continues');
      const failed: ChatOutcome = {
        chatId: message.chat_id,
        sessionId: message.session_id,
        messages: [{ id: message.id, class: 'failed', reason: 'room_failed', detail }],
      };
      total.chats.push(failed);
      total.rows += 1;
    }
  }
  return total;
}
