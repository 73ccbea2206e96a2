import type pg from 'pg';
import { scanDependents, type Blocker, type DependentScan, type SilentlyDropped } from './dependents.ts';
import { countUnmigrated, type UnmigratedCounts } from './snapshot/unmigrated.ts';
import { PreconditionError } from '../../engine/errors.ts';

/** The default drop set (spec: schema.md, "Tables that depend on the legacy ones"). */
export const DEFAULT_DROP_TABLES = ['rooms', 'memories', 'memory_emails', 'segment_rooms', 'room_reports'] as const;
// Of the default set, these must exist: without them there is nothing to drop (restore brings them back).
const REQUIRED_DEFAULT_TABLES = new Set(['rooms', 'memories']);
const LEGACY_SCHEMA = 'public';

export interface DropPlan {
  mode: 'drop' | 'quarantine';
  quarantineSchema: string | null;
  tables: string[];
  /** Default tables that do not exist here (room_reports is gone in production). */
  absent: string[];
  dropOrder: string[];
  dropConstraints: { table: string; name: string; definition: string }[];
  silentlyDropped: SilentlyDropped;
  blockers: Blocker[];
  unmigrated: UnmigratedCounts;
}

export interface ResolvedPlan {
  plan: DropPlan;
  scan: DependentScan;
}

export async function buildPlan(
  pool: pg.Pool,
  options: { tables?: readonly string[] | undefined; quarantine?: string | undefined; allowedDependents: readonly string[] },
): Promise<ResolvedPlan> {
  const wanted = options.tables ?? DEFAULT_DROP_TABLES;
  const { rows } = await pool.query<{ name: string }>(
    `select t as name from unnest($1::text[]) t where to_regclass(quote_ident($2) || '.' || quote_ident(t)) is not null`,
    [wanted, LEGACY_SCHEMA],
  );
  const present = new Set(rows.map((r) => r.name));
  const absent = wanted.filter((name) => !present.has(name));
  const missingRequired = options.tables ? absent : absent.filter((name) => REQUIRED_DEFAULT_TABLES.has(name));
  if (missingRequired.length > 0) {
    throw new PreconditionError(
      `Table(s) ${missingRequired.map((n) => `${LEGACY_SCHEMA}.${n}`).join(', ')} do not exist: nothing to drop there. ` +
        'If they were dropped already, `recoup-migrate restore --snapshot-dir <dir>` brings them back; otherwise fix --tables.',
    );
  }
  const scan = await scanDependents(pool, wanted.filter((name) => present.has(name)).map((name) => ({ schema: LEGACY_SCHEMA, name })), new Set(options.allowedDependents));
  const inPlan = { rooms: present.has('rooms'), memories: present.has('memories') };
  if (inPlan.rooms || inPlan.memories) await assertTargetPresent(pool);
  const unmigrated = await countUnmigrated(pool, inPlan);
  return {
    scan,
    plan: {
      mode: options.quarantine ? 'quarantine' : 'drop',
      quarantineSchema: options.quarantine ?? null,
      tables: scan.tables.map((t) => t.printed),
      absent: options.tables ? [] : absent.map((n) => `${LEGACY_SCHEMA}.${n}`),
      dropOrder: scan.dropOrder.map((t) => t.printed),
      dropConstraints: scan.keptForeignKeys.map((fk) => ({ table: fk.table.printed, name: fk.name, definition: fk.definition })),
      silentlyDropped: scan.silentlyDropped,
      blockers: scan.blockers,
      unmigrated,
    },
  };
}

async function assertTargetPresent(pool: pg.Pool): Promise<void> {
  const { rows } = await pool.query<{ ok: boolean }>(`select to_regclass('public.chats') is not null and to_regclass('public.chat_messages') is not null as ok`);
  if (!rows[0]?.ok) {
    throw new PreconditionError('public.chats or public.chat_messages does not exist: without the target there is nothing the legacy rows were migrated to. Run `recoup-migrate backfill` against a database with the target schema first.');
  }
}

/** The plan as an operator reads it, printed before anything happens. */
export function renderPlan(plan: DropPlan): string {
  const lines = [`drop-legacy plan (${plan.mode === 'drop' ? 'DROP' : `move into schema ${plan.quarantineSchema}`}):`];
  lines.push(`  tables, in drop order: ${plan.dropOrder.join(', ') || '(none)'}`);
  if (plan.absent.length > 0) lines.push(`  absent (nothing to do): ${plan.absent.join(', ')}`);
  for (const fk of plan.dropConstraints) lines.push(`  drop constraint ${fk.table}.${fk.name} (${fk.definition}); the table and its rows stay`);
  const silent = plan.silentlyDropped;
  if (silent.triggers.length > 0) lines.push(`  goes with the tables (kept in the snapshot): triggers ${silent.triggers.join(', ')}`);
  if (silent.policies.length > 0) lines.push(`  goes with the tables (kept in the snapshot): policies ${silent.policies.join(', ')}`);
  if (silent.publications.length > 0) lines.push(`  goes with the tables (kept in the snapshot): ${silent.publications.join(', ')}`);
  if (silent.orphanedTriggerFunctions.length > 0) lines.push(`  left unused (not dropped): ${silent.orphanedTriggerFunctions.join(', ')}`);
  lines.push(`  never migrated (only in the snapshot afterwards): ${plan.unmigrated.memories} memories, ${plan.unmigrated.rooms} rooms`);
  for (const blocker of plan.blockers) lines.push(`  BLOCKER ${blocker.kind}: ${blocker.object}: ${blocker.detail}`);
  return `${lines.join('\n')}\n`;
}
