import type pg from 'pg';
import type { TableName } from '../dependents.ts';

export interface ColumnSpec {
  name: string;
  type: string;
  notNull: boolean;
  default: string | null;
  /** The expression of a GENERATED ALWAYS AS (...) STORED column; such columns are not copied. */
  generated: string | null;
  collation: string | null;
}

export interface ConstraintSpec {
  name: string;
  /** pg_constraint.contype: p, u, c, f, x. */
  kind: string;
  definition: string;
  /** For a foreign key: the table it references. */
  references: TableName | null;
}

export interface PolicySpec {
  name: string;
  permissive: boolean;
  /** ALL, SELECT, INSERT, UPDATE or DELETE. */
  command: string;
  /** Role names, quoted; PUBLIC unquoted. */
  roles: string[];
  using: string | null;
  withCheck: string | null;
}

export interface GrantSpec {
  /** Quoted role name, or PUBLIC. */
  grantee: string;
  privilege: string;
  grantable: boolean;
}

/** Everything DROP TABLE removes that CREATE TABLE + COPY must bring back. */
export interface TableStructure extends TableName {
  owner: string;
  rowSecurity: boolean;
  forceRowSecurity: boolean;
  comment: string | null;
  columns: ColumnSpec[];
  constraints: ConstraintSpec[];
  indexes: { name: string; definition: string }[];
  /** tgenabled: O (origin, the default), D (disabled), R (replica), A (always). */
  triggers: { name: string; definition: string; enabled: string }[];
  policies: PolicySpec[];
  grants: GrantSpec[];
  publications: string[];
}

// Constraint kinds in the order they are re-added: keys first (FKs need them), FKs last.
const CONSTRAINT_ORDER = `case contype when 'p' then 0 when 'u' then 1 when 'x' then 2 when 'c' then 3 when 'f' then 4 else 5 end`;

/**
 * Reads a table's structure from the catalogs. Run with search_path = '' so that every name in the
 * printed definitions is schema-qualified and means the same thing wherever it is replayed.
 */
