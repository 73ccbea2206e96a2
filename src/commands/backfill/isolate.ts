import { scopeFilter, type RoomRange } from '../../engine/source-reads.ts';
import { isConnectionLoss, withTransientRetry } from '../../engine/transactions.ts';
import { sessionIdForRoom } from '../../migration/session-id.ts';
import type { BackfillRoomResult } from '../../report/room-result.ts';
import { describeDatabaseError, scrubSecrets } from '../../engine/errors.ts';
import { backfillRange, type BackfillBatchContext } from './batch.ts';

/**
 * A batch the database rejected is replayed one room per transaction: the rooms that succeed commit,
 * and each room that fails again is reported `failed` with the database's own error message.
 */
export async function isolateFailingRooms(
  context: BackfillBatchContext,
  range: RoomRange,
  secrets: readonly string[],
): Promise<BackfillRoomResult[]> {
  const filter = scopeFilter(context.scope, 3);
  const { rows } = await context.pool.query<{ id: string; memory_count: number }>(
    `select r.id::text, (select count(*) from public.memories m where m.room_id = r.id)::int as memory_count
       from public.rooms r
      where ($1::uuid is null or r.id > $1::uuid) and r.id <= $2::uuid and ${filter.sql}
      order by r.id`,
    [range.after, range.last, ...filter.params],
  );
  const results: BackfillRoomResult[] = [];
  for (const room of rows) {
    try {
      results.push(...(await withTransientRetry(() => backfillRange(context, range, [room.id]))));
    } catch (error) {
      // A lost connection is not this room's fault: it ends the run, as it would any batch.
      if (isConnectionLoss(error)) throw error;
      const message = scrubSecrets(describeDatabaseError(error), secrets);
      context.logger.error({ roomId: room.id, reason: 'room_failed', error: message }, 'Room failed; the rest of its batch continues');
      results.push({
        roomId: room.id,
        sessionId: sessionIdForRoom(room.id),
        status: 'failed',
        reasons: ['room_failed'],
        memories: { total: room.memory_count, migrated: 0, skipped: 0 },
        skipped: [],
        error: message,
      });
    }
  }
  return results;
}
