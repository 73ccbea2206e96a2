import type pg from 'pg';
import { quoteIdent, readSqlFile } from './sql-files.ts';

export const DEFAULT_STATE_SCHEMA = 'recoup_migrate';

/** The state schema's DDL for a given schema name; every statement is IF NOT EXISTS. */
export function stateSchemaDdl(schema: string): string {
  return readSqlFile('state.sql').replaceAll('__SCHEMA__', quoteIdent(schema));
}

export async function stateSchemaExists(db: pg.ClientBase | pg.Pool, schema: string): Promise<boolean> {
  const { rows } = await db.query<{ present: boolean }>(
    `select to_regclass($1) is not null as present`,
    [`${quoteIdent(schema)}.target_ledger`],
  );
  return rows[0]?.present === true;
}

/**
 * Creates the state schema on first use. Runs in a transaction under a transaction-scoped advisory lock,
 * so that two processes starting at once don't race on CREATE TABLE IF NOT EXISTS.
 */
export async function ensureStateSchema(pool: pg.Pool, schema: string): Promise<void> {
  if (await stateSchemaExists(pool, schema)) return;
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query(`select pg_advisory_xact_lock(hashtext($1))`, [`recoup-migrate:state-schema:${schema}`]);
    await client.query(stateSchemaDdl(schema));
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
