import type pg from 'pg';

/**
 * sessions.artist_id as sql/target-artist-id.sql creates it: the names Postgres gives an inline
 * `references` constraint and the index that file names.
 */
export const ARTIST_ID_FK = 'sessions_artist_id_fkey';
export const ARTIST_ID_INDEX = 'sessions_artist_id_idx';

/** What the catalogs say about sessions.artist_id, its foreign key and its index. */
export interface ArtistIdSchemaState {
  /** null: the column is absent; else its type as format_type prints it. */
  columnType: string | null;
  /** The foreign key from sessions(artist_id) to accounts(id), if any. */
  foreignKey: { name: string; validated: boolean; onDelete: string } | null;
  /** An index named sessions_artist_id_idx, if any. */
  index: { valid: boolean; definition: string } | null;
  /** Who owns public.sessions, and whether the current role may run DDL on it (owner or member). */
  owner: string;
  canAlter: boolean;
  /** Whether the current role may reference public.accounts in a foreign key. */
  canReferenceAccounts: boolean;
  currentUser: string;
}

// pg_constraint.confdeltype letters, as ALTER TABLE spells them.
const ON_DELETE: Record<string, string> = {
  a: 'NO ACTION',
  r: 'RESTRICT',
  c: 'CASCADE',
  n: 'SET NULL',
  d: 'SET DEFAULT',
};

/** Reads the column, FK, index and ownership facts in one round trip. */
export async function inspectArtistIdSchema(db: pg.Pool | pg.ClientBase): Promise<ArtistIdSchemaState> {
  const { rows } = await db.query<{
    column_type: string | null;
    fk_name: string | null;
    fk_validated: boolean | null;
    fk_on_delete: string | null;
    index_valid: boolean | null;
    index_definition: string | null;
    owner: string;
    can_alter: boolean;
    can_reference: boolean;
    current_user: string;
  }>(
    `select
       (select format_type(a.atttypid, a.atttypmod) from pg_attribute a
         where a.attrelid = c.oid and a.attname = 'artist_id' and not a.attisdropped) as column_type,
       fk.conname as fk_name, fk.convalidated as fk_validated, fk.confdeltype::text as fk_on_delete,
       ix.indisvalid as index_valid, pg_get_indexdef(ix.indexrelid) as index_definition,
       pg_get_userbyid(c.relowner) as owner,
       pg_has_role(current_user, c.relowner, 'MEMBER') as can_alter,
       has_table_privilege(current_user, 'public.accounts', 'REFERENCES') as can_reference,
       current_user::text as current_user
     from pg_class c
     left join lateral (
       select con.conname, con.convalidated, con.confdeltype from pg_constraint con
        where con.conrelid = c.oid and con.contype = 'f'
          and con.confrelid = 'public.accounts'::regclass
          and con.conkey = array[(select attnum from pg_attribute
                                   where attrelid = c.oid and attname = 'artist_id' and not attisdropped)]
        order by con.conname = $1 desc, con.conname limit 1
     ) fk on true
     left join lateral (
       select i.indexrelid, i.indisvalid from pg_index i
         join pg_class ic on ic.oid = i.indexrelid
        where i.indrelid = c.oid and ic.relname = $2
     ) ix on true
     where c.oid = 'public.sessions'::regclass`,
    [ARTIST_ID_FK, ARTIST_ID_INDEX],
  );
  const row = rows[0];
  if (!row) throw new Error('public.sessions is not in pg_class');
  return {
    columnType: row.column_type,
    foreignKey:
      row.fk_name === null
        ? null
        : { name: row.fk_name, validated: row.fk_validated === true, onDelete: ON_DELETE[row.fk_on_delete ?? 'a'] ?? 'NO ACTION' },
    index: row.index_valid === null ? null : { valid: row.index_valid, definition: row.index_definition ?? '' },
    owner: row.owner,
    canAlter: row.can_alter,
    canReferenceAccounts: row.can_reference,
    currentUser: row.current_user,
  };
}

/**
 * One DDL statement of the plan. `transactional` ones run in a short transaction with SET LOCAL
 * lock_timeout; `concurrent` ones (CREATE/DROP INDEX CONCURRENTLY) cannot run in a transaction block and
 * run alone on their own client.
 */
export interface DdlStep {
  sql: string;
  mode: 'transactional' | 'concurrent';
}

const ADD_COLUMN = 'alter table public.sessions add column if not exists artist_id uuid';
const ADD_FK =
  `alter table public.sessions add constraint ${ARTIST_ID_FK} foreign key (artist_id) ` +
  'references public.accounts (id) on delete cascade not valid';
const DROP_INVALID_INDEX = `drop index concurrently if exists public.${ARTIST_ID_INDEX}`;
const CREATE_INDEX = `create index concurrently if not exists ${ARTIST_ID_INDEX} on public.sessions (artist_id)`;
const validateFk = (name: string) => `alter table public.sessions validate constraint "${name.replaceAll('"', '""')}"`;

/**
 * The DDL still needed, in order, from what the catalogs say. Problems that DDL must not paper over
 * (a column of another type, an FK with another ON DELETE) come back as `conflicts`.
 */
export function planArtistIdDdl(state: ArtistIdSchemaState): { steps: DdlStep[]; conflicts: string[] } {
  const steps: DdlStep[] = [];
  const conflicts: string[] = [];
  if (state.columnType === null) {
    steps.push({ sql: ADD_COLUMN, mode: 'transactional' });
  } else if (state.columnType !== 'uuid') {
    conflicts.push(`public.sessions.artist_id exists with type ${state.columnType}, not uuid`);
  }
  if (state.foreignKey === null) {
    steps.push({ sql: ADD_FK, mode: 'transactional' }, { sql: validateFk(ARTIST_ID_FK), mode: 'transactional' });
  } else if (state.foreignKey.onDelete !== 'CASCADE') {
    conflicts.push(
      `the foreign key ${state.foreignKey.name} on public.sessions.artist_id is ON DELETE ${state.foreignKey.onDelete}, not CASCADE`,
    );
  } else if (!state.foreignKey.validated) {
    steps.push({ sql: validateFk(state.foreignKey.name), mode: 'transactional' });
  }
  if (state.index === null) {
    steps.push({ sql: CREATE_INDEX, mode: 'concurrent' });
  } else if (!state.index.valid) {
    // A failed CREATE INDEX CONCURRENTLY leaves an INVALID index that IF NOT EXISTS would silently keep.
    steps.push({ sql: DROP_INVALID_INDEX, mode: 'concurrent' }, { sql: CREATE_INDEX, mode: 'concurrent' });
  }
  return { steps, conflicts };
}
