import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { createTableSql } from './snapshot-ddl.ts';
import { applySnapshotSettings, tableChecksum } from './snapshot-checksum.ts';
import { checkSnapshotFiles, type SnapshotManifest, type TableSnapshot } from './snapshot-manifest.ts';
import { quoteIdent } from './sql-files.ts';

export interface SnapshotCheck {
  subject: string;
  ok: boolean;
  detail: string;
}

/** Streams one data file into a table with COPY FROM. */
export async function copyIn(client: pg.ClientBase, dir: string, table: TableSnapshot, target: string): Promise<void> {
  const statement = `copy ${target} (${table.data.columns.map(quoteIdent).join(', ')}) from stdin`;
  await pipeline(createReadStream(join(dir, table.data.file)), client.query(copyFrom(statement)));
}

export function compareChecksum(subject: string, expected: { rows: number; digest: string }, actual: { rows: number; digest: string }): SnapshotCheck {
  const ok = expected.rows === actual.rows && expected.digest === actual.digest;
  return {
    subject,
    ok,
    detail: ok ? `${actual.rows} rows, digest ${actual.digest}` : `${actual.rows} rows, digest ${actual.digest}; manifest: ${expected.rows} rows, digest ${expected.digest}`,
  };
}

/**
 * Reads the snapshot back: each file's sha256 against the manifest, then each data file loaded into a
 * temporary table (in a transaction that is rolled back) and its server-side checksum compared with the
 * one taken from the live table at snapshot time. With `live`, the live tables are checked too.
 */
export async function verifySnapshot(
  pool: pg.Pool,
  dir: string,
  manifest: SnapshotManifest,
  options: { live: boolean; statementTimeoutMs: number; lockTimeoutMs: number },
): Promise<SnapshotCheck[]> {
  const checks: SnapshotCheck[] = (await checkSnapshotFiles(dir, manifest)).map((c) => ({ subject: `file ${c.file}`, ok: c.ok, detail: c.detail }));
  if (checks.some((c) => !c.ok)) return checks;
  const client = await pool.connect();
  try {
    await client.query('begin');
    await applySnapshotSettings(client, options);
    for (const [index, table] of manifest.tables.entries()) {
      const scratch = quoteIdent(`recoup_verify_${index}`);
      await client.query(createTableSql(table, scratch, { temporary: true }));
      await copyIn(client, dir, table, scratch);
      checks.push(compareChecksum(`read back ${table.printed}`, table.data, await tableChecksum(client, scratch, table.data.columns)));
      await client.query(`drop table ${scratch}`);
      if (options.live) checks.push(compareChecksum(`live ${table.printed}`, table.data, await tableChecksum(client, table.printed, table.data.columns)));
    }
  } finally {
    await client.query('rollback').catch(() => {});
    client.release();
  }
  return checks;
}
