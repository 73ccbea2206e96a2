import type pg from 'pg';

/** A table named by schema and name, with the form Postgres prints it in (`public.rooms`). */
export interface TableName {
  schema: string;
  name: string;
  /** quote_ident(schema) || '.' || quote_ident(name): how ruleutils prints it with an empty search_path. */
  printed: string;
}

/** A foreign key from a table that stays, onto a table that goes: the plan drops just the constraint. */
export interface KeptForeignKey {
  table: TableName;
  name: string;
  definition: string;
  references: TableName;
}

/** Something that would break, or stop DROP TABLE, if the tables went: the command refuses. */
export interface Blocker {
  kind: string;
  object: string;
  detail: string;
}

/** What DROP TABLE removes along with the tables without a word: listed in the plan, kept in the snapshot. */
export interface SilentlyDropped {
  triggers: string[];
  policies: string[];
  publications: string[];
  /** Trigger functions used only by the tables' own triggers: they stay, unused. */
  orphanedTriggerFunctions: string[];
}

export interface DependentScan {
  tables: (TableName & { oid: number })[];
  keptForeignKeys: KeptForeignKey[];
  blockers: Blocker[];
  silentlyDropped: SilentlyDropped;
  /** Plan tables in the order they can be dropped one by one: referencing tables first. */
  dropOrder: TableName[];
}

interface DependRow {
  catalog: string;
  description: string;
  owner_oid: number | null;
  contype: string | null;
  constraint_name: string | null;
  constraint_def: string | null;
  owner_schema: string | null;
  owner_name: string | null;
  owner_printed: string | null;
  referenced_oid: number;
  relkind: string | null;
}

/**
 * Every object that depends on the tables, found in pg_depend (on the tables and on their row types):
 * FKs from kept tables go into the plan, the tables' own parts are dropped with them, anything else is
 * a blocker. `n` (normal) dependencies block DROP TABLE; `a` (auto) ones vanish silently.
 */
const DEPENDENTS_SQL = `
with targets as (
  select c.oid, c.reltype from pg_class c where c.oid = any($1::oid[])
)
select d.classid::regclass::text as catalog,
       pg_describe_object(d.classid, d.objid, d.objsubid) as description,
       coalesce(con.conrelid, trg.tgrelid, pol.polrelid, rw.ev_class, ad.adrelid, ix.indrelid, cls.oid)::int as owner_oid,
       con.contype::text, con.conname as constraint_name,
       case when con.oid is not null then pg_get_constraintdef(con.oid) end as constraint_def,
       own_ns.nspname as owner_schema, own.relname as owner_name,
       quote_ident(own_ns.nspname) || '.' || quote_ident(own.relname) as owner_printed,
       coalesce(t.oid, tt.oid)::int as referenced_oid,
       cls.relkind::text
  from pg_depend d
  left join targets t on d.refclassid = 'pg_class'::regclass and d.refobjid = t.oid
  left join targets tt on d.refclassid = 'pg_type'::regclass and d.refobjid = tt.reltype
  left join pg_constraint con on d.classid = 'pg_constraint'::regclass and con.oid = d.objid
  left join pg_trigger trg on d.classid = 'pg_trigger'::regclass and trg.oid = d.objid
  left join pg_policy pol on d.classid = 'pg_policy'::regclass and pol.oid = d.objid
  left join pg_rewrite rw on d.classid = 'pg_rewrite'::regclass and rw.oid = d.objid
  left join pg_attrdef ad on d.classid = 'pg_attrdef'::regclass and ad.oid = d.objid
  left join pg_class cls on d.classid = 'pg_class'::regclass and cls.oid = d.objid
  left join pg_index ix on ix.indexrelid = cls.oid
  left join pg_class own on own.oid = coalesce(con.conrelid, trg.tgrelid, pol.polrelid, rw.ev_class, ad.adrelid, ix.indrelid, cls.oid)
  left join pg_namespace own_ns on own_ns.oid = own.relnamespace
 where (t.oid is not null or tt.oid is not null) and d.deptype in ('n', 'a')
 order by 1, 2`;

/**
 * Finds the tables, and classifies every object that depends on them. Runs with search_path = '' so
 * that the FK definitions it records name their tables schema-qualified, as restore replays them.
 */
