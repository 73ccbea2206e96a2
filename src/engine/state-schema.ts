import type pg from 'pg';
import { quoteIdent, readSqlFile } from './sql-files.ts';
import { BOOKKEEPING_TIMEOUTS, inTransaction } from './transactions.ts';

export const DEFAULT_STATE_SCHEMA = 'recoup_migrate';

/**
 * The state schema's DDL for a given schema name; every statement is IF NOT EXISTS. CREATE SCHEMA only
 * when the schema is absent: Postgres checks CREATE on the database before IF NOT EXISTS, and a schema its
 * owner made for this role (the fix the preflight names to a role without that privilege) must do as it is.
 */
export async function stateSchemaDdl(db: pg.ClientBase | pg.Pool, schema: string): Promise<string> {
  const { rows } = await db.query<{ present: boolean }>('select to_regnamespace($1) is not null as present', [quoteIdent(schema)]);
  const tables = readSqlFile('state.sql').replaceAll('__SCHEMA__', quoteIdent(schema));
  return rows[0]?.present ? tables : `create schema if not exists ${quoteIdent(schema)};\n${tables}`;
}

export async function stateSchemaExists(db: pg.ClientBase | pg.Pool, schema: string): Promise<boolean> {
  const { rows } = await db.query<{ present: boolean }>(
    `select to_regclass($1) is not null as present`,
    [`${quoteIdent(schema)}.target_ledger`],
  );
  return rows[0]?.present === true;
}

/** Whether the target ledger records row versions (row_xmin, added in 0.2): older schemas get it on their next write. */
export async function ledgerHasRowXmin(db: pg.ClientBase | pg.Pool, schema: string): Promise<boolean> {
  const { rows } = await db.query<{ present: boolean }>(
    `select exists (select 1 from pg_attribute where attrelid = to_regclass($1) and attname = 'row_xmin' and not attisdropped) as present`,
    [`${quoteIdent(schema)}.target_ledger`],
  );
  return rows[0]?.present === true;
}

/** For a dry run: the state DDL inside its rolled-back transaction, where the schema is absent or older. */
export async function stateDdlIfNeeded(client: pg.ClientBase, schema: string): Promise<void> {
  if (!(await ledgerHasRowXmin(client, schema))) await client.query(await stateSchemaDdl(client, schema));
}

/** Creates the state schema on first use. */
export async function ensureStateSchema(pool: pg.Pool, schema: string): Promise<void> {
  if (await stateSchemaExists(pool, schema)) return;
  await applyStateDdl(pool, `recoup-migrate:state-schema:${schema}`, await stateSchemaDdl(pool, schema));
}

/**
 * Runs IF NOT EXISTS DDL of the tool's own state in one transaction, under the transaction-scoped
 * advisory lock `lockName` (pooler-safe), so that two processes starting at once don't race on it.
 */
export async function applyStateDdl(pool: pg.Pool, lockName: string, ddl: string): Promise<void> {
  await inTransaction(pool, { isolation: 'read committed', ...BOOKKEEPING_TIMEOUTS }, async (client) => {
    await client.query(`select pg_advisory_xact_lock(hashtext($1))`, [lockName]);
    await client.query(ddl);
  });
}

/**
 * Refreshes the planner's statistics of the ledgers. They grow by hundreds of thousands of rows within
 * one run, faster than autovacuum analyzes them, and with stale statistics the planner sorts the whole
 * ledger for every batch of the next command (seen: fix-parts 20× slower). Cheap: ANALYZE samples.
 */
export async function analyzeLedgers(db: pg.Pool, schema: string): Promise<void> {
  const state = quoteIdent(schema);
  await db.query(`analyze ${state}.room_ledger, ${state}.target_ledger`);
}
