import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

/**
 * Nothing is written before the privileges and column types a command needs are checked: each missing
 * privilege is exit 2 with its GRANT, and no session, lease or state schema is left behind.
 */
describe('preflight: privileges and column types, before any write', () => {
  let env: Db;
  beforeAll(async () => {
    env = await createMigrationDatabase();
    const accountId = await insertAccount(env.pool);
    for (let i = 0; i < 3; i += 1) await insertMemory(env.pool, await insertRoom(env.pool, { accountId }), { role: 'user', content: `hi ${i}` });
  });
  afterAll(async () => env.close());

  /** A role that sees every row (BYPASSRLS) but holds only the grants `setup` gives it. */
  async function asRole(setup: (role: string) => Promise<void>, work: (url: string, role: string) => Promise<void>): Promise<void> {
    const role = `priv_${randomBytes(4).toString('hex')}`;
    const password = `pw-${randomBytes(6).toString('hex')}`;
    await env.pool.query(`create role ${role} login bypassrls password '${password}'`);
    await env.pool.query(`grant usage on schema public to ${role}`);
    try {
      await setup(role);
      const url = new URL(env.db.url);
      url.username = role;
      url.password = password;
      await work(url.toString(), role);
    } finally {
      await env.pool.query(`drop schema if exists priv_state cascade`);
      await env.pool.query(`revoke all on database ${env.db.name} from ${role}`);
      await env.pool.query(`drop owned by ${role}`);
      await env.pool.query(`drop role ${role}`);
    }
  }
  const nothingWritten = async () => {
    const { rows } = await env.pool.query(
      `select (select count(*)::int from sessions) as sessions, to_regnamespace('priv_state') is null as no_state`,
    );
    expect(rows[0]).toEqual({ sessions: 0, no_state: true });
  };
  const backfill = (url: string, ...flags: string[]) => runCli(['backfill', '--json', '--state-schema', 'priv_state', ...flags], { databaseUrl: url });

  // A table it may not touch at all is hidden from information_schema too: named with its GRANT, not "missing".
  it.each([
    ['without INSERT on chat_messages', 'revoke insert on chat_messages', 'INSERT on public.chat_messages: GRANT INSERT ON public.chat_messages TO'],
    ['with no privilege at all on sessions', 'revoke all on sessions', 'SELECT, INSERT, UPDATE on public.sessions: GRANT SELECT, INSERT, UPDATE ON public.sessions TO'],
  ])('a role %s: exit 2 naming the GRANT, nothing written', async (_case, revoke, named) => {
    await asRole(
      async (role) => {
        await env.pool.query(`grant select, insert, update on all tables in schema public to ${role}`);
        await env.pool.query(`${revoke} from ${role}`);
        await env.pool.query(`grant create on database ${env.db.name} to ${role}`);
      },
      async (url, role) => {
        const result = await backfill(url);
        expect(result.code, result.stderr).toBe(2);
        expect(result.json!.error).toContain(`${named} ${role};`);
        expect(result.json!.error).not.toContain('does not exist');
        await nothingWritten();
      },
    );
  });

  it('no CREATE on the database and no state schema yet: exit 2, dry run too, nothing written', async () => {
    await asRole(
      async (role) => void (await env.pool.query(`grant select, insert, update, delete on all tables in schema public to ${role}`)),
      async (url, role) => {
        for (const flags of [[], ['--dry-run']]) {
          const result = await backfill(url, ...flags);
          expect(result.code, `${flags}: ${result.stderr}`).toBe(2);
          expect(result.json!.error).toContain(`CREATE on database ${env.db.name}, to create the state schema priv_state: GRANT CREATE ON DATABASE ${env.db.name} TO ${role};`);
        }
        const fix = await runCli(['fix-parts', '--json', '--state-schema', 'priv_state'], { databaseUrl: url });
        expect(fix.code).toBe(2);
        await nothingWritten();
      },
    );
  });

  it('a state schema this role may not use: exit 2 with the owner and the GRANT, not exit 3', async () => {
    await env.pool.query('create schema priv_state');
    await asRole(
      async (role) => {
        await env.pool.query(`grant select, insert, update, delete on all tables in schema public to ${role}`);
        await env.pool.query(`grant create on database ${env.db.name} to ${role}`);
      },
      async (url, role) => {
        const owner = (await env.pool.query<{ u: string }>('select current_user as u')).rows[0]!.u;
        const result = await backfill(url);
        expect(result.code, result.stderr).toBe(2);
        expect(result.json!.error).toContain(`USAGE, CREATE on the state schema priv_state (owned by ${owner}): as ${owner}, GRANT USAGE, CREATE ON SCHEMA priv_state TO ${role};`);
        for (const command of ['reconcile', 'status']) {
          const reader = await runCli([command, '--json', '--state-schema', 'priv_state'], { databaseUrl: url });
          expect(reader.code, command).toBe(2);
          expect(reader.json!.error).toContain('GRANT USAGE ON SCHEMA priv_state');
        }
      },
    );
  });

  it('a column of another type than the tool reads and writes: exit 2 naming it, its type and the expected one', async () => {
    const other = await createMigrationDatabase();
    try {
      await other.pool.query('alter table chat_messages alter column id type uuid using id::uuid');
      for (const command of ['backfill', 'reconcile']) {
        const result = await runCli([command, '--json'], { databaseUrl: other.db.url });
        expect(result.code, command).toBe(2);
        expect(result.json!.error).toContain('public.chat_messages.id is uuid; the tool reads and writes it as text');
      }
      expect((await other.pool.query('select count(*)::int as n from sessions')).rows[0].n).toBe(0);
    } finally {
      await other.close();
    }
  });

  it('the fix it names for a role without CREATE on the database works: a state schema its owner made for the role', async () => {
    await asRole(
      async (role) => {
        await env.pool.query(`grant select, insert, update on all tables in schema public to ${role}`);
        await env.pool.query(`create schema priv_state authorization ${role}`);
      },
      async (url) => {
        for (const flags of [['--dry-run'], []]) {
          const result = await backfill(url, ...flags);
          expect(result.code, `${flags}: ${result.json?.error}`).toBe(0);
        }
        expect((await env.pool.query('select count(*)::int as n from sessions')).rows[0].n).toBeGreaterThan(0);
      },
    );
    await env.pool.query('truncate sessions, chats, chat_messages cascade');
  });
});
