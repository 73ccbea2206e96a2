import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { listenOnLocalPort } from './tcp-proxy.ts';

/** A port free now: listened on, then released for PgBouncer to take. */
async function freePort(): Promise<number> {
  const server = createServer();
  const port = await listenOnLocalPort(server);
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// Debian's package (`apt-get install pgbouncer`; .ci/run installs it): the real pooler, not our reading of it.
const PGBOUNCER = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((path) => existsSync(path)) ?? null;

export const hasPgbouncer = (): boolean => PGBOUNCER !== null;

export interface Pgbouncer {
  /** The database URL through the pooler (same user, password and database as `serverUrl`). */
  url: string;
  stop(): Promise<void>;
}

/** Starts PgBouncer in front of the server of `serverUrl`, with these [pgbouncer] settings. */
export async function startPgbouncer(serverUrl: string, settings: Record<string, string | number>): Promise<Pgbouncer> {
  if (!PGBOUNCER) throw new Error('pgbouncer is not installed');
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username) || 'postgres';
  const password = decodeURIComponent(server.password);
  const port = await freePort();
  // PgBouncer will not run as root: it switches to postgres (-u), which must read these files and write
  // its log and pid file here.
  const dir = mkdtempSync(join(tmpdir(), 'pgbouncer-'));
  chmodSync(dir, 0o777);
  const serverAuth = password ? ` password=${password}` : '';
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" "${password}"\n`);
  const config = [
    '[databases]',
    `* = host=${server.hostname} port=${server.port || 5432} user=${user}${serverAuth}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${join(dir, 'userlist.txt')}`,
    `logfile = ${join(dir, 'pgbouncer.log')}`,
    `pidfile = ${join(dir, 'pgbouncer.pid')}`,
    ...Object.entries(settings).map(([key, value]) => `${key} = ${value}`),
  ].join('\n');
  writeFileSync(join(dir, 'pgbouncer.ini'), `${config}\n`);
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(PGBOUNCER, [...(asRoot ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')], { stdio: 'ignore' });
  const log = () => (existsSync(join(dir, 'pgbouncer.log')) ? readFileSync(join(dir, 'pgbouncer.log'), 'utf8') : '');
  for (let waited = 0; !/listening on 127\.0\.0\.1/.test(log()); waited += 50) {
    if (child.exitCode !== null || waited > 10_000) throw new Error(`pgbouncer did not start:\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const url = new URL(serverUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      await exited;
    },
  };
}