export async function scanDependents(
  pool: pg.Pool,
  tables: readonly { schema: string; name: string }[],
  allowed: ReadonlySet<string> = new Set(),
): Promise<DependentScan> {
  const client = await pool.connect();
  try {
    await client.query('begin read only');
    await client.query(`set local search_path = ''`);
    return await scanWith(client, tables, allowed);
  } finally {
    await client.query('rollback').catch(() => {});
    client.release();
  }
}

async function scanWith(db: pg.ClientBase, tables: readonly { schema: string; name: string }[], allowed: ReadonlySet<string>): Promise<DependentScan> {
  const { rows: found } = await db.query<TableName & { oid: number; relkind: string; inherits: boolean }>(
    `select c.oid::int as oid, n.nspname as schema, c.relname as name, quote_ident(n.nspname) || '.' || quote_ident(c.relname) as printed,
            c.relkind::text as relkind,
            exists (select 1 from pg_inherits i where i.inhrelid = c.oid or i.inhparent = c.oid) as inherits
       from unnest($1::text[], $2::text[]) as w(schema, name)
       join pg_namespace n on n.nspname = w.schema
       join pg_class c on c.relnamespace = n.oid and c.relname = w.name and c.relkind in ('r', 'p', 'v', 'm', 'f')
      order by c.relname`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  const blockers: Blocker[] = [];
  for (const table of found) {
    if (table.relkind !== 'r' || table.inherits) {
      blockers.push({ kind: 'unsupported table', object: table.printed, detail: 'not a plain table (partitioned, inherited, view or foreign): the snapshot cannot keep it' });
    }
  }
  const oids = found.map((t) => t.oid);
  const planOids = new Set(oids);
  const keptForeignKeys: KeptForeignKey[] = [];
  const edges: [number, number][] = [];
  const silentlyDropped: SilentlyDropped = { triggers: [], policies: [], publications: [], orphanedTriggerFunctions: [] };
  const byOid = new Map(found.map((t) => [t.oid, t]));

  const { rows } = await db.query<DependRow>(DEPENDENTS_SQL, [oids]);
  for (const row of rows) {
    const ownedByPlan = row.owner_oid !== null && planOids.has(row.owner_oid);
    const referenced = byOid.get(row.referenced_oid);
    if (row.catalog === 'pg_constraint' && row.contype === 'f' && row.owner_oid !== null) {
      if (ownedByPlan) edges.push([row.owner_oid, row.referenced_oid]);
      else if (referenced && row.owner_schema && row.owner_name && row.owner_printed && row.constraint_name && row.constraint_def) {
        keptForeignKeys.push({
          table: { schema: row.owner_schema, name: row.owner_name, printed: row.owner_printed },
          name: row.constraint_name,
          definition: row.constraint_def,
          references: { schema: referenced.schema, name: referenced.name, printed: referenced.printed },
        });
      }
      continue;
    }
    if (ownedByPlan && ['pg_constraint', 'pg_trigger', 'pg_policy', 'pg_attrdef'].includes(row.catalog)) continue;
    if (ownedByPlan && row.catalog === 'pg_class' && row.relkind === 'i') continue;
    if (row.catalog === 'pg_publication_rel') {
      silentlyDropped.publications.push(row.description);
      continue;
    }
    if (row.catalog === 'pg_class' && row.relkind === 'S') {
      blockers.push({ kind: 'owned sequence', object: row.description, detail: 'serial/identity columns are not supported by the snapshot; drop the tables by hand' });
      continue;
    }
    const kind = row.catalog === 'pg_rewrite' ? 'view or rule' : row.catalog === 'pg_policy' ? 'policy of another table' : row.catalog.replace(/^pg_/, '');
    if (allowed.has(row.description)) continue;
    blockers.push({ kind, object: row.description, detail: `depends on ${referenced?.printed ?? 'a plan table'}; DROP TABLE would fail or break it` });
  }

  await listOwnParts(db, oids, silentlyDropped);
  blockers.push(...(await scanFunctionBodies(db, found, allowed)));
  blockers.push(...(await scanCronJobs(db, found)));
  return { tables: found.map(({ oid, schema, name, printed }) => ({ oid, schema, name, printed })), keptForeignKeys, blockers, silentlyDropped, dropOrder: dependencyOrder(found, edges) };
}

async function listOwnParts(db: pg.ClientBase, oids: number[], into: SilentlyDropped): Promise<void> {
  const { rows } = await db.query<{ kind: string; name: string }>(
    `select 'trigger' as kind, format('%s on %s', t.tgname, t.tgrelid::regclass) as name
       from pg_trigger t where t.tgrelid = any($1::oid[]) and not t.tgisinternal
     union all
     select 'policy', format('%s on %s', p.polname, p.polrelid::regclass) from pg_policy p where p.polrelid = any($1::oid[])
     union all
     select 'orphan', t.tgfoid::regprocedure::text from pg_trigger t
      where t.tgrelid = any($1::oid[]) and not t.tgisinternal
        and not exists (select 1 from pg_trigger o where o.tgfoid = t.tgfoid and not (o.tgrelid = any($1::oid[])))
     order by 1, 2`,
    [oids],
  );
  for (const row of rows) {
    if (row.kind === 'trigger') into.triggers.push(row.name);
    else if (row.kind === 'policy') into.policies.push(row.name);
    else if (!into.orphanedTriggerFunctions.includes(row.name)) into.orphanedTriggerFunctions.push(row.name);
  }
}

/** A word-boundary regex naming any of the tables (names are lower-case identifiers: no metacharacters). */
function tableNamePattern(tables: readonly TableName[]): string {
  return `\\m(${tables.map((t) => t.name).join('|')})\\M`;
}

/**
 * PL/pgSQL and string-bodied SQL functions record no dependency: their text is scanned instead. The
 * tables' own trigger functions are not blockers (their only triggers go with the tables).
 */
async function scanFunctionBodies(db: pg.ClientBase, tables: readonly (TableName & { oid: number })[], allowed: ReadonlySet<string>): Promise<Blocker[]> {
  if (tables.length === 0) return [];
  const { rows } = await db.query<{ name: string; plain: string; matched: string }>(
    `select p.oid::regprocedure::text as name, format('%I.%I', n.nspname, p.proname) as plain,
            (regexp_match(p.prosrc, $1, 'i'))[1] as matched
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where p.prokind in ('f', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
        and p.prosrc ~* $1
        and not exists (select 1 from pg_trigger t where t.tgfoid = p.oid and t.tgrelid = any($2::oid[]))
      order by 1`,
    [tableNamePattern(tables), tables.map((t) => t.oid)],
  );
  return rows
    .filter((row) => !allowed.has(row.plain) && !allowed.has(row.name))
    .map((row) => ({ kind: 'function', object: `function ${row.name}`, detail: `its body names "${row.matched}" (no dependency is recorded, so DROP TABLE would leave it broken)` }));
}

async function scanCronJobs(db: pg.ClientBase, tables: readonly TableName[]): Promise<Blocker[]> {
  if (tables.length === 0) return [];
  const { rows: present } = await db.query<{ present: boolean }>(`select to_regclass('cron.job') is not null as present`);
  if (!present[0]?.present) return [];
  const { rows } = await db.query<{ jobid: string; jobname: string | null; matched: string }>(
    `select jobid::text, jobname, (regexp_match(command, $1, 'i'))[1] as matched from cron.job where command ~* $1 order by jobid`,
    [tableNamePattern(tables)],
  );
  return rows.map((row) => ({ kind: 'cron job', object: `cron job ${row.jobid}${row.jobname ? ` (${row.jobname})` : ''}`, detail: `its command names "${row.matched}"` }));
}

/** Referencing tables before referenced ones, so each DROP TABLE (without CASCADE) finds no dependent left. */
function dependencyOrder(tables: readonly (TableName & { oid: number })[], edges: readonly [number, number][]): TableName[] {
  const ordered: TableName[] = [];
  const placed = new Set<number>();
  const remaining = [...tables];
  while (remaining.length > 0) {
    const index = remaining.findIndex((table) =>
      edges.every(([from, to]) => to !== table.oid || from === table.oid || placed.has(from)),
    );
    // A cycle of FKs: take the first; DROP TABLE then fails loudly inside the transaction and nothing is dropped.
    const [next] = remaining.splice(index === -1 ? 0 : index, 1);
    if (!next) break;
    placed.add(next.oid);
    ordered.push({ schema: next.schema, name: next.name, printed: next.printed });
  }
  return ordered;
}
