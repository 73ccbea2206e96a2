import { createWriteStream } from 'node:fs';
import { chmod, mkdir, readdir, statfs } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { KeptForeignKey, TableName } from './dependents.ts';
import { applySnapshotSettings, CHECKSUM_ALGORITHM, checksumProbe, tableChecksum } from './snapshot-checksum.ts';
import { StreamDigest, syncDirectory, type FileDigest } from './snapshot-file-digest.ts';
import { SNAPSHOT_DIR_MODE, SNAPSHOT_FILE_MODE, SNAPSHOT_FORMAT, UNMIGRATED_FILE, writeManifest, type SnapshotManifest, type TableSnapshot } from './snapshot-manifest.ts';
import { copiedColumns, readCopiedColumns, readTableStructure } from './snapshot-structure.ts';
import { quoteIdent } from './sql-files.ts';
import { countUnmigrated, unmigratedRowsSql, type UnmigratedCounts } from './snapshot-unmigrated.ts';

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
 * every file shows the same moment. Data is streamed with COPY; nothing is held in memory. As each file
 * is written its bytes are digested (sha256, size, rows), and a second connection that imports the same
 * snapshot (pg_export_snapshot, as `pg_dump -j` does) computes each table's content checksum meanwhile:
 * the manifest ties the exact bytes on disk to the live rows they came from, at no extra pass over the
 * data. Every file and the directory are fsynced before the manifest names them.
 */
export async function writeSnapshot(pool: pg.Pool, dir: string, input: SnapshotInput): Promise<SnapshotManifest> {
  const absolute = resolve(dir);
  await assertEmptySnapshotDir(absolute);
  await mkdir(absolute, { recursive: true, mode: SNAPSHOT_DIR_MODE });
  await chmod(absolute, SNAPSHOT_DIR_MODE);
  await assertDiskSpace(pool, absolute, input.tables);

  const clients: pg.PoolClient[] = [];
  // Everything queued on the second connection: a failure waits for it to stop before returning.
  let settled: Promise<unknown> = Promise.resolve();
  try {
    const reader = await pool.connect();
    clients.push(reader);
    await reader.query('begin isolation level repeatable read read only');
    await applySnapshotSettings(reader, input);
    await reader.query(`lock table ${input.tables.map((t) => t.printed).join(', ')} in access share mode`);
    const { rows: info } = await reader.query<{ snapshot: string; version: string; database: string; exported: string }>(
      `select pg_catalog.txid_current_snapshot()::text as snapshot, pg_catalog.current_setting('server_version') as version,
              pg_catalog.current_database() as database, pg_catalog.pg_export_snapshot() as exported`,
    );
    const probe = await checksumProbe(reader);
    const exported = info[0]?.exported ?? '';

    // The reader streams the data files. Meanwhile a second connection joins the snapshot, computes the
    // checksums, then reads the structures (which the files do not need): neither waits for the other.
    const columns = await readCopiedColumns(reader, input.tables);
    const inPlan = inPlanFlags(input.tables);
    const onChecker = serialQueue();
    const joined = onChecker(async () => {
      const checker = await pool.connect();
      clients.push(checker);
      await joinSnapshot(checker, exported, input);
      return checker;
    });
    const pendingSums = input.tables.map((table, index) => onChecker(async () => tableChecksum(await joined, table.printed, columns[index]!)));
    const pendingCount = onChecker(async () => countUnmigrated(await joined, inPlan));
    const pendingStructures = input.tables.map((table) => onChecker(async () => readTableStructure(await joined, table)));
    settled = Promise.allSettled([joined, ...pendingSums, pendingCount, ...pendingStructures]);
    const files = await writeDataFiles(reader, absolute, input.tables, columns, inPlan);
    const sums = await Promise.all(pendingSums);
    const unmigrated = await pendingCount;
    const structures = await Promise.all(pendingStructures);

    const tables: TableSnapshot[] = structures.map((structure, index) => {
      const file = files.tables[index]!;
      const checksum = sums[index]!;
      const copied = columns[index]!;
      // Both connections read the same snapshot, with the tables locked against ALTER: these only fail if that premise does.
      if (copiedColumns(structure).join(',') !== copied.join(',')) {
        throw new Error(`${structure.printed}: its columns changed while the snapshot was taken (${copied.join(', ')} → ${copiedColumns(structure).join(', ')}); the snapshot is not consistent.`);
      }
      if (file.digest.lines !== checksum.rows) {
        throw new Error(`${structure.printed}: COPY wrote ${file.digest.lines} rows but the checksum counted ${checksum.rows} in the same snapshot; the snapshot is not consistent.`);
      }
      return { ...structure, data: { file: file.file, columns: copied, rows: checksum.rows, digest: checksum.digest, sha256: file.digest.sha256, bytes: file.digest.bytes } };
    });
    if (files.rejects.lines !== unmigrated.memories + unmigrated.rooms) {
      throw new Error(`${UNMIGRATED_FILE}: COPY wrote ${files.rejects.lines} rows but ${unmigrated.memories + unmigrated.rooms} were counted in the same snapshot; the snapshot is not consistent.`);
    }
    for (const client of clients) await client.query('commit');
    const manifest: SnapshotManifest = {
      format: SNAPSHOT_FORMAT,
      toolVersion: input.toolVersion,
      serverVersion: info[0]?.version ?? 'unknown',
      database: info[0]?.database ?? 'unknown',
      createdAt: new Date().toISOString(),
      transactionSnapshot: info[0]?.snapshot ?? 'unknown',
      checksum: { algorithm: CHECKSUM_ALGORITHM, probe },
      tables,
      keptForeignKeys: [...input.keptForeignKeys],
      dropOrder: [...input.dropOrder],
      unmigrated: { memories: unmigrated.memories, rooms: unmigrated.rooms, file: UNMIGRATED_FILE, sha256: files.rejects.sha256 },
    };
    // Written last: a directory without a manifest is an unfinished snapshot.
    await writeManifest(absolute, manifest);
    await syncDirectory(absolute);
    return manifest;
  } catch (error) {
    // Closing the connections ends their transactions, even with a COPY cut off mid-stream; what is
    // still queued for the second one then fails at once. One still connecting is closed when it lands.
    for (const client of clients.splice(0)) client.release(true);
    await settled;
    for (const client of clients.splice(0)) client.release(true);
    throw error;
  } finally {
    for (const client of clients) client.release();
  }
}

