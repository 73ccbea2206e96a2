import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { applySnapshotSettings, tableChecksum } from './checksum.ts';
import { checkSnapshotFiles, type SnapshotManifest, type TableSnapshot } from './manifest.ts';
import { quoteIdent } from '../../../engine/sql-files.ts';

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
 * Reads the snapshot back from disk: every file's sha256, size and row count against the manifest, which
 * recorded them from the bytes as they were written, in the same snapshot transaction as each table's
 * content checksum. With `live`, each live table's content checksum is compared with the manifest's
 * meanwhile, on the server. Equal bytes on disk and equal live rows: the files hold the live tables.
 * (That the bytes load back into the same rows is proven by `restore`, which checks after loading.)
 */
export async function verifySnapshot(
  pool: pg.Pool,
  dir: string,
  manifest: SnapshotManifest,
  options: { live: boolean; statementTimeoutMs: number; lockTimeoutMs: number },
): Promise<SnapshotCheck[]> {
  const [files, live] = await Promise.all([
    checkSnapshotFiles(dir, manifest),
    options.live ? checkLiveTables(pool, manifest, options) : Promise.resolve([]),
  ]);
  return [...files.map((c) => ({ subject: `file ${c.file}`, ok: c.ok, detail: c.detail })), ...live];
}

async function checkLiveTables(pool: pg.Pool, manifest: SnapshotManifest, timeouts: { statementTimeoutMs: number; lockTimeoutMs: number }): Promise<SnapshotCheck[]> {
  const client = await pool.connect();
  const checks: SnapshotCheck[] = [];
  try {
    await client.query('begin isolation level repeatable read read only');
    await applySnapshotSettings(client, timeouts);
    for (const table of manifest.tables) checks.push(compareChecksum(`live ${table.printed}`, table.data, await tableChecksum(client, table.printed, table.data.columns)));
  } finally {
    await client.query('rollback').catch(() => {});
    client.release();
  }
  return checks;
}
