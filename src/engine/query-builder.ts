import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type Compilable,
} from 'kysely';
import type pg from 'pg';
import type { Database } from './types.ts';

/**
 * Kysely as a typed query builder only: queries are compiled here and run through node-postgres, on a
 * pool or on the client of a transaction already open (Kysely's own driver would want to own the
 * connection). Kysely's documented "split building and execution" setup.
 */
export const sqlBuilder = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

export async function execute<Row>(db: pg.Pool | pg.ClientBase, query: Compilable<Row>): Promise<{ rows: Row[]; rowCount: number }> {
  const compiled = query.compile();
  const result = await db.query(compiled.sql, compiled.parameters as unknown[]);
  return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
}
