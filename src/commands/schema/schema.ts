import type pg from 'pg';
import { readSqlFile } from '../../engine/sql-files.ts';
import { inTransaction } from '../../engine/transactions.ts';
import { summaryHead, type RunSummary } from '../../report/summary.ts';
import { PreconditionError } from '../../engine/errors.ts';
import type { CommandContext } from '../../engine/context.ts';

export interface SchemaOptions {
  legacy: boolean;
  target: boolean;
  /** Create sessions without artist_id, as production was before stamp-artist-id. */
  withoutArtistId: boolean;
}

const LEGACY_TABLES = ['accounts', 'rooms', 'memories', 'segments', 'segment_rooms', 'error_logs', 'memory_emails'];
const TARGET_TABLES = ['sessions', 'chats', 'chat_messages', 'chat_reads', 'workflow_runs'];

/** Creates the legacy and/or target schema in an empty database. Refuses to touch existing tables. */
export async function applySchema(pool: pg.Pool, options: SchemaOptions): Promise<string[]> {
  if (!options.legacy && !options.target) {
    throw new PreconditionError('Nothing to create: pass --legacy, --target, or both.');
  }
  const wanted = [...(options.legacy ? LEGACY_TABLES : []), ...(options.target ? TARGET_TABLES : [])];
  const { rows } = await pool.query<{ name: string }>(
    `select t as name from unnest($1::text[]) t where to_regclass('public.' || t) is not null`,
    [wanted],
  );
  if (rows.length > 0) {
    throw new PreconditionError(
      `Refusing to create the schema: ${rows.map((r) => `public.${r.name}`).join(', ')} already exist. ` +
        '`recoup-migrate schema` is for empty test, demo and staging databases, never production.',
    );
  }
  if (options.target && !options.legacy) {
    const { rows: accounts } = await pool.query<{ present: boolean }>(`select to_regclass('public.accounts') is not null as present`);
    if (!accounts[0]?.present) {
      throw new PreconditionError('The target schema references public.accounts: create the legacy schema too (--legacy).');
    }
  }
  const applied: string[] = [];
  await inTransaction(pool, { isolation: 'read committed', statementTimeoutMs: 60_000, lockTimeoutMs: 10_000 }, async (client) => {
    if (options.legacy) {
      await client.query(readSqlFile('legacy.sql'));
      applied.push('legacy.sql');
    }
    if (options.target) {
      await client.query(readSqlFile('target.sql'));
      applied.push('target.sql');
      if (!options.withoutArtistId) {
        await client.query(readSqlFile('target-artist-id.sql'));
        applied.push('target-artist-id.sql');
      }
    }
  });
  return applied;
}

export async function schema(options: SchemaOptions, context: CommandContext): Promise<RunSummary> {
  const applied = await applySchema(context.pool, options);
  context.logger.info({ applied, database: context.connection.display }, 'Schema created');
  return {
    ...summaryHead('schema', context, { dryRun: false, complete: true, exitCode: 0 }),
    reasons: {},
    reportDir: null,
    applied,
  };
}
