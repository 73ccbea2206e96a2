import { chmod, mkdir, readdir, statfs } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type pg from 'pg';
import type { KeptForeignKey, TableName } from '../dependents.ts';
import { applySnapshotSettings, CHECKSUM_ALGORITHM, checksumProbe, tableChecksum, type TableChecksum } from './checksum.ts';
import { copyToFile } from './copy-out.ts';
import { syncDirectory, type FileDigest } from './file-digest.ts';
import { SNAPSHOT_DIR_MODE, SNAPSHOT_FORMAT, UNMIGRATED_FILE, writeManifest, type SnapshotManifest, type TableSnapshot } from './manifest.ts';
import { copiedColumns, readCopiedColumns, readTableStructure, type TableStructure } from './structure.ts';
import { quoteIdent } from '../../../engine/sql-files.ts';
import { unmigratedLinesSql } from './unmigrated.ts';

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
 * every file shows the same moment. Data is streamed with COPY; nothing is held in memory. Each file's
 * bytes are digested (sha256, size, rows) on their way to disk, and each table's content checksum is
 * taken in the same snapshot: the manifest ties the exact bytes on disk to the rows they came from.
 * A second connection imports the snapshot (pg_export_snapshot, as `pg_dump -j` does) and the two share
 * the work, largest first. Every file, the manifest and the directory are fsynced.
 */
export async function writeSnapshot(pool: pg.Pool, dir: string, input: SnapshotInput): Promise<SnapshotManifest> {
  const absolute = resolve(dir);
  await assertEmptySnapshotDir(absolute);
  await mkdir(absolute, { recursive: true, mode: SNAPSHOT_DIR_MODE });
  await chmod(absolute, SNAPSHOT_DIR_MODE);
  const sizes = await assertDiskSpace(pool, absolute, input.tables);

  const clients: pg.PoolClient[] = [];
  // Both workers: a failure waits for them to stop before returning.
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
    const columns = await readCopiedColumns(reader, input.tables);
    const parts = new SnapshotParts(input.tables.length);
    const tasks = snapshotTasks(absolute, input.tables, columns, sizes, parts);
    const workers = [runTasks(reader, tasks)];
    // Only a connection the pool has now: waiting for one that something else holds could wait forever.
    if (pool.idleCount > 0 || pool.totalCount < (pool.options.max ?? 10)) workers.push(joinSnapshot(pool, clients, info[0]?.exported ?? '', input).then((checker) => (checker ? runTasks(checker, tasks) : undefined)));
    settled = Promise.allSettled(workers);
    await Promise.all(workers);

    const tables = input.tables.map((table, index) => parts.table(table, index, columns[index]!));
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
      unmigrated: parts.unmigrated(),
    };
    // Written last: a directory without a manifest is an unfinished snapshot.
    await writeManifest(absolute, manifest);
    await syncDirectory(absolute);
    return manifest;
  } catch (error) {
    // Closing the connections ends their transactions, even with a COPY cut off mid-stream; what is
    // still queued then fails at once. A second connection still being opened is closed when it lands.
    for (const client of clients.splice(0)) client.release(true);
    await settled;
    for (const client of clients.splice(0)) client.release(true);
    throw error;
  } finally {
    for (const client of clients) client.release();
  }
}

/**
 * A second connection on the reader's snapshot: begin, import it, same settings, same locks. It only
 * shares the work: when it cannot join (no connection, a lock it would wait for, the reader already
 * failed), it is closed and the reader does everything.
 */
async function joinSnapshot(pool: pg.Pool, clients: pg.PoolClient[], exported: string, input: SnapshotInput): Promise<pg.PoolClient | null> {
  // SET TRANSACTION SNAPSHOT takes no parameters; an exported snapshot id is hex digits and dashes.
  if (!/^[0-9A-F-]+$/i.test(exported)) throw new Error(`Unexpected exported snapshot id ${JSON.stringify(exported)} from pg_export_snapshot().`);
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch {
    return null;
  }
  clients.push(client);
  try {
    await client.query('begin isolation level repeatable read read only');
    await client.query(`set transaction snapshot '${exported}'`);
    await applySnapshotSettings(client, input);
    // The reader holds these already. Taken up front (as pg_dump -j's workers do) so that an ALTER
    // queued behind the reader's locks, which this connection would wait behind, is met here, after
    // lock_timeout at most, rather than in the middle of the work.
    await client.query(`lock table ${input.tables.map((t) => t.printed).join(', ')} in access share mode`);
    return client;
  } catch {
    const at = clients.indexOf(client);
    if (at !== -1) clients.splice(at, 1);
    client.release(true);
    return null;
  }
}

type Task = (client: pg.ClientBase) => Promise<void>;

/**
 * What the snapshot reads, as tasks either connection can run (both see the same snapshot): each
 * table's COPY to its file and its checksum, largest tables first so that the two connections finish
 * together; then the unmigrated rows and the structures, which are small.
 */