export async function readTableStructure(db: pg.ClientBase, table: TableName): Promise<TableStructure> {
  const { rows: rel } = await db.query<{ oid: number; owner: string; rls: boolean; force: boolean; comment: string | null }>(
    `select c.oid::int as oid, quote_ident(pg_get_userbyid(c.relowner)) as owner, c.relrowsecurity as rls,
            c.relforcerowsecurity as force, obj_description(c.oid, 'pg_class') as comment
       from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and c.relname = $2`,
    [table.schema, table.name],
  );
  const relation = rel[0];
  if (!relation) throw new Error(`${table.printed} disappeared while its structure was being read`);
  const oid = relation.oid;
  // One client runs one query at a time: these go in sequence.
  const [columns, constraints, indexes, triggers, policies, grants, publications] = await inSequence([
    () => db.query<ColumnSpec>(
      `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as "notNull",
              case when a.attgenerated = '' then pg_get_expr(ad.adbin, ad.adrelid) end as default,
              case when a.attgenerated <> '' then pg_get_expr(ad.adbin, ad.adrelid) end as generated,
              case when a.attcollation <> t.typcollation then format('%I.%I', cn.nspname, co.collname) end as collation
         from pg_attribute a
         join pg_type t on t.oid = a.atttypid
         left join pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
         left join pg_collation co on co.oid = a.attcollation
         left join pg_namespace cn on cn.oid = co.collnamespace
        where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped
        order by a.attnum`,
      [oid],
    ),
    () => db.query<{ name: string; kind: string; definition: string; ref_schema: string | null; ref_name: string | null; ref_printed: string | null }>(
      `select con.conname as name, con.contype::text as kind, pg_get_constraintdef(con.oid) as definition,
              rn.nspname as ref_schema, r.relname as ref_name, quote_ident(rn.nspname) || '.' || quote_ident(r.relname) as ref_printed
         from pg_constraint con
         left join pg_class r on r.oid = con.confrelid
         left join pg_namespace rn on rn.oid = r.relnamespace
        where con.conrelid = $1 order by ${CONSTRAINT_ORDER}, con.conname`,
      [oid],
    ),
    () => db.query<{ name: string; definition: string }>(
      `select c.relname as name, pg_get_indexdef(i.indexrelid) as definition
         from pg_index i join pg_class c on c.oid = i.indexrelid
        where i.indrelid = $1 and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid and k.conrelid = $1)
        order by c.relname`,
      [oid],
    ),
    () => db.query<{ name: string; definition: string; enabled: string }>(
      `select tgname as name, pg_get_triggerdef(oid) as definition, tgenabled::text as enabled
         from pg_trigger where tgrelid = $1 and not tgisinternal order by tgname`,
      [oid],
    ),
    () => db.query<PolicySpec>(
      `select p.polname as name, p.polpermissive as permissive,
              case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE' when 'd' then 'DELETE' else 'ALL' end as command,
              array(select case when r = 0 then 'PUBLIC' else quote_ident(pg_get_userbyid(r)) end from unnest(p.polroles) r order by 1) as roles,
              pg_get_expr(p.polqual, p.polrelid) as using, pg_get_expr(p.polwithcheck, p.polrelid) as "withCheck"
         from pg_policy p where p.polrelid = $1 order by p.polname`,
      [oid],
    ),
    () => db.query<GrantSpec>(
      `select case when a.grantee = 0 then 'PUBLIC' else quote_ident(pg_get_userbyid(a.grantee)) end as grantee,
              a.privilege_type as privilege, a.is_grantable as grantable
         from pg_class c, aclexplode(c.relacl) a where c.oid = $1 order by 1, 2`,
      [oid],
    ),
    () => db.query<{ name: string }>(
      `select quote_ident(p.pubname) as name from pg_publication_rel pr join pg_publication p on p.oid = pr.prpubid
        where pr.prrelid = $1 order by 1`,
      [oid],
    ),
  ]);
  return {
    schema: table.schema,
    name: table.name,
    printed: table.printed,
    owner: relation.owner,
    rowSecurity: relation.rls,
    forceRowSecurity: relation.force,
    comment: relation.comment,
    columns: columns.rows,
    constraints: constraints.rows.map((c) => ({
      name: c.name,
      kind: c.kind,
      definition: c.definition,
      references: c.ref_schema && c.ref_name && c.ref_printed ? { schema: c.ref_schema, name: c.ref_name, printed: c.ref_printed } : null,
    })),
    indexes: indexes.rows,
    triggers: triggers.rows,
    policies: policies.rows,
    grants: grants.rows,
    publications: publications.rows.map((p) => p.name),
  };
}

type Thunk<T> = () => Promise<T>;

async function inSequence<T extends unknown[]>(thunks: { [K in keyof T]: Thunk<T[K]> }): Promise<T> {
  const results: unknown[] = [];
  for (const thunk of thunks as Thunk<unknown>[]) results.push(await thunk());
  return results as T;
}

/** The columns COPY moves: every stored column except generated ones (Postgres recomputes those). */
export function copiedColumns(structure: Pick<TableStructure, 'columns'>): string[] {
  return structure.columns.filter((c) => c.generated === null).map((c) => c.name);
}

/**
 * copiedColumns of each table, in one query, without the rest of the structure: what the snapshot's
 * COPY and checksums need first. The same rule as copiedColumns (which the snapshot checks it against).
 */
export async function readCopiedColumns(db: pg.ClientBase, tables: readonly TableName[]): Promise<string[][]> {
  const { rows } = await db.query<{ columns: string[] }>(
    `select coalesce((select array_agg(a.attname::text order by a.attnum) from pg_attribute a
                       where a.attrelid = t.name::regclass and a.attnum > 0 and not a.attisdropped and a.attgenerated = ''), '{}') as columns
       from unnest($1::text[]) with ordinality as t(name, position) order by t.position`,
    [tables.map((t) => t.printed)],
  );
  return rows.map((r) => r.columns);
}
