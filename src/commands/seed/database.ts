import pLimit from 'p-limit';
import type pg from 'pg';
import { insertDependents, insertMemories, type DependentCounts } from './memories.ts';
import { insertAccounts, insertRooms, type SeedParameters } from './rooms.ts';
import { planMemoryCounts } from './shape.ts';
import { quoteIdent } from '../../engine/sql-files.ts';
import type { Logger } from '../../engine/logger.ts';
import { PreconditionError } from '../../engine/errors.ts';
import type { Progress } from '../../engine/progress.ts';
import { applySchema } from '../schema/schema.ts';

export interface SeedOptions {
  rooms: number;
  seed: number;
  /** Average memories per room; production had ~2. */
  messagesPerRoom: number;
  /** Drop rooms.artist_id's FK (production may lack it) so that some rooms can name a deleted artist. */
  dropArtistFk: boolean;
  /** Chunks generated at once, each on its own connection. */
  concurrency: number;
}

export interface SeedResult {
  schemaCreated: string[];
  accounts: number;
  rooms: number;
  memories: number;
  dependents: DependentCounts;
  largestRoom: number;
  /** Whether rooms naming a deleted artist were seeded (only possible without the artist FK). */
  danglingArtists: boolean;
}

// Rooms per generated chunk: one statement each, small enough for a progress bar to move.
const ROOMS_PER_CHUNK = 2_000;
// Accounts: one user per this many rooms, one artist per this many rooms.
const ROOMS_PER_ACCOUNT = 6;
const ROOMS_PER_ARTIST = 40;
const LEGACY_TABLE_PROBE = 'public.rooms';
const TARGET_TABLE_PROBE = 'public.sessions';

/** Creates what is missing of the schema, refuses a database that already has rooms, then generates. */
export async function seedDatabase(
  pool: pg.Pool,
  options: SeedOptions,
  tools: { logger: Logger; progress: Progress },
): Promise<SeedResult> {
  const schemaCreated = await ensureSchema(pool);
  const { rows } = await pool.query<{ any: boolean }>('select exists (select 1 from public.rooms) as any');
  if (rows[0]?.any) {
    throw new PreconditionError(
      'public.rooms already has rows: seed only fills an empty legacy schema (it is for test, demo and bench databases). ' +
        'Seed into a fresh database, e.g. `createdb recoup_seed` and pass --database-url for it.',
    );
  }
  const danglingArtists = await artistForeignKeyAbsent(pool, options.dropArtistFk);
  const plan = planMemoryCounts(options.rooms, options.messagesPerRoom);
  const parameters: SeedParameters = {
    seed: String(options.seed),
    accounts: Math.max(1, Math.ceil(options.rooms / ROOMS_PER_ACCOUNT)),
    artists: Math.max(1, Math.ceil(options.rooms / ROOMS_PER_ARTIST)),
    plan,
    danglingArtists,
  };
  const chunks: Array<[number, number]> = [];
  for (let first = 1; first <= options.rooms; first += ROOMS_PER_CHUNK) {
    chunks.push([first, Math.min(options.rooms, first + ROOMS_PER_CHUNK - 1)]);
  }
  const accounts = await insertAccounts(pool, parameters);
  const limit = pLimit(options.concurrency);
  let rooms = 0;
  let memories = 0;
  const dependents: DependentCounts = { segments: 0, segmentRooms: 0, errorLogs: 0, memoryEmails: 0 };
  tools.progress.start(options.rooms);
  try {
    await Promise.all(
      chunks.map(([first, last]) =>
        limit(async () => {
          const client = await pool.connect();
          try {
            // Synthetic data: losing the last commits on a crash costs nothing, waiting for the WAL flush does.
            await client.query('set synchronous_commit = off');
            // The generating expressions are large: JIT compiling them costs seconds per statement.
            await client.query('set jit = off');
            const chunkRooms = await insertRooms(client, parameters, first, last);
            const chunkMemories = await insertMemories(client, parameters, first, last);
            const counts = await insertDependents(client, parameters, first, last);
            rooms += chunkRooms;
            memories += chunkMemories;
            for (const key of Object.keys(dependents) as Array<keyof DependentCounts>) dependents[key] += counts[key];
          } finally {
            client.release();
          }
          tools.progress.increment(last - first + 1);
        }),
      ),
    );
  } finally {
    tools.progress.stop();
  }
  await pool.query('analyze public.accounts, public.rooms, public.memories');
  tools.logger.info({ rooms, memories, accounts, ...dependents }, 'Seeded synthetic legacy data');
  return { schemaCreated, accounts, rooms, memories, dependents, largestRoom: plan.giantCount, danglingArtists };
}

/** applySchema for whichever half (legacy, target) is absent; a half-present schema is refused by it. */
async function ensureSchema(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ legacy: boolean; target: boolean }>(
    'select to_regclass($1) is not null as legacy, to_regclass($2) is not null as target',
    [LEGACY_TABLE_PROBE, TARGET_TABLE_PROBE],
  );
  const present = rows[0] ?? { legacy: false, target: false };
  const created: string[] = [];
  if (!present.legacy) created.push(...(await applySchema(pool, { legacy: true, target: false, withoutArtistId: false })));
  if (!present.target) created.push(...(await applySchema(pool, { legacy: false, target: true, withoutArtistId: false })));
  return created;
}

/** True when rooms.artist_id has no foreign key (after dropping it, when asked to). */
async function artistForeignKeyAbsent(pool: pg.Pool, drop: boolean): Promise<boolean> {
  const { rows } = await pool.query<{ name: string }>(
    `select c.conname as name from pg_constraint c
      where c.conrelid = 'public.rooms'::regclass and c.contype = 'f'
        and c.conkey = array[(select attnum from pg_attribute where attrelid = 'public.rooms'::regclass and attname = 'artist_id')]`,
  );
  if (rows.length === 0) return true;
  if (!drop) return false;
  for (const { name } of rows) {
    await pool.query(`alter table public.rooms drop constraint ${quoteIdent(name)}`);
  }
  return true;
}

