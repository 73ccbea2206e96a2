import pg from 'pg';
import { errorMessage, PreconditionError } from './errors.ts';
import { inTransaction } from './transactions.ts';

/** Facts about the connected database that change what the tool does. */
export interface DatabaseShape {
  /** sessions.artist_id exists (added by stamp-artist-id). */
  readonly sessionsHasArtistId: boolean;
  /** rooms.artist_id exists. */
  readonly roomsHasArtistId: boolean;
  readonly serverVersion: string;
  readonly currentUser: string;
}

// The preflight waits this long behind a conflicting lock before giving up with exit 2.
const PREFLIGHT_LOCK_TIMEOUT_MS = 5_000;
const PREFLIGHT_STATEMENT_TIMEOUT_MS = 30_000;
const LOCK_NOT_AVAILABLE = '55P03';

export const RLS_TABLES = ['rooms', 'memories', 'sessions', 'chats', 'chat_messages'] as const;

// The columns the tool reads or writes. Any other column must be nullable or have a default, or the
// tool's INSERTs would fail on every row.
const REQUIRED_COLUMNS: Record<string, readonly string[]> = {
  accounts: ['id'],
  rooms: ['id', 'account_id', 'topic', 'updated_at'],
  memories: ['id', 'room_id', 'content', 'updated_at'],
  sessions: ['id', 'account_id', 'title', 'status', 'created_at', 'updated_at'],
  chats: ['id', 'session_id', 'title', 'created_at', 'updated_at'],
  chat_messages: ['id', 'chat_id', 'role', 'parts', 'created_at'],
};
const WRITTEN_TABLES = new Set(['sessions', 'chats', 'chat_messages']);

// The types the tool reads and writes those columns as (information_schema's data_type). Another type
// makes its casts and comparisons fail mid-run, after some rooms were written.
const TEXT = ['text', 'character varying'];
const UUID = ['uuid'];
const TIME = ['timestamp with time zone'];
const COLUMN_TYPES: Record<string, Record<string, readonly string[]>> = {
  accounts: { id: UUID },
  rooms: { id: UUID, account_id: UUID, topic: TEXT, updated_at: TIME, artist_id: UUID },
  memories: { id: UUID, room_id: UUID, content: ['jsonb'], updated_at: TIME },
  sessions: { id: TEXT, account_id: UUID, title: TEXT, status: TEXT, created_at: TIME, updated_at: TIME, artist_id: UUID },
  chats: { id: TEXT, session_id: TEXT, title: TEXT, created_at: TIME, updated_at: TIME },
  chat_messages: { id: TEXT, chat_id: TEXT, role: TEXT, parts: ['jsonb'], created_at: TIME },
};

export type TablePrivilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';

/** What a command needs of the database before it may start. */
export interface Needs {
  /** The target tables too (every command but the legacy-only ones). */
  target: boolean;
  /** The legacy tables (all but status and restore, which run when they may be gone). */
  legacy?: boolean;
  /** What it writes to the target tables, beyond reading them (SELECT on every table it reads is implied). */
  writes?: Partial<Record<'sessions' | 'chats' | 'chat_messages', readonly TablePrivilege[]>>;
  /** The state schema it uses: `write` creates it when absent and writes its tables; otherwise it only reads one that exists. */
  state?: { schema: string; write: boolean };
}
const WRITTEN_COLUMNS = new Set(['id', 'account_id', 'title', 'artist_id', 'created_at', 'updated_at', 'session_id', 'chat_id', 'role', 'parts']);

interface ColumnRow {
  table_name: string;
  column_name: string;
  is_nullable: 'YES' | 'NO';
  column_default: string | null;
  is_identity: 'YES' | 'NO';
  is_generated: 'ALWAYS' | 'NEVER';
  data_type: string;
}

/**
 * Checks what the contract requires before any work: the legacy and target tables are there and shaped
 * as expected, and the role can see every row through RLS. Throws PreconditionError (exit 2) naming the
 * problem and its fix.
 */
