import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { KeptForeignKey, TableName } from './dependents.ts';
import { applySnapshotSettings, tableChecksum } from './snapshot/checksum.ts';
import type { SnapshotManifest } from './snapshot/manifest.ts';
import { compareChecksum } from './snapshot/verify.ts';
import { quoteIdent } from '../../engine/sql-files.ts';
import { failed, passed, type GateResult } from './gates.ts';

// DROP TABLE waits behind every open transaction that touched a table, and every app query then queues
// behind the DROP: give up quickly (lock_timeout) and retry, at most this many times.
export const MAX_LOCK_ATTEMPTS = 5;
const LOCK_RETRY_BASE_MS = 500;
const LOCK_NOT_AVAILABLE = '55P03';

export type DropMode = { kind: 'drop' } | { kind: 'quarantine'; schema: string };

export interface DropInput {
  manifest: SnapshotManifest;
  mode: DropMode;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  /** Called after the checks, before the drop transaction (tests write here to prove the re-check). */
  beforeDrop?: () => Promise<void>;
}

/** A check inside the drop transaction failed: roll back, nothing dropped. */
class DropRefusal extends Error {}

/**
 * Gate 7: in one transaction, lock the tables, re-check their rows against the manifest (a write after
 * the snapshot would be lost), then drop exactly the plan: the kept tables' FKs first, then the tables
 * one by one, referencing tables first, never CASCADE. Or, in quarantine mode, move them aside.
 */
export async function dropGate(pool: pg.Pool, input: DropInput): Promise<GateResult> {
  const tables = input.manifest.tables;
  const holders = await lockHolders(pool, tables);
  await input.beforeDrop?.();
  for (let attempt = 1; ; attempt += 1) {
    try {
      const done = await dropOnce(pool, input);
      return passed('dropped', done, holders);
    } catch (error) {
      if (error instanceof DropRefusal) {
        return failed('dropped', error.message, 'something wrote the tables after the snapshot: stop the writer, run `recoup-migrate backfill --since <snapshot time>`, then drop-legacy again with a new --snapshot-dir', holders);
      }
      if ((error as { code?: string }).code !== LOCK_NOT_AVAILABLE || attempt >= MAX_LOCK_ATTEMPTS) throw error;
      await sleep(LOCK_RETRY_BASE_MS * 2 ** (attempt - 1) * (0.5 + Math.random()));
    }
  }
}

async function dropOnce(pool: pg.Pool, input: DropInput): Promise<string> {
  const { manifest, mode } = input;
  const client = await pool.connect();
  try {
    await client.query('begin');
    await applySnapshotSettings(client, input);
    await client.query(`lock table ${manifest.tables.map((t) => t.printed).join(', ')} in access exclusive mode`);
    const changed = [];
    for (const table of manifest.tables) {
      const check = compareChecksum(table.printed, table.data, await tableChecksum(client, table.printed, table.data.columns));
      if (!check.ok) changed.push(`${table.printed} now has ${check.detail}`);
    }
    if (changed.length > 0) throw new DropRefusal(`the tables changed after the snapshot, and the change would be lost: ${changed.join('; ')}`);
    let done: string;
    if (mode.kind === 'drop') {
      await dropForeignKeys(client, manifest.keptForeignKeys);
      for (const table of manifest.dropOrder) await client.query(`drop table ${table.printed}`);
      done = `dropped ${manifest.dropOrder.map((t) => t.printed).join(', ')}${describeFks(manifest.keptForeignKeys)}`;
    } else {
      await client.query(`create schema if not exists ${quoteIdent(mode.schema)}`);
      for (const table of manifest.dropOrder) await client.query(`alter table ${table.printed} set schema ${quoteIdent(mode.schema)}`);
      done = `moved ${manifest.dropOrder.map((t) => t.printed).join(', ')} into schema ${mode.schema} (undo: ALTER TABLE ${mode.schema}.<table> SET SCHEMA public; purge: drop-legacy --purge-quarantine)`;
    }
    await client.query('commit');
    return done;
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

export async function dropForeignKeys(client: pg.ClientBase, fks: readonly KeptForeignKey[]): Promise<void> {
  for (const fk of fks) await client.query(`alter table ${fk.table.printed} drop constraint ${quoteIdent(fk.name)}`);
}

export function describeFks(fks: readonly KeptForeignKey[]): string {
  if (fks.length === 0) return '';
  return `; dropped the constraint(s) ${fks.map((fk) => `${fk.table.printed}.${fk.name}`).join(', ')} and kept their tables' rows`;
}

/** Sessions holding a lock on the tables: DROP would wait for them, and app queries would queue behind. */
async function lockHolders(pool: pg.Pool, tables: readonly TableName[]): Promise<string[]> {
  const { rows } = await pool.query<{ pid: number; application_name: string; state: string | null; mode: string; relation: string }>(
    `select distinct a.pid, a.application_name, a.state, l.mode, l.relation::regclass::text as relation
       from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where l.relation = any($1::regclass[]) and l.pid <> pg_backend_pid() order by 1`,
    [tables.map((t) => t.printed)],
  );
  return rows.map((r) => `pid ${r.pid} (${r.application_name || 'no application_name'}, ${r.state ?? 'unknown state'}) holds ${r.mode} on ${r.relation}: the drop waits for it`);
}
