import type pg from 'pg';
import { PreconditionError } from '../../../engine/errors.ts';
import { applySnapshotSettings, checksumProbe, tableChecksum } from './checksum.ts';
import { createTableSql, foreignKeySteps, placementSteps, Retarget, tableDdlSteps, type DdlStep } from './ddl.ts';
import type { SnapshotManifest } from './manifest.ts';
import { compareChecksum, copyIn, type SnapshotCheck } from './verify.ts';
import { inTransaction } from '../../../engine/transactions.ts';
import { quoteIdent } from '../../../engine/sql-files.ts';

export interface RestoreInput {
  intoSchema: string | null;
  dryRun: boolean;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

export interface RestoreOutcome {
  restored: boolean;
  checks: SnapshotCheck[];
  /** What could not be put back (a grant, a publication, an owner, a kept FK), each with the statement to run. */
  incomplete: string[];
  tables: string[];
}

/**
 * Recreates the snapshot's tables in one transaction: tables, data (COPY), then keys, checks, FKs,
 * indexes, triggers, RLS and policies, grants, publications; the restored rows' checksums must equal the
 * manifest's or everything is rolled back. The kept tables' FKs come last, in their own transactions,
 * added NOT VALID and then validated (a brief lock on the kept table instead of a long one).
 */
export async function restoreSnapshot(pool: pg.Pool, dir: string, manifest: SnapshotManifest, input: RestoreInput): Promise<RestoreOutcome> {
  const retarget = new Retarget(manifest, input.intoSchema);
  const targets = manifest.tables.map((t) => retarget.target(t));
  const { rows: existing } = await pool.query<{ name: string }>(`select t as name from unnest($1::text[]) t where to_regclass(t) is not null`, [targets]);
  if (existing.length > 0) {
    throw new PreconditionError(
      `Refusing to overwrite existing table(s) ${existing.map((r) => r.name).join(', ')}. Restore elsewhere for inspection with --into-schema <name>, ` +
        'or, if these tables are to be replaced, rename or drop them yourself first.',
    );
  }
  const probe = await checksumProbe(pool);
  if (probe !== manifest.checksum.probe) {
    throw new PreconditionError(
      `This server computes the snapshot's row checksums (${manifest.checksum.algorithm}) differently from the one that wrote it ` +
        `(probe ${probe}, manifest ${manifest.checksum.probe}; a server of the other byte order), so the restored tables could not be verified. ` +
        'Nothing was restored. Restore on a server of the same architecture as the original, or load the .copy files by hand (psql \\copy).',
    );
  }
  const incomplete: string[] = [];
  const checks: SnapshotCheck[] = [];
  const client = await pool.connect();
  try {
    await client.query('begin');
    await applySnapshotSettings(client, input);
    if (input.intoSchema !== null) await client.query(`create schema if not exists ${quoteIdent(input.intoSchema)}`);
    for (const table of manifest.tables) {
      await client.query(createTableSql(table, retarget.target(table)));
      await copyIn(client, dir, table, retarget.target(table));
    }
    const steps: DdlStep[] = [
      ...manifest.tables.flatMap((t) => tableDdlSteps(t, retarget)),
      ...manifest.tables.flatMap((t) => foreignKeySteps(t, retarget)),
      ...manifest.tables.flatMap((t) => placementSteps(t, retarget)),
    ];
    for (const step of steps) await runStep(client, step, incomplete);
    for (const table of manifest.tables) {
      if (table.comment !== null) {
        const { rows } = await client.query<{ sql: string }>(`select pg_catalog.format('comment on table %s is %L', $1::text, $2::text) as sql`, [retarget.target(table), table.comment]);
        if (rows[0]) await client.query(rows[0].sql);
      }
      checks.push(compareChecksum(`restored ${retarget.target(table)}`, table.data, await tableChecksum(client, retarget.target(table), table.data.columns)));
    }
    const restored = checks.every((c) => c.ok);
    await client.query(restored && !input.dryRun ? 'commit' : 'rollback');
    if (!restored || input.dryRun || !retarget.inPlace) return { restored: restored && !input.dryRun, checks, incomplete, tables: targets };
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
  for (const fk of manifest.keptForeignKeys) await restoreKeptForeignKey(pool, fk, input, incomplete);
  return { restored: true, checks, incomplete, tables: targets };
}

async function runStep(client: pg.ClientBase, step: DdlStep, incomplete: string[]): Promise<void> {
  if (!step.optional) {
    await client.query(step.sql);
    return;
  }
  await client.query('savepoint optional_step');
  try {
    await client.query(step.sql);
    await client.query('release savepoint optional_step');
  } catch (error) {
    await client.query('rollback to savepoint optional_step');
    incomplete.push(`${step.what} not restored (${(error as Error).message}); run it as a role that may: ${step.sql};`);
  }
}

async function restoreKeptForeignKey(pool: pg.Pool, fk: SnapshotManifest['keptForeignKeys'][number], input: RestoreInput, incomplete: string[]): Promise<void> {
  const definition = fk.definition.endsWith(' NOT VALID') ? fk.definition : `${fk.definition} NOT VALID`;
  const name = `${fk.table.printed}.${fk.name}`;
  const run = (sql: string): Promise<void> =>
    inTransaction(pool, { isolation: 'read committed', statementTimeoutMs: input.statementTimeoutMs, lockTimeoutMs: input.lockTimeoutMs }, async (client) => {
      await applySnapshotSettings(client, input);
      await client.query(sql);
    });
  try {
    await run(`alter table ${fk.table.printed} add constraint ${quoteIdent(fk.name)} ${definition}`);
  } catch (error) {
    incomplete.push(`foreign key ${name} not re-added (${(error as Error).message}); add it by hand: ALTER TABLE ${fk.table.printed} ADD CONSTRAINT ${quoteIdent(fk.name)} ${definition};`);
    return;
  }
  if (fk.definition.endsWith(' NOT VALID')) return;
  try {
    await run(`alter table ${fk.table.printed} validate constraint ${quoteIdent(fk.name)}`);
  } catch (error) {
    incomplete.push(
      `foreign key ${name} re-added NOT VALID but does not validate (${(error as Error).message}): rows written while the tables were gone point nowhere; ` +
        `fix them, then: ALTER TABLE ${fk.table.printed} VALIDATE CONSTRAINT ${quoteIdent(fk.name)};`,
    );
  }
}
