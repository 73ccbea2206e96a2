import { readFileSync } from 'node:fs';
import { packagePath } from './package-root.ts';

/** Reads one of the project's sql/ files. */
export function readSqlFile(name: 'legacy.sql' | 'target.sql' | 'target-artist-id.sql' | 'state.sql'): string {
  return readFileSync(packagePath('sql', name), 'utf8');
}

/** Quotes an identifier for splicing into DDL (schema names come from a flag). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