function snapshotTasks(dir: string, tables: readonly TableName[], columns: readonly string[][], sizes: readonly number[], parts: SnapshotParts): Task[] {
  const bySize = tables.map((table, index) => ({ table, index })).sort((a, b) => sizes[b.index]! - sizes[a.index]!);
  const tasks: Task[] = [];
  for (const { table, index } of bySize) {
    const list = columns[index]!.map(quoteIdent).join(', ');
    tasks.push(async (client) => {
      const file = `${table.schema}.${table.name}.copy`;
      const { digest } = await copyToFile(client, [`copy ${table.printed} (${list}) to stdout`], join(dir, file));
      parts.files[index] = { file, digest };
    });
    tasks.push(async (client) => {
      parts.sums[index] = await tableChecksum(client, table.printed, columns[index]!);
    });
  }
  const names = new Set(tables.map((t) => `${t.schema}.${t.name}`));
  const kinds = (['room', 'memory'] as const).filter((kind) => names.has(kind === 'room' ? 'public.rooms' : 'public.memories'));
  tasks.push(async (client) => {
    const { digest, lines } = await copyToFile(client, kinds.map((kind) => `copy (${unmigratedLinesSql(kind)}) to stdout`), join(dir, UNMIGRATED_FILE));
    parts.rejects = { sha256: digest.sha256, rooms: kinds.includes('room') ? lines[kinds.indexOf('room')]! : 0, memories: kinds.includes('memory') ? lines[kinds.indexOf('memory')]! : 0 };
  });
  for (const [index, table] of tables.entries()) {
    tasks.push(async (client) => {
      parts.structures[index] = await readTableStructure(client, table);
    });
  }
  return tasks;
}

/** Takes the next task until none is left or one failed (in either worker); a failure is thrown. */
async function runTasks(client: pg.ClientBase, tasks: Task[]): Promise<void> {
  for (let task = tasks.shift(); task; task = tasks.shift()) {
    try {
      await task(client);
    } catch (error) {
      tasks.length = 0;
      throw error;
    }
  }
}

/** The results of the tasks, put together into the manifest's tables once all are in. */
class SnapshotParts {
  readonly files: { file: string; digest: FileDigest }[];
  readonly sums: TableChecksum[];
  readonly structures: TableStructure[];
  rejects: { sha256: string; rooms: number; memories: number } | null = null;

  constructor(tables: number) {
    this.files = new Array(tables);
    this.sums = new Array(tables);
    this.structures = new Array(tables);
  }

  /** Both connections read the same snapshot, with the tables locked against ALTER: the checks only fail if that premise does. */
  table(table: TableName, index: number, copied: string[]): TableSnapshot {
    const file = this.files[index];
    const sum = this.sums[index];
    const structure = this.structures[index];
    if (!file || !sum || !structure) throw new Error(`${table.printed}: the snapshot is missing its file, checksum or structure.`);
    if (copiedColumns(structure).join(',') !== copied.join(',')) {
      throw new Error(`${table.printed}: its columns changed while the snapshot was taken (${copied.join(', ')} → ${copiedColumns(structure).join(', ')}); the snapshot is not consistent.`);
    }
    if (file.digest.lines !== sum.rows) {
      throw new Error(`${table.printed}: COPY wrote ${file.digest.lines} rows but the checksum counted ${sum.rows} in the same snapshot; the snapshot is not consistent.`);
    }
    return { ...structure, data: { file: file.file, columns: copied, rows: sum.rows, digest: sum.digest, sha256: file.digest.sha256, bytes: file.digest.bytes } };
  }

  unmigrated(): SnapshotManifest['unmigrated'] {
    if (!this.rejects) throw new Error(`The snapshot is missing ${UNMIGRATED_FILE}.`);
    return { memories: this.rejects.memories, rooms: this.rejects.rooms, file: UNMIGRATED_FILE, sha256: this.rejects.sha256 };
  }
}

/**
 * COPY text is about the size of the heap, and never more than heap + TOAST + indexes
 * (pg_total_relation_size), so that much free space is required before anything is written. Returns
 * each table's size, which orders the work.
 */
async function assertDiskSpace(pool: pg.Pool, dir: string, tables: readonly TableName[]): Promise<number[]> {
  const { rows } = await pool.query<{ bytes: string }>(
    `select coalesce(pg_total_relation_size(to_regclass(t.name)), 0)::text as bytes
       from unnest($1::text[]) with ordinality as t(name, position) order by t.position`,
    [tables.map((t) => t.printed)],
  );
  const sizes = rows.map((r) => Number(r.bytes));
  const needed = sizes.reduce((sum, size) => sum + size, 0);
  const stats = await statfs(dir);
  const free = Number(stats.bavail) * Number(stats.bsize);
  if (free < needed) {
    throw new SnapshotRefusal(
      `Not enough free disk space for the snapshot in ${dir}: ${free} bytes free, the tables take ${needed} bytes ` +
        '(pg_total_relation_size). Free some space or pass --snapshot-dir on a larger disk.',
    );
  }
  return sizes;
}
