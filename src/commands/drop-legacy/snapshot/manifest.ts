import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { PreconditionError } from '../../../engine/errors.ts';
import { CHECKSUM_ALGORITHM } from './checksum.ts';
import { digestFile } from './file-digest.ts';

export const MANIFEST_FILE = 'manifest.json';
export const UNMIGRATED_FILE = 'unmigrated.jsonl';
// /1 (development builds before this one) summed md5 halves per row; its digests are not comparable.
export const SNAPSHOT_FORMAT = 'recoup-migrate-snapshot/2';
// Snapshots hold users' chat history: only the operator may read them.
export const SNAPSHOT_DIR_MODE = 0o700;
export const SNAPSHOT_FILE_MODE = 0o600;

const tableName = z.object({ schema: z.string(), name: z.string(), printed: z.string() });

const tableSnapshot = tableName.extend({
  owner: z.string(),
  rowSecurity: z.boolean(),
  forceRowSecurity: z.boolean(),
  comment: z.string().nullable(),
  columns: z.array(
    z.object({ name: z.string(), type: z.string(), notNull: z.boolean(), default: z.string().nullable(), generated: z.string().nullable(), collation: z.string().nullable() }),
  ),
  constraints: z.array(z.object({ name: z.string(), kind: z.string(), definition: z.string(), references: tableName.nullable() })),
  indexes: z.array(z.object({ name: z.string(), definition: z.string() })),
  triggers: z.array(z.object({ name: z.string(), definition: z.string(), enabled: z.string() })),
  policies: z.array(
    z.object({ name: z.string(), permissive: z.boolean(), command: z.string(), roles: z.array(z.string()), using: z.string().nullable(), withCheck: z.string().nullable() }),
  ),
  grants: z.array(z.object({ grantee: z.string(), privilege: z.string(), grantable: z.boolean() })),
  publications: z.array(z.string()),
  data: z.object({ file: z.string(), columns: z.array(z.string()), rows: z.number().int(), digest: z.string(), sha256: z.string(), bytes: z.number().int() }),
});

export const manifestSchema = z.object({
  format: z.literal(SNAPSHOT_FORMAT),
  toolVersion: z.string(),
  serverVersion: z.string(),
  database: z.string(),
  createdAt: z.string(),
  /** txid_current_snapshot() of the repeatable-read transaction every table was read in. */
  transactionSnapshot: z.string(),
  /** How `data.digest` was computed, and the writing server's checksumProbe(). */
  checksum: z.object({ algorithm: z.literal(CHECKSUM_ALGORITHM), probe: z.string() }),
  tables: z.array(tableSnapshot),
  keptForeignKeys: z.array(z.object({ table: tableName, name: z.string(), definition: z.string(), references: tableName })),
  dropOrder: z.array(tableName),
  unmigrated: z.object({ memories: z.number().int(), rooms: z.number().int(), file: z.string(), sha256: z.string() }),
});
export type SnapshotManifest = z.infer<typeof manifestSchema>;
export type TableSnapshot = SnapshotManifest['tables'][number];

export async function writeManifest(dir: string, manifest: SnapshotManifest): Promise<void> {
  await writeFile(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { mode: SNAPSHOT_FILE_MODE, flag: 'wx', flush: true });
}

export async function readManifest(dir: string): Promise<SnapshotManifest> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch (error) {
    throw new PreconditionError(
      `No snapshot manifest at ${join(dir, MANIFEST_FILE)} (${(error as Error).message}). Point --snapshot-dir at a directory written by \`recoup-migrate drop-legacy\`.`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new PreconditionError(`The snapshot manifest ${join(dir, MANIFEST_FILE)} is not valid JSON (${(error as Error).message}): the snapshot is damaged.`);
  }
  const format = (raw as { format?: unknown } | null)?.format;
  if (typeof format === 'string' && format.startsWith('recoup-migrate-snapshot/') && format !== SNAPSHOT_FORMAT) {
    const by = (raw as { toolVersion?: unknown }).toolVersion;
    throw new PreconditionError(
      `The snapshot in ${dir} is in format ${format}, written by recoup-migrate ${typeof by === 'string' ? by : '(unknown version)'}; this version reads ${SNAPSHOT_FORMAT} only. ` +
        'Restore it with the version that wrote it, or load its .copy files by hand (psql \\copy, the columns listed in manifest.json).',
    );
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new PreconditionError(`The snapshot manifest ${join(dir, MANIFEST_FILE)} is not a ${SNAPSHOT_FORMAT} manifest: ${parsed.error.issues[0]?.message ?? 'invalid'}.`);
  }
  return parsed.data;
}

export interface FileCheck {
  file: string;
  ok: boolean;
  detail: string;
}

/**
 * Each file of the snapshot, read back from disk, against what the manifest recorded as it was written:
 * sha256 and size of the bytes, and its row count (lines). A changed byte anywhere changes the sha256.
 */
export async function checkSnapshotFiles(dir: string, manifest: SnapshotManifest): Promise<FileCheck[]> {
  const expected = [
    ...manifest.tables.map((t) => ({ file: t.data.file, sha256: t.data.sha256, bytes: t.data.bytes as number | null, rows: t.data.rows })),
    { file: manifest.unmigrated.file, sha256: manifest.unmigrated.sha256, bytes: null, rows: manifest.unmigrated.memories + manifest.unmigrated.rooms },
  ];
  const checks: FileCheck[] = [];
  for (const item of expected) {
    try {
      const actual = await digestFile(join(dir, item.file));
      const ok = actual.sha256 === item.sha256 && (item.bytes === null || actual.bytes === item.bytes) && actual.lines === item.rows;
      checks.push({
        file: item.file,
        ok,
        detail: ok ? `sha256 matches, ${actual.lines} rows` : `${describeFile({ ...actual, rows: actual.lines })}, manifest says ${describeFile(item)}`,
      });
    } catch (error) {
      checks.push({ file: item.file, ok: false, detail: `cannot read: ${(error as Error).message}` });
    }
  }
  return checks;
}

function describeFile(file: { sha256: string; bytes: number | null; rows: number }): string {
  return `sha256 ${file.sha256} (${file.bytes === null ? '' : `${file.bytes} bytes, `}${file.rows} rows)`;
}
