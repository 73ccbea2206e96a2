import { readFileSync } from 'node:fs';
import pg from 'pg';
import { PreconditionError } from './errors.ts';

export interface ConnectionOptions {
  /** --database-url, else DATABASE_URL, else the PG* variables (node-postgres reads those itself). */
  databaseUrl?: string | undefined;
  /** --ssl-ca: verify the server against this CA (Supabase's root certificate). */
  sslCa?: string | undefined;
  /** --insecure-tls: encrypt without verifying the server. Allows a man in the middle; logged loudly. */
  insecureTls?: boolean | undefined;
  /** --allow-plaintext: connect to a non-local host without TLS. */
  allowPlaintext?: boolean | undefined;
}

export interface ResolvedConnection {
  readonly config: pg.PoolConfig;
  /** host:port/database, with no user or password: safe for logs and reports. */
  readonly display: string;
  readonly database: string;
  readonly port: number;
  /** Values that must never reach a log, report or error message. */
  readonly secrets: readonly string[];
  readonly warnings: readonly string[];
}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]', '']);
// The libpq variables that say where the database is; without one of them (or a URL) node-postgres would
// quietly connect to localhost as $USER, to a database named after $USER.
const WHERE_VARIABLES = ['PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGDATABASE', 'PGUSER', 'PGSERVICE'];

