import { z } from 'zod';
import { DEFAULT_STATE_SCHEMA } from './state-schema.ts';
import { LOG_LEVELS } from './logger.ts';

/**
 * Flag schemas: raw commander values in, trusted types out. Each command's schema is `.strict()`, so a
 * flag that reaches a command it doesn't belong to is an error rather than silently ignored.
 */
const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a uuid');

/**
 * A whole-number flag with one message for every way it can be wrong (not a number, a fraction, out of
 * range, beyond 2^53), so an operator reads what is accepted, once.
 */
export function wholeNumber(min: number, max: number = Number.MAX_SAFE_INTEGER) {
  const error = max === Number.MAX_SAFE_INTEGER ? `must be a whole number of at least ${min}` : `must be a whole number from ${min} to ${max}`;
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** A decimal flag, likewise with one message. */
export function decimal(min: number, max: number = Number.MAX_SAFE_INTEGER, options: { aboveMin?: boolean } = {}) {
  const unbounded = max === Number.MAX_SAFE_INTEGER;
  const error = options.aboveMin
    ? `must be a number above ${min}${unbounded ? '' : `, up to ${max}`}`
    : unbounded ? `must be a number of at least ${min}` : `must be a number from ${min} to ${max}`;
  const base = z.coerce.number({ error });
  return (options.aboveMin ? base.gt(min, { error }) : base.min(min, { error })).max(max, { error });
}
const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier');

export const connectionFlags = {
  databaseUrl: z.string().min(1).optional(),
  sslCa: z.string().min(1).optional(),
  insecureTls: z.boolean().default(false),
  allowPlaintext: z.boolean().default(false),
};

/**
 * The shared flags beyond connection, --json and --log-level come in groups, and a command takes only the
 * groups it honours (status keeps no report, schema no state): --help shows no flag that does nothing.
 */
export const SHARED_GROUPS = ['state', 'reports', 'values', 'progress', 'timeouts'] as const;
export type SharedGroup = (typeof SHARED_GROUPS)[number];

const groupFlags = {
  state: { stateSchema: identifier.default(DEFAULT_STATE_SCHEMA) },
  reports: { reportDir: z.string().min(1).optional() },
  values: { showValues: z.boolean().default(false) },
  progress: { progress: z.boolean().default(true) },
  timeouts: {
    // Supabase caps the postgres role at 2 minutes by default; each transaction sets its own, locally.
    statementTimeout: wholeNumber(1_000).default(120_000),
    lockTimeout: wholeNumber(100).default(10_000),
  },
};

/** --json and --log-level, which every command takes. */
const baseOutputFlags = {
  json: z.boolean().default(false),
  logLevel: z.enum(LOG_LEVELS).default('info'),
};

/** Every shared output flag: the commands that walk rooms or messages take them all. */
export const outputFlags = {
  ...baseOutputFlags,
  ...groupFlags.state,
  ...groupFlags.reports,
  ...groupFlags.values,
  ...groupFlags.progress,
  ...groupFlags.timeouts,
};

type Intersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** The shared flags of a command that takes only some groups. */
export function sharedFlags<G extends SharedGroup>(
  groups: readonly G[],
): typeof connectionFlags & typeof baseOutputFlags & Intersection<(typeof groupFlags)[G]> {
  return Object.assign({}, connectionFlags, baseOutputFlags, ...groups.map((group) => groupFlags[group]));
}

export const walkFlags = {
  batchSize: wholeNumber(1, 100_000).default(500),
  concurrency: wholeNumber(1, 64).default(2),
  room: z.array(uuid).optional(),
  since: z
    .union([z.iso.datetime({ offset: true }), z.iso.date()], {
      error: 'must be an ISO time with its offset (2026-11-01T00:00:00Z, 2026-11-01T09:30:00+02:00) or a date (2026-11-01)',
    })
    .transform((value) => new Date(value))
    .optional(),
  limit: wholeNumber(1).optional(),
};

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** "90s", "15m", "2h", "500ms", or a number of milliseconds. */
export const duration = z
  .string()
  .regex(/^\d+(\.\d+)?(ms|s|m|h)?$/, 'must be a duration like 90s, 15m, 2h or a number of ms')
  .transform((value) => {
    const unit = /(ms|s|m|h)$/.exec(value)?.[1] ?? 'ms';
    return Math.round(Number.parseFloat(value) * (DURATION_UNITS_MS[unit] ?? 1));
  });

/** Scale and politeness: adaptive batches, time budget, throttling. */
export const pacingFlags = {
  targetBatchMs: wholeNumber(50).optional(),
  timeBudget: duration.optional(),
  // Pause while more sessions than this wait on locks: the app is queueing behind someone.
  maxLockWaiters: wholeNumber(0).default(10),
  maxReplicationLag: decimal(0).default(30),
  throttle: z.boolean().default(true),
};

export const budgetFlags = {
  maxSkippedRatio: decimal(0, 1).optional(),
  maxSkippedRooms: wholeNumber(0).optional(),
  maxFailed: wholeNumber(0).optional(),
};

/**
 * --undo takes back a whole run: a flag that would narrow or pace a walk is refused beside it rather than
 * ignored (an undo that looked scoped to one room removed a whole run's rows).
 */
export function refuseWithUndo<T extends { undo?: string | undefined }>(flags: readonly (keyof T & string)[]) {
  return (value: T, context: z.RefinementCtx) => {
    if (value.undo === undefined) return;
    for (const flag of flags) {
      if (value[flag] === undefined) continue;
      context.addIssue({ code: 'custom', path: [flag], message: 'does not apply with --undo, which takes back the whole run; leave it out' });
    }
  };
}

const UNDO_REFUSES_BACKFILL = ['room', 'since', 'limit', 'maxSkippedRatio', 'maxSkippedRooms', 'maxFailed', 'targetBatchMs', 'timeBudget'] as const;

export const backfillFlags = z
  .object({
    ...connectionFlags,
    ...outputFlags,
    ...walkFlags,
    ...budgetFlags,
    ...pacingFlags,
    dryRun: z.boolean().default(false),
    undo: uuid.optional(),
  })
  .strict()
  .superRefine(refuseWithUndo([...UNDO_REFUSES_BACKFILL]));
export type BackfillFlags = z.infer<typeof backfillFlags>;

/** What every command's flags hold, whichever shared groups it takes. */
export type BaseFlags = z.infer<z.ZodObject<typeof connectionFlags & typeof baseOutputFlags>> &
  Partial<z.infer<z.ZodObject<typeof groupFlags.state & typeof groupFlags.reports & typeof groupFlags.values & typeof groupFlags.progress & typeof groupFlags.timeouts>>>;

/** Every wrong flag at once, one line each, naming the flag and what it accepts (its first problem only). */
export function describeFlagErrors(error: z.ZodError): string {
  const lines = new Map<string, string>();
  for (const issue of error.issues) {
    const flag = issue.path.length > 0 ? `--${String(issue.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : 'flags';
    if (!lines.has(flag)) lines.set(flag, `${flag}: ${issue.message}`);
  }
  return [...lines.values()].join('\n');
}
