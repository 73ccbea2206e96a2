import type pg from 'pg';
import { quoteIdent } from './sql-files.ts';

export const TOOL_VERSION = '0.1.0';

export interface RunRecord {
  runId: string;
  command: string;
  scope: object;
  options: object;
  converterVersion: number;
}

export async function recordRunStart(db: pg.Pool, schema: string, run: RunRecord): Promise<void> {
  await db.query(
    `insert into ${quoteIdent(schema)}.runs (run_id, command, scope, options, tool_version, converter_version)
     values ($1, $2, $3::jsonb, $4::jsonb, $5, $6)`,
    [run.runId, run.command, JSON.stringify(run.scope), JSON.stringify(run.options), TOOL_VERSION, run.converterVersion],
  );
}

export async function recordRunEnd(
  db: pg.Pool,
  schema: string,
  runId: string,
  status: 'completed' | 'incomplete' | 'failed' | 'undone',
  summary: object,
): Promise<void> {
  await db.query(
    `update ${quoteIdent(schema)}.runs
        set status = $2, finished_at = now(), heartbeat_at = now(), summary = $3::jsonb
      where run_id = $1`,
    [runId, status, JSON.stringify(summary)],
  );
}

export async function findRun(
  db: pg.Pool,
  schema: string,
  runId: string,
): Promise<{ command: string; status: string; dry: boolean } | null> {
  const { rows } = await db.query<{ command: string; status: string }>(
    `select command, status from ${quoteIdent(schema)}.runs where run_id = $1`,
    [runId],
  );
  const row = rows[0];
  return row ? { command: row.command, status: row.status, dry: false } : null;
}
