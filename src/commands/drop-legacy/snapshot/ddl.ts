import type { TableName } from '../dependents.ts';
import type { SnapshotManifest, TableSnapshot } from './manifest.ts';
import { quoteIdent } from '../../../engine/sql-files.ts';

/** One DDL statement of a restore, with what it brings back (for the report). */
export interface DdlStep {
  what: string;
  sql: string;
  /** Applied in a savepoint: a failure is a warning, not a failed restore (owner changes, publications). */
  optional?: boolean;
}

/** Where each snapshot table goes: its own place, or the same name in --into-schema. */
export class Retarget {
  private readonly planTables: Set<string>;
  constructor(
    manifest: Pick<SnapshotManifest, 'tables'>,
    readonly intoSchema: string | null,
  ) {
    this.planTables = new Set(manifest.tables.map((t) => t.printed));
  }

  get inPlace(): boolean {
    return this.intoSchema === null;
  }

  isPlanTable(table: TableName): boolean {
    return this.planTables.has(table.printed);
  }

  target(table: TableName): string {
    return this.intoSchema === null ? table.printed : `${quoteIdent(this.intoSchema)}.${quoteIdent(table.name)}`;
  }

  /** Replaces the first ` ON <table> ` of a printed index or trigger definition. */
  onClause(definition: string, table: TableName): string {
    if (this.inPlace) return definition;
    return definition.replace(` ON ${table.printed} `, ` ON ${this.target(table)} `).replace(` ON ONLY ${table.printed} `, ` ON ONLY ${this.target(table)} `);
  }
}

/** CREATE TABLE with the columns only; constraints, indexes and the rest come after the data. */
export function createTableSql(table: TableSnapshot, target: string): string {
  const columns = table.columns.map((column) => {
    const parts = [quoteIdent(column.name), column.type];
    if (column.collation) parts.push(`collate ${column.collation}`);
    if (column.generated) parts.push(`generated always as (${column.generated}) stored`);
    else if (column.default !== null) parts.push(`default ${column.default}`);
    if (column.notNull) parts.push('not null');
    return parts.join(' ');
  });
  return `create table ${target} (\n  ${columns.join(',\n  ')}\n)`;
}

/** Keys, checks, indexes, triggers, RLS, policies and grants of one table, in an order that works. */
export function tableDdlSteps(table: TableSnapshot, retarget: Retarget): DdlStep[] {
  const target = retarget.target(table);
  const steps: DdlStep[] = [];
  for (const constraint of table.constraints.filter((c) => c.kind !== 'f')) {
    steps.push({ what: `constraint ${constraint.name}`, sql: `alter table ${target} add constraint ${quoteIdent(constraint.name)} ${constraint.definition}` });
  }
  for (const index of table.indexes) steps.push({ what: `index ${index.name}`, sql: retarget.onClause(index.definition, table) });
  for (const trigger of table.triggers) {
    steps.push({ what: `trigger ${trigger.name}`, sql: retarget.onClause(trigger.definition, table) });
    const state = TRIGGER_STATES[trigger.enabled];
    if (state) steps.push({ what: `trigger ${trigger.name} state`, sql: `alter table ${target} ${state} trigger ${quoteIdent(trigger.name)}` });
  }
  if (table.rowSecurity) steps.push({ what: 'row level security', sql: `alter table ${target} enable row level security` });
  if (table.forceRowSecurity) steps.push({ what: 'forced row level security', sql: `alter table ${target} force row level security` });
  for (const policy of table.policies) {
    const using = policy.using !== null ? ` using (${policy.using})` : '';
    const check = policy.withCheck !== null ? ` with check (${policy.withCheck})` : '';
    steps.push({
      what: `policy ${policy.name}`,
      sql: `create policy ${quoteIdent(policy.name)} on ${target} as ${policy.permissive ? 'permissive' : 'restrictive'} for ${policy.command} to ${policy.roles.join(', ')}${using}${check}`,
    });
  }
  for (const grant of table.grants) {
    steps.push({ what: `grant ${grant.privilege} to ${grant.grantee}`, sql: `grant ${grant.privilege} on ${target} to ${grant.grantee}${grant.grantable ? ' with grant option' : ''}`, optional: true });
  }
  return steps;
}

// pg_trigger.tgenabled other than 'O' (the default CREATE TRIGGER gives).
const TRIGGER_STATES: Record<string, string> = { D: 'disable', R: 'enable replica', A: 'enable always' };

/** Foreign keys among the plan tables; a FK to a table outside the plan is kept only when restoring in place. */
export function foreignKeySteps(table: TableSnapshot, retarget: Retarget): DdlStep[] {
  const steps: DdlStep[] = [];
  for (const fk of table.constraints.filter((c) => c.kind === 'f')) {
    let definition = fk.definition;
    if (fk.references && !retarget.inPlace) {
      if (!retarget.isPlanTable(fk.references)) continue;
      definition = definition.replace(`REFERENCES ${fk.references.printed}(`, `REFERENCES ${retarget.target(fk.references)}(`);
    }
    steps.push({ what: `foreign key ${fk.name}`, sql: `alter table ${retarget.target(table)} add constraint ${quoteIdent(fk.name)} ${definition}` });
  }
  return steps;
}

/** Owner and publication membership: only when restoring in place (an inspection copy stays private). */
export function placementSteps(table: TableSnapshot, retarget: Retarget): DdlStep[] {
  if (!retarget.inPlace) return [];
  const target = retarget.target(table);
  return [
    ...table.publications.map((publication) => ({ what: `publication ${publication}`, sql: `alter publication ${publication} add table ${target}`, optional: true })),
    { what: `owner ${table.owner}`, sql: `alter table ${target} owner to ${table.owner}`, optional: true },
  ];
}
