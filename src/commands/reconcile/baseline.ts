import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { errorMessage, PreconditionError } from '../../engine/errors.ts';

/** One drift item of an earlier reconcile, by its identity: (roomId, code, item id). */
export interface DriftIdentity {
  roomId: string;
  code: string;
  id: string;
}

export interface BaselineCounts {
  /** Drift now that the baseline already had. */
  known: number;
  /** Drift now that the baseline did not have: only these fail the run. */
  new: number;
  /** Baseline drift in rooms walked now that is gone. */
  fixed: number;
  /** Baseline drift in rooms this run did not walk (out of scope or sample): neither fixed nor known. */
  notWalked: number;
}

const itemKey = (code: string, id: string): string => `${code}\u0000${id}`;

/**
 * The drift of an earlier run's rooms.jsonl, by room. Only the items are kept (three short strings
 * each), and each room's entry is dropped once judged, so memory shrinks as the run proceeds.
 */
export class Baseline {
  readonly path: string;
  private readonly byRoom: Map<string, Map<string, DriftIdentity>>;
  readonly counts: BaselineCounts = { known: 0, new: 0, fixed: 0, notWalked: 0 };

  private constructor(path: string, byRoom: Map<string, Map<string, DriftIdentity>>) {
    this.path = path;
    this.byRoom = byRoom;
  }

  /** Reads a rooms.jsonl written by reconcile. An unreadable file or a line that is not JSON: exit 2. */
  static async load(path: string): Promise<Baseline> {
    try {
      await access(path);
    } catch (error) {
      throw new PreconditionError(`--baseline ${path}: cannot read it (${errorMessage(error)}). Pass the rooms.jsonl of an earlier reconcile run.`);
    }
    const byRoom = new Map<string, Map<string, DriftIdentity>>();
    const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
    let number = 0;
    let reconcileLines = 0;
    for await (const text of lines) {
      number += 1;
      if (text.trim() === '') continue;
      let line: { roomId?: unknown; drift?: unknown };
      try {
        line = JSON.parse(text) as typeof line;
      } catch {
        throw new PreconditionError(`--baseline ${path}: line ${number} is not JSON. Pass the rooms.jsonl of an earlier reconcile run.`);
      }
      if (typeof line.roomId !== 'string' || !Array.isArray(line.drift)) continue;
      reconcileLines += 1;
      for (const item of line.drift as { code?: unknown; id?: unknown }[]) {
        if (typeof item.code !== 'string' || typeof item.id !== 'string') continue;
        const room = byRoom.get(line.roomId) ?? new Map<string, DriftIdentity>();
        room.set(itemKey(item.code, item.id), { roomId: line.roomId, code: item.code, id: item.id });
        byRoom.set(line.roomId, room);
      }
    }
    if (number > 0 && reconcileLines === 0) {
      throw new PreconditionError(`--baseline ${path}: no line has a "drift" list; is it another command's rooms.jsonl? Pass the rooms.jsonl of an earlier reconcile run.`);
    }
    return new Baseline(path, byRoom);
  }

  /**
   * Judges one room's current drift against the baseline: whether each item is known, and which
   * baseline items of the room are gone (fixed since).
   */
  judgeRoom(roomId: string, items: readonly { code: string; id: string }[]): { known: boolean[]; fixed: DriftIdentity[] } {
    const before = this.byRoom.get(roomId);
    this.byRoom.delete(roomId);
    const seen = new Set<string>();
    const known = items.map((item) => {
      const key = itemKey(item.code, item.id);
      seen.add(key);
      return before?.has(key) === true;
    });
    const fixed = before ? [...before.entries()].filter(([key]) => !seen.has(key)).map(([, item]) => item) : [];
    const knownCount = known.filter(Boolean).length;
    this.counts.known += knownCount;
    this.counts.new += known.length - knownCount;
    this.counts.fixed += fixed.length;
    return { known, fixed };
  }

  /** Call once at the end: counts the baseline items of rooms never judged. */
  finish(): BaselineCounts {
    for (const room of this.byRoom.values()) this.counts.notWalked += room.size;
    this.byRoom.clear();
    return { ...this.counts };
  }
}
