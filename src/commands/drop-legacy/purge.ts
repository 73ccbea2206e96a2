import { scanDependents } from './dependents.ts';
import { quoteIdent } from '../../engine/sql-files.ts';
import { inTransaction, withTransientRetry } from '../../engine/transactions.ts';
import { ReportWriter } from '../../report/report-writer.ts';
import { summaryHead, type RunSummary } from '../../report/summary.ts';
import { PreconditionError } from '../../engine/errors.ts';
import { withCommandLease, type CommandContext } from '../../engine/context.ts';
import { describeFks, dropForeignKeys } from './drop.ts';
import { failed, gateProblems, passed, renderGate, type GateResult } from './gates.ts';

export interface PurgeOptions {
  schema: string;
  confirm?: string | undefined;
  allowedDependents: string[];
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

/**
 * `drop-legacy --purge-quarantine`: drops what an earlier `--quarantine` run moved aside (its snapshot
 * was verified then), with the same refusals: a named --confirm, no unknown dependents, no CASCADE.
 */
export async function purgeQuarantine(options: PurgeOptions, context: CommandContext): Promise<RunSummary> {
  const { pool } = context;
  const { rows } = await pool.query<{ name: string }>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relkind in ('r', 'p') order by 1`,
    [options.schema],
  );
  const { rows: db } = await pool.query<{ database: string }>(`select current_database() as database`);
  const database = db[0]?.database ?? '';
  if (rows.length === 0) {
    throw new PreconditionError(`Schema ${options.schema} holds no tables: nothing to purge. (Quarantine with \`recoup-migrate drop-legacy --quarantine ${options.schema}\`.)`);
  }
  const scan = await scanDependents(pool, rows.map((r) => ({ schema: options.schema, name: r.name })), new Set(options.allowedDependents));
  const gates: GateResult[] = [];
  const record = (gate: GateResult): boolean => {
    gates.push(gate);
    process.stderr.write(`${renderGate(gate)}\n`);
    return gate.ok === true;
  };
  const go =
    record(scan.blockers.length > 0
      ? failed('dependents', `${scan.blockers.map((b) => `${b.object} (${b.detail})`).join('; ')}`, 'drop or rewrite each blocker, then purge again')
      : passed('dependents', `${scan.tables.length} table(s) in ${options.schema}; ${scan.keptForeignKeys.length} foreign key(s) from kept tables to drop`)) &&
    record(options.confirm === database
      ? passed('confirmed', `--confirm matches the connected database ${database}`)
      : failed('confirmed', `${options.confirm === undefined ? 'no --confirm given' : `--confirm ${options.confirm} does not match`}; the connected database is ${database}`, `add --confirm ${database}`));
  if (go) {
    await withCommandLease(context, 'drop-legacy', false, () =>
      withTransientRetry(() =>
        inTransaction(pool, { isolation: 'read committed', statementTimeoutMs: options.statementTimeoutMs, lockTimeoutMs: options.lockTimeoutMs }, async (client) => {
          await dropForeignKeys(client, scan.keptForeignKeys);
          for (const table of scan.dropOrder) await client.query(`drop table ${table.printed}`);
          const { rows: left } = await client.query<{ n: string }>(`select count(*)::text as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1`, [options.schema]);
          if (left[0]?.n === '0') await client.query(`drop schema ${quoteIdent(options.schema)}`);
        }),
      ),
    );
    record(passed('dropped', `dropped ${scan.dropOrder.map((t) => t.printed).join(', ')}${describeFks(scan.keptForeignKeys)}`));
  }
  const report = await ReportWriter.open(context.reportDir);
  const refused = gates.some((g) => g.ok === false);
  const summary: RunSummary = {
    ...summaryHead('drop-legacy', context, { dryRun: false, complete: true, exitCode: refused ? 1 : 0 }),
    reasons: {},
    reportDir: report.dir,
    purge: options.schema,
    gates,
    dropped: !refused,
    ...(refused ? { problems: gateProblems(gates) } : {}),
  };
  await report.finish(summary);
  return summary;
}