/** A second connection on the reader's snapshot: begin, import it, same settings, same locks. */
async function joinSnapshot(client: pg.PoolClient, exported: string, input: SnapshotInput): Promise<void> {
  // SET TRANSACTION SNAPSHOT takes no parameters; an exported snapshot id is hex digits and dashes.
  if (!/^[0-9A-F-]+$/i.test(exported)) throw new Error(`Unexpected exported snapshot id ${JSON.stringify(exported)} from pg_export_snapshot().`);
  await client.query('begin isolation level repeatable read read only');
  await client.query(`set transaction snapshot '${exported}'`);
  await applySnapshotSettings(client, input);
  // The reader holds these already. Taken up front (as pg_dump -j's workers do) so that an ALTER queued
  // behind the reader's locks, which this connection would wait behind, fails the snapshot here after
  // lock_timeout, before any work.
  await client.query(`lock table ${input.tables.map((t) => t.printed).join(', ')} in access share mode`);
}

interface InPlan {
  rooms: boolean;
  memories: boolean;
}

function inPlanFlags(tables: readonly TableName[]): InPlan {
  const names = new Set(tables.map((t) => `${t.schema}.${t.name}`));
  return { rooms: names.has('public.rooms'), memories: names.has('public.memories') };
}

async function writeDataFiles(
  reader: pg.PoolClient,
  dir: string,
  tables: readonly TableName[],
  columns: readonly string[][],
  inPlan: InPlan,
): Promise<{ tables: { file: string; digest: FileDigest }[]; rejects: FileDigest }> {
  const written = [];
  for (const [index, table] of tables.entries()) {
    const file = `${table.schema}.${table.name}.copy`;
    const statement = `copy ${table.printed} (${columns[index]!.map(quoteIdent).join(', ')}) to stdout`;
    written.push({ file, digest: await copyOut(reader, statement, join(dir, file)) });
  }
  const rejects = await copyOut(reader, `copy (${unmigratedRowsSql(inPlan)}) to stdout`, join(dir, UNMIGRATED_FILE));
  return { tables: written, rejects };
}

/**
 * Runs work items one after another (a client runs one query at a time) without the caller awaiting
 * each. A rejection is marked handled, so that one coming while the caller awaits something else (or
 * after it gave up) does not crash the process; awaiting the item still throws it.
 */
function serialQueue(): <T>(work: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(work: () => Promise<T>): Promise<T> => {
    const item = tail.then(work);
    tail = item.catch(() => {});
    return item;
  };
}

/** Streams a COPY to a new file (mode 0600, fsynced on close), digesting the bytes as they pass. */
async function copyOut(client: pg.PoolClient, statement: string, path: string): Promise<FileDigest> {
  const digest = new StreamDigest();
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      digest.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(client.query(copyTo(statement)), tap, createWriteStream(path, { mode: SNAPSHOT_FILE_MODE, flags: 'wx', flush: true }));
  return digest.result();
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