export async function inspectDatabase(db: pg.Pool | pg.ClientBase, needs: Needs): Promise<DatabaseShape> {
  if (!(db instanceof pg.Pool)) return await inspectWith(db, needs);
  // information_schema.columns takes ACCESS SHARE on each table; behind a session holding ACCESS
  // EXCLUSIVE (a migration, a VACUUM FULL) it would wait forever. Wait briefly, then say who blocks.
  try {
    return await inTransaction(
      db,
      { isolation: 'read committed', readOnly: true, lockTimeoutMs: PREFLIGHT_LOCK_TIMEOUT_MS, statementTimeoutMs: PREFLIGHT_STATEMENT_TIMEOUT_MS },
      (client) => inspectWith(client, needs),
    );
  } catch (error) {
    if ((error as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw error;
    throw new PreconditionError(
      `Could not read the definition of the legacy and target tables within ${PREFLIGHT_LOCK_TIMEOUT_MS / 1000} s: ` +
        `another session holds a conflicting lock on one of them (${errorMessage(error)}). Nothing was written. ` +
        'Find it with: select pid, query from pg_stat_activity where pid in (select pid from pg_locks where not granted or mode = \'AccessExclusiveLock\'); then re-run.',
    );
  }
}

async function inspectWith(db: pg.ClientBase, needs: Needs): Promise<DatabaseShape> {
  // First: information_schema lists only the columns a role holds some privilege on, so a table this role
  // may not read at all would look absent, and be reported as missing instead of with its GRANT.
  await assertPrivileges(db, needs);
  const tables = needs.target ? Object.keys(REQUIRED_COLUMNS) : ['accounts', 'rooms', 'memories'];
  const { rows: columns } = await db.query<ColumnRow>(
    `select table_name, column_name, is_nullable, column_default, is_identity, is_generated, data_type
       from information_schema.columns
      where table_schema = 'public' and table_name = any($1::text[])`,
    [tables],
  );
  const byTable = new Map<string, ColumnRow[]>();
  for (const column of columns) {
    const list = byTable.get(column.table_name) ?? [];
    list.push(column);
    byTable.set(column.table_name, list);
  }

  const problems: string[] = [];
  for (const table of tables) {
    const present = byTable.get(table);
    if (!present) {
      problems.push(`table public.${table} does not exist (create it with \`recoup-migrate schema\` on a test database)`);
      continue;
    }
    const names = new Set(present.map((c) => c.column_name));
    for (const required of REQUIRED_COLUMNS[table] ?? []) {
      if (!names.has(required)) problems.push(`public.${table}.${required} is missing`);
    }
    for (const column of present) {
      const expected = COLUMN_TYPES[table]?.[column.column_name];
      if (expected && !expected.includes(column.data_type)) {
        problems.push(`public.${table}.${column.column_name} is ${column.data_type}; the tool reads and writes it as ${expected[0]}`);
      }
    }
    if (WRITTEN_TABLES.has(table)) {
      for (const column of present) {
        const fillable = column.is_nullable === 'YES' || column.column_default !== null || column.is_identity === 'YES' || column.is_generated === 'ALWAYS';
        if (!fillable && !WRITTEN_COLUMNS.has(column.column_name)) {
          problems.push(
            `public.${table}.${column.column_name} is NOT NULL without a default, and recoup-migrate does not ` +
              'know what to write there; this tool version does not support that target shape',
          );
        }
      }
    }
  }
  if (problems.length > 0) {
    throw new PreconditionError(`The database is not shaped as expected:\n  - ${problems.join('\n  - ')}`);
  }

  await assertVisibleThroughRls(db, needs.target ? RLS_TABLES : ['rooms', 'memories'], needs.writes ?? {});

  const { rows: info } = await db.query<{ version: string; current_user: string }>(
    `select current_setting('server_version') as version, current_user`,
  );
  return {
    sessionsHasArtistId: byTable.get('sessions')?.some((c) => c.column_name === 'artist_id') ?? false,
    roomsHasArtistId: byTable.get('rooms')?.some((c) => c.column_name === 'artist_id') ?? false,
    serverVersion: info[0]?.version ?? 'unknown',
    currentUser: info[0]?.current_user ?? 'unknown',
  };
}

/** A table whose rows the role may not all see (or write) through row-level security, and why. */
export interface HiddenTable {
  table: string;
  why: string;
}

/**
 * The tables row-level security would hide rows of from this role: it reads no rows and gets no error,
 * and every check would come out "clean". Row security is not active for a role with BYPASSRLS, for the
 * owner or a member inheriting from it (unless FORCE ROW LEVEL SECURITY): Postgres' row_security_active()
 * says so. Where it is active, a table passes only when, for every command the tool runs on it (SELECT;
 * INSERT, UPDATE and DELETE on the target tables for the writers), a permissive policy that applies to
 * the role allows every row (a condition of exactly `true`) and no restrictive policy applies.
 */
export async function tablesHiddenByRls(db: pg.ClientBase | pg.Pool, tables: readonly string[], writes: NonNullable<Needs['writes']>): Promise<HiddenTable[]> {
  const { rows } = await db.query<{ relname: string; active: boolean; policies: { cmd: string; permissive: string; qual: string | null; with_check: string | null }[] }>(
    `select c.relname, row_security_active(c.oid) as active,
            coalesce((select json_agg(json_build_object('cmd', p.cmd, 'permissive', p.permissive, 'qual', p.qual, 'with_check', p.with_check))
                        from pg_policies p
                       where p.schemaname = 'public' and p.tablename = c.relname
                         and exists (select 1 from unnest(p.roles) as r(name)
                                      where case when r.name = 'public' then true else pg_has_role(current_user, r.name, 'MEMBER') end)),
                     '[]'::json) as policies
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'public'
      where c.relname = any($1::text[]) and c.relkind in ('r', 'p')`,
    [tables],
  );
  const hidden: HiddenTable[] = [];
  for (const row of rows) {
    if (!row.active) continue;
    const commands = ['SELECT', ...(writes[row.relname as keyof typeof writes] ?? [])];
    for (const command of commands) {
      const applying = row.policies.filter((p) => p.cmd === 'ALL' || p.cmd === command);
      const restrictive = applying.some((p) => p.permissive !== 'PERMISSIVE');
      const allRows = applying.some((p) => p.permissive === 'PERMISSIVE' && allowsEveryRow(p, command));
      if (restrictive || !allRows) {
        hidden.push({ table: row.relname, why: restrictive ? `a restrictive policy applies to ${command}` : `no policy lets ${command} reach every row` });
        break;
      }
    }
  }
  return hidden;
}

/** USING (true) for the rows it reads; a check of true (WITH CHECK, or USING standing in for it) for the rows it writes. */
function allowsEveryRow(policy: { qual: string | null; with_check: string | null }, command: string): boolean {
  const check = (policy.with_check ?? policy.qual) === 'true';
  if (command === 'INSERT') return check;
  if (command === 'UPDATE') return policy.qual === 'true' && check;
  return policy.qual === 'true';
}

async function assertVisibleThroughRls(db: pg.ClientBase, tables: readonly string[], writes: NonNullable<Needs['writes']>): Promise<void> {
  const hidden = await tablesHiddenByRls(db, tables, writes);
  if (hidden.length === 0) return;
  const { rows } = await db.query<{ role: string }>('select current_user as role');
  const role = rows[0]?.role ?? 'this role';
  throw new PreconditionError(
    `Role ${role} cannot see through row-level security on ${hidden.map((h) => `${h.table} (${h.why})`).join(', ')}: ` +
      'it would read no rows and report everything clean. Connect as a role with BYPASSRLS (Supabase\'s ' +
      `postgres role has it) or the tables' owner, or run: ALTER ROLE ${role} BYPASSRLS;`,
  );
}

const LEGACY_READS = ['accounts', 'rooms', 'memories'];
const TARGET_READS = ['sessions', 'chats', 'chat_messages'];
const STATE_TABLES = ['runs', 'leases', 'batches', 'room_ledger', 'target_ledger'];

/**
 * Before any write or lease: the role holds every privilege the command will use, on the tables it
 * reads and writes and on the state schema (or may create it). Each missing one is named with its GRANT,
 * so nothing is half done and no schema ends up owned by a role that cannot finish the job.
 */
export async function assertPrivileges(db: pg.ClientBase | pg.Pool, needs: Needs): Promise<void> {
  const reads = [...(needs.legacy === false ? [] : LEGACY_READS), ...(needs.target ? TARGET_READS : [])];
  const wanted: [string, TablePrivilege][] = reads.map((table) => [`public.${table}`, 'SELECT']);
  for (const [table, privileges] of Object.entries(needs.writes ?? {})) for (const privilege of privileges) wanted.push([`public.${table}`, privilege]);
  const missing: string[] = [];
  // Names as SQL the operator can paste: Postgres' quote_ident quotes only where it must.
  const { rows } = await db.query<{ role: string; role_sql: string; database: string; database_sql: string; create_db: boolean }>(
    `select current_user as role, quote_ident(current_user) as role_sql, current_database() as database,
            quote_ident(current_database()) as database_sql, has_database_privilege(current_database(), 'CREATE') as create_db`,
  );
  const { role, role_sql: roleSql, database, database_sql: databaseSql, create_db: mayCreateSchema } = rows[0]!;
  const state = needs.state;
  if (state) {
    const { rows: schema } = await db.query<{ present: boolean; usage: boolean; create: boolean; owner: string | null; tables: string[]; quoted: string }>(
      `select n.oid is not null as present, quote_ident(s.name) as quoted,
              coalesce(has_schema_privilege(n.oid, 'USAGE'), false) as usage,
              coalesce(has_schema_privilege(n.oid, 'CREATE'), false) as create,
              pg_get_userbyid(n.nspowner) as owner,
              coalesce((select array_agg(c.relname::text) from pg_class c where c.relnamespace = n.oid and c.relkind = 'r' and c.relname = any($2::text[])), '{}') as tables
         from (select $1::text as name) s left join pg_namespace n on n.nspname = s.name`,
      [state.schema, STATE_TABLES],
    );
    const found = schema[0]!;
    const quoted = found.quoted;
    if (!found.present) {
      if (state.write && !mayCreateSchema) {
        missing.push(`CREATE on database ${database}, to create the state schema ${state.schema}: GRANT CREATE ON DATABASE ${databaseSql} TO ${roleSql}; or have its owner run CREATE SCHEMA ${quoted} AUTHORIZATION ${roleSql};`);
      }
    } else if (!found.usage || (state.write && !found.create)) {
      const grant = state.write ? 'USAGE, CREATE' : 'USAGE';
      missing.push(`${grant} on the state schema ${state.schema} (owned by ${found.owner}): as ${found.owner}, GRANT ${grant} ON SCHEMA ${quoted} TO ${roleSql}; or ALTER SCHEMA ${quoted} OWNER TO ${roleSql};`);
    } else {
      for (const table of found.tables) for (const privilege of state.write ? (['SELECT', 'INSERT', 'UPDATE', 'DELETE'] as const) : (['SELECT'] as const)) wanted.push([`${quoted}.${table}`, privilege]);
    }
  }
  if (wanted.length > 0) {
    const { rows: denied } = await db.query<{ target: string; privilege: string }>(
      `select w.target, w.privilege from unnest($1::text[], $2::text[]) as w(target, privilege)
        where to_regclass(w.target) is not null and not has_table_privilege(w.target, w.privilege)`,
      [wanted.map(([target]) => target), wanted.map(([, privilege]) => privilege)],
    );
    const byTable = new Map<string, string[]>();
    for (const row of denied) byTable.set(row.target, [...(byTable.get(row.target) ?? []), row.privilege]);
    for (const [table, privileges] of byTable) missing.push(`${privileges.join(', ')} on ${table}: GRANT ${privileges.join(', ')} ON ${table} TO ${roleSql};`);
  }
  if (missing.length > 0) {
    throw new PreconditionError(`Role ${role} lacks privileges this command needs; nothing was written:\n  - ${missing.join('\n  - ')}`);
  }
}
