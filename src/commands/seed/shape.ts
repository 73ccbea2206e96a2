/**
 * The shape of the synthetic legacy data `seed` writes: rates of every fault and the distribution of
 * memories per room, calibrated on the production facts (schema.md: 23,252 rooms, ~46k memories, one
 * room with 3,671 memories, 347 rooms of deleted accounts).
 */

// Production: 46,212 memories over 23,252 rooms.
export const PRODUCTION_MEMORIES_PER_ROOM = 2;
// Production's largest room held 3,671 of ~46k memories: ~7.9% of all memories in one room.
export const GIANT_ROOM_SHARE = 3_671 / 46_212;
// The biggest room production had; the giant room never exceeds it.
export const GIANT_ROOM_MAX = 3_671;
// Memories per room follow a shifted Pareto (Lomax) tail: 1 + floor(scale * (u^(-1/alpha) - 1)).
// alpha 1.3 gives "most rooms 1–3 memories, a few with hundreds".
export const MEMORY_TAIL_ALPHA = 1.3;

/** Shares of rooms (0..1), each drawn from its own hash. */
export const ROOM_RATES = {
  // Rooms created but never written to.
  empty: 0.04,
  // rooms.account_id is null.
  nullAccount: 0.005,
  // The account was deleted (production: 347 of 23,252 ≈ 1.5%).
  deletedAccount: 0.015,
  // Rooms on the "Nullable Account" sentinel.
  sentinelAccount: 0.003,
  nullTopic: 0.08,
  blankTopic: 0.02,
  // Production: 17,985 of 23,252 sessions got an artist.
  withArtist: 0.77,
  // Of the rooms with an artist: the artist account is gone (only when rooms.artist_id has no FK).
  deletedArtist: 0.01,
  // Copies of rooms: every memory shares one updated_at.
  copied: 0.03,
  // Rooms of the email flow: their memories get memory_emails rows.
  email: 0.04,
  inSegment: 0.15,
  withErrorLog: 0.02,
} as const;

/** Shares of memories (0..1) that carry a fault, whatever the era. */
export const MEMORY_FAULT_RATES = {
  malformed: 0.002,
  unsupportedRole: 0.002,
  empty: 0.002,
} as const;

// One room in this many gets a 100 kB+ message, and one in this many a tool argument > 2^53 (primes,
// so the two land in different rooms).
export const LARGE_MESSAGE_EVERY_ROOMS = 211;
export const BIG_INTEGER_EVERY_ROOMS = 97;
// The large message: a 60–100 character sentence repeated this many times (120–200 kB).
export const LARGE_MESSAGE_REPEAT = 2_000;
// Two messages of a user/assistant pair share one updated_at this often (written in one request).
export const SHARED_PAIR_TIME_RATE = 0.1;

/**
 * The AI SDK eras of message-shapes.md, as room time windows and shares of rooms. A room's memories take
 * the shapes of the era the room was created in.
 */
export const ERAS = [
  { shape: 'S0', from: '2025-02-10T00:00:00Z', to: '2025-02-14T00:00:00Z', share: 0.01 },
  { shape: 'S1', from: '2025-02-14T00:00:00Z', to: '2025-04-01T00:00:00Z', share: 0.12 },
  { shape: 'S2', from: '2025-04-01T00:00:00Z', to: '2025-04-30T00:00:00Z', share: 0.07 },
  { shape: 'S3', from: '2025-04-30T00:00:00Z', to: '2025-07-15T00:00:00Z', share: 0.25 },
  { shape: 'S4', from: '2025-07-15T00:00:00Z', to: '2026-01-15T00:00:00Z', share: 0.35 },
  { shape: 'S5', from: '2025-12-01T00:00:00Z', to: '2026-05-01T00:00:00Z', share: 0.2 },
] as const;

export interface MemoryCountPlan {
  /** Lomax scale that makes the ordinary rooms average what was asked. */
  scale: number;
  /** Largest count an ordinary room may get (well below the giant room). */
  cap: number;
  /** Room number (1-based) of the giant room, and its memory count. */
  giantRoom: number;
  giantCount: number;
}

/** Expected count of an ordinary room: 1 + Σ_{k=2..cap} P(count ≥ k), P(count ≥ k) = (1+(k-1)/scale)^-alpha. */
function expectedOrdinaryCount(scale: number, cap: number): number {
  let sum = 1;
  for (let k = 2; k <= cap; k++) sum += (1 + (k - 1) / scale) ** -MEMORY_TAIL_ALPHA;
  return sum;
}

// Bisection steps for the scale: plenty for a relative precision far below one memory.
const SCALE_SEARCH_STEPS = 60;

/**
 * Solves the distribution so that the expected total is `rooms × averagePerRoom`: one giant room with
 * ~7.9% of all memories, 4% empty rooms, the rest on the Lomax tail.
 */
export function planMemoryCounts(rooms: number, averagePerRoom: number): MemoryCountPlan {
  const total = rooms * averagePerRoom;
  const giantCount = rooms < 2 ? 0 : Math.min(GIANT_ROOM_MAX, Math.max(1, Math.round(total * GIANT_ROOM_SHARE)));
  const ordinaryRooms = Math.max(1, (rooms - 1) * (1 - ROOM_RATES.empty));
  const target = Math.max(1, (total - giantCount) / ordinaryRooms);
  const cap = Math.max(2, Math.floor(giantCount / 2));
  let low = 1e-6;
  let high = Math.max(1, target * 10);
  while (expectedOrdinaryCount(high, cap) < target && high < 1e9) high *= 2;
  for (let step = 0; step < SCALE_SEARCH_STEPS; step++) {
    const middle = (low + high) / 2;
    if (expectedOrdinaryCount(middle, cap) < target) low = middle;
    else high = middle;
  }
  // The giant room sits a third of the way through the room numbers, not at an edge.
  const giantRoom = rooms < 2 ? 0 : Math.max(1, Math.ceil(rooms / 3));
  return { scale: (low + high) / 2, cap, giantRoom, giantCount };
}
