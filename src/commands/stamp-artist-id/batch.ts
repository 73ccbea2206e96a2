import type pg from 'pg';
import type { ArtistRoomPage } from './rooms.ts';
import { configureStampTransaction } from './state.ts';
import { overwriteConflicts, refreshOverwrittenLedger, stampSessions, type StampMode, type StampOutcome } from './stamp.ts';
import { inTransaction } from '../../engine/transactions.ts';
import { sessionIdForRoom } from '../../migration/session-id.ts';
import type { ReasonCode } from '../../migration/reasons.ts';

export interface StampBatchContext {
  pool: pg.Pool;
  stateSchema: string;
  dryRun: boolean;
  /** Stamp under session_replication_role = replica so set_updated_at doesn't fire. */
  preserveUpdatedAt: boolean;
  mode: Omit<StampMode, 'lockArtists'>;
  /** --overwrite-conflicts: where old values are kept (in a dry run: only counted). */
  overwrite: { table: string; runId: string } | null;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

/** One line of stamp-artist-id's rooms.jsonl. */
export interface StampRoomResult {
  roomId: string;
  sessionId: string;
  /** stamped / overwritten (in a dry run: would be), unchanged, conflict, skipped. */
  status: 'stamped' | 'overwritten' | 'unchanged' | 'conflict' | 'skipped';
  reasons: ReasonCode[];
  /** The contract's per-room fields; stamp-artist-id reads no memories, so these stay zero. */
  memories: { total: number; migrated: number; skipped: number };
  skipped: [];
  artistId: string;
  /** sessions.artist_id before this run (null when NULL or the session is absent). */
  previousArtistId: string | null;
}

/**
 * One batch in one READ COMMITTED transaction: one statement re-reads the rooms, locks their artists,
 * stamps and classifies the derived sessions (then, with --overwrite-conflicts, a second one replaces
 * the conflicts). A dry run runs the classification in a read-only transaction: no UPDATE at all.
 */
export async function stampPage(context: StampBatchContext, page: ArtistRoomPage): Promise<StampRoomResult[]> {
  return inTransaction(
    context.pool,
    {
      isolation: 'read committed',
      readOnly: context.dryRun,
      rollback: context.dryRun,
      statementTimeoutMs: context.statementTimeoutMs,
      lockTimeoutMs: context.lockTimeoutMs,
    },
    async (client) => {
      await configureStampTransaction(client, { replica: !context.dryRun && context.preserveUpdatedAt });
      const outcomes = await stampSessions(
        client,
        page.roomIds.map((roomId) => ({ roomId, sessionId: sessionIdForRoom(roomId) })),
        // With triggers on, the FK's own trigger guards against a concurrently deleted artist.
        { ...context.mode, lockArtists: !context.dryRun && context.preserveUpdatedAt },
      );
      if (!context.dryRun && context.overwrite) {
        const conflicts = outcomes.filter((o) => o.action === 'artist_conflict' && o.currentArtistId !== null);
        const overwritten = await overwriteConflicts(
          client,
          conflicts.map((o) => ({ roomId: o.roomId, sessionId: o.sessionId, oldArtistId: o.currentArtistId!, newArtistId: o.artistId })),
          context.overwrite,
        );
        for (const outcome of conflicts) outcome.written = overwritten.has(outcome.sessionId);
        const rewritten = conflicts.filter((o) => o.written).map((o) => ({ sessionId: o.sessionId, oldArtistId: o.currentArtistId! }));
        await refreshOverwrittenLedger(client, context.stateSchema, rewritten);
      }
      return outcomes.map((outcome) => toResult(outcome, context));
    },
  );
}

function toResult(outcome: StampOutcome, context: StampBatchContext): StampRoomResult {
  const base = {
    roomId: outcome.roomId,
    sessionId: outcome.sessionId,
    memories: { total: 0, migrated: 0, skipped: 0 },
    skipped: [] as [],
    artistId: outcome.artistId,
    previousArtistId: outcome.currentArtistId,
  };
  // In a dry run nothing is written: report what a real run would do.
  const wouldWrite = context.dryRun || outcome.written;
  switch (outcome.action) {
    case 'unchanged':
      return { ...base, status: 'unchanged', reasons: [] };
    case 'stamp':
      return wouldWrite ? { ...base, status: 'stamped', reasons: [] } : { ...base, status: 'skipped', reasons: ['concurrent_change'] };
    case 'artist_conflict':
      if (!context.overwrite) return { ...base, status: 'conflict', reasons: ['artist_conflict'] };
      return wouldWrite
        ? { ...base, status: 'overwritten', reasons: ['artist_conflict'] }
        : { ...base, status: 'skipped', reasons: ['artist_conflict', 'concurrent_change'] };
    case 'artist_missing':
    case 'room_not_migrated':
      return { ...base, status: 'skipped', reasons: [outcome.action] };
  }
}
