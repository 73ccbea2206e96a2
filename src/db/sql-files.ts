import { readFileSync } from 'node:fs';

const SQL_DIR = new URL('../../sql/', import.meta.url);

/** Reads one of the project's sql/ files. */
export function readSqlFile(name: 'legacy.sql' | 'target.sql' | 'target-artist-id.sql' | 'state.sql'): string {
  return readFileSync(new URL(name, SQL_DIR), 'utf8');
}

/** Quotes an identifier for splicing into DDL (schema names come from a flag). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