/** Turns flags and environment into a node-postgres config, refusing unsafe or unsupported setups. */
export function resolveConnection(
  options: ConnectionOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedConnection {
  const warnings: string[] = [];
  const url = options.databaseUrl ?? env.DATABASE_URL;
  if (!url && !WHERE_VARIABLES.some((name) => env[name])) {
    throw new PreconditionError(
      'No database given. Say where it is in one of three ways: --database-url postgres://user:password@host:5432/database, ' +
        `the DATABASE_URL environment variable, or the PG* variables (${WHERE_VARIABLES.join(', ')}, with PGPASSWORD).`,
    );
  }
  let host = env.PGHOST ?? 'localhost';
  let port = Number(env.PGPORT ?? 5432);
  let database = env.PGDATABASE ?? env.PGUSER ?? env.USER ?? '';
  let sslModeInUrl: string | null = null;
  let libpqCompat = false;
  const secrets: string[] = [];
  if (env.PGPASSWORD) secrets.push(env.PGPASSWORD);

  let connectionString: string | undefined;
  if (url) {
    // No part of the URL is quoted back in these errors: it may hold the password.
    const ENCODE = 'A password holding @ : / ? # % or a space must be percent-encoded (encodeURIComponent).';
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new PreconditionError(`The database URL is not a valid URL. Expected postgres://user:password@host:5432/database. ${ENCODE}`);
    }
    // Two @ in the URL: one is in the password, unencoded, and where the password ends can only be guessed
    // (a / in it makes its tail read as the host and database, and those are quoted in errors).
    if (url.split('?')[0]!.indexOf('@') !== url.split('?')[0]!.lastIndexOf('@')) {
      throw new PreconditionError(`The database URL has more than one @, so its password cannot be told from its host. ${ENCODE}`);
    }
    if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
      throw new PreconditionError(`The database URL must start with postgres://, not ${parsed.protocol}//.`);
    }
    if (parsed.password) secrets.push(decodedOrAsIs(parsed.password), parsed.password, ...rawPassword(url));
    host = parsed.hostname;
    port = parsed.port ? Number(parsed.port) : 5432;
    database = decodedOrAsIs(parsed.pathname.replace(/^\//, '')) || database;
    sslModeInUrl = parsed.searchParams.get('sslmode');
    libpqCompat = parsed.searchParams.get('uselibpqcompat') === 'true';
    if (options.sslCa && sslModeInUrl) {
      // node-postgres lets an sslmode in the URL silently replace the ssl object built below.
      parsed.searchParams.delete('sslmode');
      parsed.searchParams.delete('uselibpqcompat');
      warnings.push(`Ignoring sslmode=${sslModeInUrl} in the URL: --ssl-ca takes precedence (full verification).`);
      sslModeInUrl = null;
    }
    connectionString = parsed.toString();
  }

  const config: pg.PoolConfig = { application_name: 'recoup-migrate' };
  if (connectionString) config.connectionString = connectionString;

  const local = LOCAL_HOSTS.has(host) || host.startsWith('/');
  if (options.sslCa) {
    let ca: string;
    try {
      ca = readFileSync(options.sslCa, 'utf8');
    } catch (error) {
      throw new PreconditionError(`Cannot read --ssl-ca ${options.sslCa}: ${(error as Error).message}`);
    }
    config.ssl = { ca, rejectUnauthorized: true };
  } else if (options.insecureTls) {
    if (sslModeInUrl) {
      throw new PreconditionError('--insecure-tls cannot be combined with an sslmode in the URL; remove one.');
    }
    config.ssl = { rejectUnauthorized: false };
    warnings.push(
      'TLS server verification is OFF (--insecure-tls): the connection is encrypted but a man in the ' +
        'middle could read it. Use --ssl-ca <Supabase root certificate> instead.',
    );
  } else {
    warnings.push(...sslModePolicy(sslModeInUrl ?? env.PGSSLMODE ?? null, { host, local, libpqCompat, allowPlaintext: options.allowPlaintext === true }));
  }

  return { config, display: `${host}:${port}/${database}`, database, port, secrets, warnings };
}

/**
 * One pool per run. Streaming reads and writes use separate clients from it, and every transaction
 * sets its own timeouts with SET LOCAL (session-level SET would not survive a pooler).
 */
export function createPool(connection: ResolvedConnection, max: number): pg.Pool {
  const pool = new pg.Pool({ ...connection.config, max, idleTimeoutMillis: 10_000 });
  // An idle client that loses its connection emits 'error' on the pool; without a listener that would
  // crash the process. The next query on the pool reports the problem instead.
  pool.on('error', () => {});
  // The same for a client that is checked out but between queries when its connection drops (a batch
  // converting messages mid-transaction): its next query rejects instead, and the run handles that.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/**
 * The TLS policy, whatever the URL or PGSSLMODE ask for: plaintext to a non-local host needs
 * --allow-plaintext, and TLS that does not verify the server needs --insecure-tls; both are said loudly.
 * Returns the warnings; throws what it refuses. Modes as node-postgres reads them (pg-connection-string):
 * disable is plaintext; no-verify, and require/prefer with uselibpqcompat=true, encrypt without verifying;
 * require, prefer, verify-ca and verify-full otherwise verify fully, against Node's own CAs.
 */
const TLS_MODES = new Set(['prefer', 'require', 'verify-ca', 'verify-full', 'no-verify']);

function sslModePolicy(
  mode: string | null,
  at: { host: string; local: boolean; libpqCompat: boolean; allowPlaintext: boolean },
): string[] {
  // node-postgres encrypts only for these; any other value (empty, misspelt, another case) means no TLS.
  const plaintext = mode === null || !TLS_MODES.has(mode);
  if (plaintext) {
    if (at.local) return [];
    const said = mode === null ? 'no TLS was asked for' : `sslmode=${mode} asks for none`;
    if (!at.allowPlaintext) {
      throw new PreconditionError(
        `Refusing a plaintext connection to ${at.host}: ${said}, and chat history would cross the network unencrypted. ` +
          'Pass --ssl-ca <root certificate> (recommended for Supabase), or --allow-plaintext if this network is trusted.',
      );
    }
    return [`The connection to ${at.host} is NOT encrypted (--allow-plaintext): anyone on the network path can read the chat history.`];
  }
  const unverified = mode === 'no-verify' || (at.libpqCompat && (mode === 'require' || mode === 'prefer'));
  if (unverified) {
    throw new PreconditionError(
      `sslmode=${mode}${at.libpqCompat ? ' with uselibpqcompat=true' : ''} encrypts without verifying the server, so a man in the middle could read the data. ` +
        'Verify it with --ssl-ca <root certificate> (Supabase\'s), or, to accept that, remove the sslmode and pass --insecure-tls.',
    );
  }
  if (mode === 'require' || mode === 'prefer') {
    return [
      `sslmode=${mode}: node-postgres verifies the server fully, against Node's built-in CAs (not libpq's encrypt-only ${mode}); ` +
        "Supabase's certificate then fails with SELF_SIGNED_CERT_IN_CHAIN. Pass --ssl-ca <Supabase root certificate>, or --insecure-tls to encrypt without verifying.",
    ];
  }
  return [];
}

/** A percent-encoded URL part, decoded; as it is when it does not decode (an unencoded % in a password). */
function decodedOrAsIs(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The password exactly as typed in the URL (between the user's colon and the @), to scrub it as such too. */
function rawPassword(url: string): string[] {
  const authority = /^[a-z]+:\/\/([^@]*)@/i.exec(url)?.[1];
  const colon = authority?.indexOf(':') ?? -1;
  return authority !== undefined && colon >= 0 ? [authority.slice(colon + 1)] : [];
}
