import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, readdir, statfs } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { KeptForeignKey, TableName } from './dependents.ts';
import { applySnapshotSettings, tableChecksum } from './snapshot-checksum.ts';
import { SNAPSHOT_DIR_MODE, SNAPSHOT_FILE_MODE, SNAPSHOT_FORMAT, UNMIGRATED_FILE, writeManifest, type SnapshotManifest, type TableSnapshot } from './snapshot-manifest.ts';
import { copiedColumns, readTableStructure } from './snapshot-structure.ts';
import { quoteIdent } from './sql-files.ts';
import { countUnmigrated, unmigratedRowsSql } from './snapshot-unmigrated.ts';

/** A reason the snapshot cannot be taken that the operator can fix: reported as a failed gate. */
export class SnapshotRefusal extends Error {
  override readonly name = 'SnapshotRefusal';
}

export interface SnapshotInput {
  tables: readonly TableName[];
  keptForeignKeys: readonly KeptForeignKey[];
  dropOrder: readonly TableName[];
  toolVersion: string;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

/** The snapshot directory must be absent or empty: a snapshot never mixes with older files. */
export async function assertEmptySnapshotDir(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new SnapshotRefusal(`Cannot read --snapshot-dir ${dir}: ${(error as Error).message}.`);
  }
  if (entries.length > 0) {
    throw new SnapshotRefusal(
      `--snapshot-dir ${dir} is not empty (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}); a snapshot never mixes with other files. ` +
        'Pass a new directory, e.g. --snapshot-dir ./snapshots/drop-legacy-$(date +%Y%m%dT%H%M%S).',
    );
  }
}

/**
 * Writes structure and data of every plan table from one repeatable-read transaction that first takes
 * ACCESS SHARE on all of them (as pg_dump does), so no table can be dropped or altered mid-snapshot and
 * every file shows the same moment. Data is streamed with COPY; nothing is held in memory.
 */
export async function writeSnapshot(pool: pg.Pool, dir: string, input: SnapshotInput): Promise<SnapshotManifest> {
  const absolute = resolve(dir);
  await assertEmptySnapshotDir(absolute);
  await mkdir(absolute, { recursive: true, mode: SNAPSHOT_DIR_MODE });
  await chmod(absolute, SNAPSHOT_DIR_MODE);
  await assertDiskSpace(pool, absolute, input.tables);

  const client = await pool.connect();
  try {
    await client.query('begin isolation level repeatable read read only');
    await applySnapshotSettings(client, input);
    await client.query(`lock table ${input.tables.map((t) => t.printed).join(', ')} in access share mode`);
    const { rows: info } = await client.query<{ snapshot: string; version: string; database: string }>(
      `select pg_catalog.txid_current_snapshot()::text as snapshot, pg_catalog.current_setting('server_version') as version,
              pg_catalog.current_database() as database`,
    );
    const tables: TableSnapshot[] = [];
    for (const table of input.tables) {
      const structure = await readTableStructure(client, table);
      const columns = copiedColumns(structure);
      const checksum = await tableChecksum(client, table.printed, columns);
      const file = `${table.schema}.${table.name}.copy`;
      const written = await copyOut(client, `copy ${table.printed} (${columns.map(quoteIdent).join(', ')}) to stdout`, join(absolute, file));
      tables.push({ ...structure, data: { file, columns, rows: checksum.rows, digest: checksum.digest, ...written } });
    }
    const names = new Set(input.tables.map((t) => `${t.schema}.${t.name}`));
    const hasRooms = names.has('public.rooms');
    const hasMemories = names.has('public.memories');
    const unmigrated = await countUnmigrated(client, { rooms: hasRooms, memories: hasMemories });
    const rejects = await copyOut(client, `copy (${unmigratedRowsSql({ rooms: hasRooms, memories: hasMemories })}) to stdout`, join(absolute, UNMIGRATED_FILE));
    await client.query('commit');
    const manifest: SnapshotManifest = {
      format: SNAPSHOT_FORMAT,
      toolVersion: input.toolVersion,
      serverVersion: info[0]?.version ?? 'unknown',
      database: info[0]?.database ?? 'unknown',
      createdAt: new Date().toISOString(),
      transactionSnapshot: info[0]?.snapshot ?? 'unknown',
      tables,
      keptForeignKeys: [...input.keptForeignKeys],
      dropOrder: [...input.dropOrder],
      unmigrated: { memories: unmigrated.memories, rooms: unmigrated.rooms, file: UNMIGRATED_FILE, sha256: rejects.sha256 },
    };
    // Written last: a directory without a manifest is an unfinished snapshot.
    await writeManifest(absolute, manifest);
    return manifest;
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

async function copyOut(client: pg.PoolClient, statement: string, path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  await pipeline(client.query(copyTo(statement)), tap, createWriteStream(path, { mode: SNAPSHOT_FILE_MODE, flags: 'wx' }));
  return { sha256: hash.digest('hex'), bytes };
}

/**
 * COPY text is about the size of the heap, and never more than heap + TOAST + indexes
 * (pg_total_relation_size), so that much free space is required before anything is written.
 */
async function assertDiskSpace(pool: pg.Pool, dir: string, tables: readonly TableName[]): Promise<void> {
  const { rows } = await pool.query<{ bytes: string }>(
    `select coalesce(sum(pg_total_relation_size(c.oid)), 0)::text as bytes
       from unnest($1::text[]) as t(name) join pg_class c on c.oid = to_regclass(t.name)`,
    [tables.map((t) => t.printed)],
  );
  const needed = Number(rows[0]?.bytes ?? 0);
  const stats = await statfs(dir);
  const free = Number(stats.bavail) * Number(stats.bsize);
  if (free < needed) {
    throw new SnapshotRefusal(
      `Not enough free disk space for the snapshot in ${dir}: ${free} bytes free, the tables take ${needed} bytes ` +
        '(pg_total_relation_size). Free some space or pass --snapshot-dir on a larger disk.',
    );
  }
}
