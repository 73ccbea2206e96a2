import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { createMigrationDatabase, insertAccount, insertMemory, insertRoom } from '../support/legacy-data.ts';

type Db = Awaited<ReturnType<typeof createMigrationDatabase>>;

let env: Db;
beforeAll(async () => {
  env = await createMigrationDatabase();
});
afterAll(async () => env.close());

function withCredentials(url: string, user: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = user;
  parsed.password = password;
  return parsed.toString();
}

describe('backfill failure isolation', () => {
  it('reports the room the database rejects as failed, with its error, and commits the rest of the batch', async () => {
    const accountId = await insertAccount(env.pool);
    const good1 = await insertRoom(env.pool, { accountId, topic: 'fine' });
    const bad = await insertRoom(env.pool, { accountId, topic: 'BOOM' });
    const good2 = await insertRoom(env.pool, { accountId, topic: 'also fine' });
    for (const room of [good1, bad, good2]) await insertMemory(env.pool, room, { role: 'user', content: 'hi' });
    await env.pool.query(`alter table chats add constraint no_boom check (title <> 'BOOM')`);
    try {
      const result = await runCli(['backfill', '--json', '--batch-size', '10', '--room', good1, '--room', bad, '--room', good2], {
        databaseUrl: env.db.url,
      });
      expect(result.code).toBe(1);
      expect(result.json!.rooms).toMatchObject({ total: 3, migrated: 2, failed: 1 });
      expect(result.json!.reasons).toEqual({ room_failed: 1 });
      const lines = readFileSync(join(result.json!.reportDir, 'rooms.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const failed = lines.find((l) => l.roomId === bad);
      expect(failed).toMatchObject({ status: 'failed', reasons: ['room_failed'], memories: { total: 1 } });
      expect(failed.error).toMatch(/no_boom/);
      const chats = (await env.pool.query(`select id from chats where id = any($1::text[])`, [[good1, bad, good2]])).rows.map((r) => r.id);
      expect(chats.sort()).toEqual([good1, good2].sort());
    } finally {
      await env.pool.query(`alter table chats drop constraint no_boom`);
    }
  });
});

describe('backfill preflight', () => {
  it('refuses a role that cannot see through row-level security, and says how to fix it', async () => {
    const role = `limited_${randomBytes(4).toString('hex')}`;
    const password = `pw-${randomBytes(6).toString('hex')}`;
    await env.pool.query(`create role ${role} login password '${password}'`);
    await env.pool.query(`grant usage, create on schema public to ${role}`);
    await env.pool.query(`grant select, insert, update on all tables in schema public to ${role}`);
    // Every privilege it needs but the sight of every row: a state schema of its own to create.
    await env.pool.query(`grant create on database ${env.db.name} to ${role}`);
    try {
      const result = await runCli(['backfill', '--json', '--state-schema', `own_${role}`], { databaseUrl: withCredentials(env.db.url, role, password) });
      expect(result.code).toBe(2);
      expect(result.json!.error).toMatch(/row-level security/);
      expect(result.json!.error).toMatch(/BYPASSRLS/);
      expect(result.json!.error).toContain('rooms');
    } finally {
      await env.pool.query(`revoke create on database ${env.db.name} from ${role}`);
      await env.pool.query(`drop owned by ${role}`);
      // A run as this role may have created the state schema: it stays, owned by the test's own role.
      await env.pool.query(`reassign owned by ${role} to current_user`);
      await env.pool.query(`drop role ${role}`);
    }
  });

  describe('row-level security: accepts every role that can see every row, refuses the rest', () => {
    const TABLES = ['rooms', 'memories', 'sessions', 'chats', 'chat_messages'];
    /** A login role with table privileges but no BYPASSRLS, given to `work`, then dropped with its policies. */
    async function asLimitedRole(setup: (role: string) => Promise<void>, work: (url: string) => Promise<void>): Promise<void> {
      const role = `rls_${randomBytes(4).toString('hex')}`;
      const password = `pw-${randomBytes(6).toString('hex')}`;
      await env.pool.query(`create role ${role} login password '${password}'`);
      await env.pool.query(`grant usage on schema public to ${role}`);
      await env.pool.query(`grant select, insert, update, delete on all tables in schema public to ${role}`);
      // To create the state schema these runs name (a dry run creates it in its rolled-back transactions).
      await env.pool.query(`grant create on database ${env.db.name} to ${role}`);
      try {
        await setup(role);
        await work(withCredentials(env.db.url, role, password));
      } finally {
        for (const table of TABLES) await env.pool.query(`drop policy if exists ${role}_p on ${table}`);
        for (const table of TABLES) await env.pool.query(`drop policy if exists ${role}_r on ${table}`);
        await env.pool.query(`revoke create on database ${env.db.name} from ${role}`);
        await env.pool.query(`drop owned by ${role}`);
        await env.pool.query(`drop role ${role}`);
      }
    }
    // A state schema nobody has made: these runs read no ledger and (dry runs) create nothing.
    const run = (command: string, url: string, ...flags: string[]) =>
      runCli([command, '--json', '--state-schema', `rls_state_${randomBytes(3).toString('hex')}`, ...flags], { databaseUrl: url });

    it('a member of the owning role', async () => {
      const owner = (await env.pool.query<{ u: string }>('select current_user as u')).rows[0]!.u;
      await asLimitedRole(async (role) => void (await env.pool.query(`grant ${owner} to ${role}`)), async (url) => {
        const result = await run('backfill', url, '--dry-run');
        expect(result.code, result.json?.error).toBeLessThan(2);
      });
    });

    it('a role whose permissive policies let every command reach every row', async () => {
      await asLimitedRole(
        async (role) => {
          for (const table of TABLES) await env.pool.query(`create policy ${role}_p on ${table} for all to ${role} using (true) with check (true)`);
        },
        async (url) => {
          const result = await run('backfill', url, '--dry-run');
          expect(result.code, result.json?.error).toBeLessThan(2);
        },
      );
    });

    it('a SELECT-only policy is enough for reconcile, not for backfill; a restrictive one for neither', async () => {
      await asLimitedRole(
        async (role) => {
          for (const table of TABLES) await env.pool.query(`create policy ${role}_p on ${table} for select to ${role} using (true)`);
        },
        async (url) => {
          expect((await run('reconcile', url)).code).toBeLessThan(2);
          const backfill = await run('backfill', url, '--dry-run');
          expect(backfill.code).toBe(2);
          expect(backfill.json!.error).toContain('sessions (no policy lets INSERT reach every row)');
        },
      );
      await asLimitedRole(
        async (role) => {
          for (const table of TABLES) {
            await env.pool.query(`create policy ${role}_p on ${table} for all to ${role} using (true) with check (true)`);
            await env.pool.query(`create policy ${role}_r on ${table} as restrictive for select to ${role} using (true)`);
          }
        },
        async (url) => {
          const reconcile = await run('reconcile', url);
          expect(reconcile.code).toBe(2);
          expect(reconcile.json!.error).toContain('rooms (a restrictive policy applies to SELECT)');
        },
      );
    });

    it('status warns about a role it would refuse, and still reads (exit 0)', async () => {
      await asLimitedRole(async () => {}, async (url) => {
        const result = await run('status', url);
        expect(result.code).toBe(0);
        expect(result.json!.warnings).toEqual(expect.arrayContaining([expect.stringContaining('Row-level security hides rows of public.rooms')]));
        expect(result.stderr).toContain('Row-level security hides rows of public.rooms');
      });
    });
  });

  it('refuses a target shape it does not know, naming the column', async () => {
    await env.pool.query(`alter table chats add column tenant text not null default 'x'`);
    await env.pool.query(`alter table chats alter column tenant drop default`);
    try {
      const result = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
      expect(result.code).toBe(2);
      expect(result.json!.error).toContain('public.chats.tenant');
    } finally {
      await env.pool.query(`alter table chats drop column tenant`);
    }
  });

  it('gives up with exit 2, not a hang, when another session holds a table lock during the preflight', async () => {
    const locker = await env.pool.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table chats in access exclusive mode');
      const result = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
      expect(result.code).toBe(2);
      expect(result.json!.error).toMatch(/conflicting lock/);
      expect(result.json!.error).toMatch(/Nothing was written/);
    } finally {
      await locker.query('rollback');
      locker.release();
    }
  });

  it('refuses to overlap an incompatible live run, naming it', async () => {
    const first = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
    expect(first.code).toBeLessThan(2);
    const runId = randomUUID();
    await env.pool.query(
      `insert into recoup_migrate.leases (name, run_id, command, holder, expires_at)
       values ('drop-legacy:' || $1, $1::uuid, 'drop-legacy', 'elsewhere:1', now() + interval '1 minute')`,
      [runId],
    );
    try {
      const result = await runCli(['backfill', '--json'], { databaseUrl: env.db.url });
      expect(result.code).toBe(2);
      expect(result.json!.error).toContain(runId);
      expect(result.json!.error).toContain('drop-legacy');
      // reconcile takes no lease (it must not write) but still refuses to audit during a teardown.
      const audit = await runCli(['reconcile', '--json'], { databaseUrl: env.db.url });
      expect(audit.code).toBe(2);
      expect(audit.json!.error).toContain(runId);
    } finally {
      await env.pool.query(`delete from recoup_migrate.leases where run_id = $1`, [runId]);
    }
  });

  it('says how to fix running out of connection slots (a role, a server or a session-mode pooler at its limit)', async () => {
    const role = `capped_${randomBytes(4).toString('hex')}`;
    const password = `pw-${randomBytes(6).toString('hex')}`;
    await env.pool.query(`create role ${role} login bypassrls connection limit 1 password '${password}'`);
    await env.pool.query(`grant usage on schema public to ${role}`);
    await env.pool.query(`grant select on all tables in schema public to ${role}`);
    const state = await env.pool.query(`select 1 from pg_namespace where nspname = 'recoup_migrate'`);
    if (state.rowCount) await env.pool.query(`grant usage on schema recoup_migrate to ${role}; grant select on all tables in schema recoup_migrate to ${role}`);
    try {
      // Two batches in flight need a second connection, which the role's limit refuses.
      const result = await runCli(['reconcile', '--json', '--batch-size', '1', '--concurrency', '2'], { databaseUrl: withCredentials(env.db.url, role, password) });
      expect([2, 3]).toContain(result.code);
      expect(result.json!.error).toMatch(/too many connections for role/);
      expect(result.json!.error).toMatch(/--concurrency \+ 2 connections\. Lower --concurrency or run fewer worker processes/);
    } finally {
      await env.pool.query(`drop owned by ${role}`);
      // A run as this role may have created the state schema: it stays, owned by the test's own role.
      await env.pool.query(`reassign owned by ${role} to current_user`);
      await env.pool.query(`drop role ${role}`);
    }
  });

  it('refuses the transaction-pooler port for a command that needs a session (by the port alone), and plaintext to a remote host', async () => {
    const pooler = await runCli(['stamp-artist-id', '--json', '--database-url', 'postgres://postgres@127.0.0.1:6543/postgres']);
    expect(pooler.code).toBe(2);
    expect(pooler.json!.error).toMatch(/goes through a transaction pooler.*session pooler/);
    // backfill keeps no session state: the port is only a hint, and it goes on to connect (nothing listens here).
    const walker = await runCli(['backfill', '--json', '--database-url', 'postgres://postgres@127.0.0.1:6543/postgres']);
    expect(walker.code).toBe(2);
    expect(walker.json!.error).toMatch(/^Cannot connect to 127\.0\.0\.1:6543/);
    const plaintext = await runCli(['backfill', '--json', '--database-url', 'postgres://u:p@db.example.supabase.co:5432/postgres']);
    expect(plaintext.code).toBe(2);
    expect(plaintext.json!.error).toMatch(/--ssl-ca/);
  });

  it('rejects bad flags with exit 2, naming each one', async () => {
    const result = await runCli(['backfill', '--json', '--batch-size', '0', '--room', 'not-a-uuid'], { databaseUrl: env.db.url });
    expect(result.code).toBe(2);
    expect(result.json!.error).toContain('--batch-size');
    expect(result.json!.error).toContain('--room');
  });

  it('rejects a flag the command does not know with exit 2, and --json still gets one object', async () => {
    const result = await runCli(['backfill', '--json', '--no-such-flag'], { databaseUrl: env.db.url });
    expect(result.code).toBe(2);
    expect(result.json).toMatchObject({ command: 'backfill', exitCode: 2 });
    expect(result.json!.error).toContain('--no-such-flag');
  });
});

describe('secrets', () => {
  it('never prints the password: not in stdout, stderr, or any report, on success or on failure', async () => {
    const role = `secret_${randomBytes(4).toString('hex')}`;
    const password = `Sup3r-s3cret-${randomBytes(6).toString('hex')}`;
    await env.pool.query(`create role ${role} login superuser password '${password}'`);
    try {
      const url = withCredentials(env.db.url, role, password);
      const ok = await runCli(['backfill', '--json', '--log-level', 'debug'], { databaseUrl: url });
      expect(ok.code).toBeLessThan(2);
      const missingDb = new URL(url);
      missingDb.pathname = '/no_such_database';
      const failed = await runCli(['backfill', '--json', '--database-url', missingDb.toString()]);
      expect(failed.code).toBe(2);
      const reportFiles = readdirSync(ok.json!.reportDir).map((f) => readFileSync(join(ok.json!.reportDir, f), 'utf8'));
      for (const text of [ok.stdout, ok.stderr, failed.stdout, failed.stderr, ...reportFiles]) {
        expect(text).not.toContain(password);
      }
    } finally {
      // A run as this role may have created the state schema: it stays, owned by the test's own role.
      await env.pool.query(`reassign owned by ${role} to current_user`);
      await env.pool.query(`drop role ${role}`);
    }
  });

  it('never prints any part of a password holding @ : / # ? %, percent-encoded or not', async () => {
    const role = `secret_${randomBytes(4).toString('hex')}`;
    await env.pool.query(`create role ${role} login superuser`);
    try {
      const server = new URL(env.db.url);
      for (const special of ['@', ':', '/', '#', '?', '%', '@9/']) {
        const left = `left${randomBytes(4).toString('hex')}`;
        const right = `right${randomBytes(4).toString('hex')}`;
        const password = `${left}${special}${right}`;
        await env.pool.query(`alter role ${role} password '${password}'`);
        for (const written of [encodeURIComponent(password), password]) {
          const url = `postgres://${role}:${written}@${server.host}${server.pathname}`;
          const unreachable = `postgres://${role}:${written}@127.0.0.1:1${server.pathname}`;
          const runs = [
            await runCli(['backfill', '--json', '--report-dir', `reports-${randomBytes(4).toString('hex')}`], { databaseUrl: url }),
            await runCli(['reconcile', '--database-url', unreachable, '--report-dir', `reports-${randomBytes(4).toString('hex')}`]),
          ];
          const encoded = written === password ? 'as typed' : 'encoded';
          for (const run of runs) {
            expect(run.code, `${special} ${encoded}: ${run.stderr}`).toBeGreaterThanOrEqual(0);
            for (const part of [left, right, encodeURIComponent(password)]) {
              expect(run.stdout + run.stderr, `${special} ${encoded}`).not.toContain(part);
            }
          }
          // Encoded, every password works; as typed, it works or is refused with the advice to encode it.
          if (written !== password) expect(runs[0]!.code, `${special} encoded: ${runs[0]!.stderr}`).toBeLessThan(2);
          else if (runs[0]!.code === 2) expect(runs[0]!.stderr).toMatch(/percent-encoded|not a valid URL/);
        }
      }
    } finally {
      // A run as this role may have created the state schema: it stays, owned by the test's own role.
      await env.pool.query(`reassign owned by ${role} to current_user`);
      await env.pool.query(`drop role ${role}`);
    }
    // 28 runs of the binary: on 2 busy cores that can take more than the default minute.
  }, 240_000);

  it('puts no value from a message in a report without --show-values: not a made-up role, a tool name or a state', async () => {
    const accountId = await insertAccount(env.pool);
    const room = await insertRoom(env.pool, { accountId, topic: 'values' });
    await insertMemory(env.pool, room, { role: 'my card 4111-1111-1111', content: 'hi' });
    await insertMemory(env.pool, room, {
      role: 'assistant',
      parts: [{ type: 'text', text: 'ok' }, { type: 'tool-wire_4111_to_acct', toolCallId: 'c1', state: 'secret-state-4111', input: {} }],
    });
    for (const command of ['backfill', 'backfill', 'reconcile']) {
      const run = await runCli([command, '--json', '--room', room, '--log-level', 'debug'], { databaseUrl: env.db.url });
      expect(run.code, run.stderr).toBeLessThan(2);
      const reports = readdirSync(run.json!.reportDir).map((f) => readFileSync(join(run.json!.reportDir, f), 'utf8'));
      expect(reports.join('\n')).toContain('message_unsupported_role');
      for (const text of [run.stdout, run.stderr, ...reports]) expect(text, command).not.toMatch(/4111|secret-state|wire_/);
    }
  });
});
