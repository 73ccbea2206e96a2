import { countReason, type ReasonCounts } from '../../migration/reasons.ts';
import { emptyRoomCounters } from '../../report/summary.ts';
import type { StampRoomResult } from './batch.ts';

/** The summary's `artistId` block: what happened to the rooms with an artist_id, by outcome. */
export interface ArtistIdCounters {
  /** Sessions whose NULL artist_id was set (dry run: would be). */
  populated: number;
  /** Sessions that already held the room's artist_id. */
  alreadyCorrect: number;
  /** Sessions holding a different artist_id (artist_conflict), overwritten or not. */
  conflicts: number;
  /** Of those, overwritten with --overwrite-conflicts (old values in <state>.artist_id_backup). */
  overwritten: number;
  /** Rooms whose artist account no longer exists (artist_missing): not stamped. */
  missingArtists: number;
  /** Rooms without a derived session (room_not_migrated). */
  roomsWithoutSession: number;
  /** Sessions the app changed between classification and write (concurrent_change): left alone. */
  concurrentChanges: number;
}

export class StampTally {
  readonly rooms = emptyRoomCounters();
  readonly reasons: ReasonCounts = {};
  readonly artistId: ArtistIdCounters = {
    populated: 0,
    alreadyCorrect: 0,
    conflicts: 0,
    overwritten: 0,
    missingArtists: 0,
    roomsWithoutSession: 0,
    concurrentChanges: 0,
  };

  add(result: StampRoomResult): void {
    this.rooms.total += 1;
    for (const reason of result.reasons) countReason(this.reasons, reason);
    if (result.reasons.includes('artist_conflict')) this.artistId.conflicts += 1;
    if (result.reasons.includes('concurrent_change')) this.artistId.concurrentChanges += 1;
    switch (result.status) {
      case 'stamped':
        this.rooms.migrated += 1;
        this.artistId.populated += 1;
        break;
      case 'overwritten':
        this.rooms.migrated += 1;
        this.artistId.overwritten += 1;
        break;
      case 'unchanged':
        this.rooms.unchanged += 1;
        this.artistId.alreadyCorrect += 1;
        break;
      case 'conflict':
        this.rooms.skipped += 1;
        break;
      case 'skipped':
        this.rooms.skipped += 1;
        if (result.reasons.includes('artist_missing')) this.artistId.missingArtists += 1;
        if (result.reasons.includes('room_not_migrated')) this.artistId.roomsWithoutSession += 1;
        break;
    }
  }
}
