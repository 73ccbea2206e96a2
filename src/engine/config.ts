import { z } from 'zod';
import { DEFAULT_STATE_SCHEMA } from './state-schema.ts';
import { LOG_LEVELS } from './logger.ts';

/**
 * Flag schemas: raw commander values in, trusted types out. Each command's schema is `.strict()`, so a
 * flag that reaches a command it doesn't belong to is an error rather than silently ignored.
 */
const uuid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a uuid');
const positiveInt = (max: number) => z.coerce.number().int().min(1).max(max);
const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier');

export const connectionFlags = {
  databaseUrl: z.string().min(1).optional(),
  sslCa: z.string().min(1).optional(),
  insecureTls: z.boolean().default(false),
  allowPlaintext: z.boolean().default(false),
};

export const outputFlags = {
  stateSchema: identifier.default(DEFAULT_STATE_SCHEMA),
  reportDir: z.string().min(1).optional(),
  json: z.boolean().default(false),
  logLevel: z.enum(LOG_LEVELS).default('info'),
  progress: z.boolean().default(true),
  showValues: z.boolean().default(false),
  // Supabase caps the postgres role at 2 minutes by default; each transaction sets its own, locally.
  statementTimeout: z.coerce.number().int().min(1_000).default(120_000),
  lockTimeout: z.coerce.number().int().min(100).default(10_000),
};

export const walkFlags = {
  batchSize: positiveInt(100_000).default(500),
  concurrency: positiveInt(64).default(2),
  room: z.array(uuid).optional(),
  since: z.iso.datetime({ offset: true }).or(z.iso.date()).transform((value) => new Date(value)).optional(),
  limit: positiveInt(Number.MAX_SAFE_INTEGER).optional(),
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
  targetBatchMs: z.coerce.number().int().min(50).optional(),
  timeBudget: duration.optional(),
  // Pause while more sessions than this wait on locks: the app is queueing behind someone.
  maxLockWaiters: z.coerce.number().int().min(0).default(10),
  maxReplicationLag: z.coerce.number().min(0).default(30),
  throttle: z.boolean().default(true),
};

export const budgetFlags = {
  maxSkippedRatio: z.coerce.number().min(0).max(1).optional(),
  maxSkippedRooms: z.coerce.number().int().min(0).optional(),
  maxFailed: z.coerce.number().int().min(0).optional(),
};

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
  .strict();
export type BackfillFlags = z.infer<typeof backfillFlags>;

export const commonFlags = z.object({ ...connectionFlags, ...outputFlags });
export type CommonFlags = z.infer<typeof commonFlags>;

/** Every problem at once, one per line, each naming the flag. */
export function describeFlagErrors(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const flag = issue.path.length > 0 ? `--${String(issue.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : 'flags';
      return `${flag}: ${issue.message}`;
    })
    .join('\n');
}
