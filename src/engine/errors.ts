/**
 * A usage, configuration or precondition problem found before any write: exit code 2.
 * The message names the thing, the cause and the fix.
 */
export class PreconditionError extends Error {
  override readonly name = 'PreconditionError';
}

/** Replaces every occurrence of each secret with `***`, so that no error text can carry a password. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let scrubbed = text;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    scrubbed = scrubbed.split(secret).join('***');
    const encoded = encodeURIComponent(secret);
    if (encoded !== secret) scrubbed = scrubbed.split(encoded).join('***');
  }
  return scrubbed;
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

// Out of connection slots: Postgres' too_many_connections (per server, role or database), the cap of
// Supavisor's session-mode pool ("Max client connections reached", after about a minute of waiting), and
// PgBouncer's: its client limit (max_client_conn) and a client left waiting for a server connection
// longer than query_wait_timeout.
const OUT_OF_CONNECTIONS =
  /Max client connections reached|too many (clients|connections)|remaining connection slots are reserved|no more connections allowed|query_wait_timeout/i;

/** The error's message, with the fix added where the cause is known and the message does not say it. */
export function describeRunError(error: unknown): string {
  const message = errorMessage(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (code === '53300' || OUT_OF_CONNECTIONS.test(message)) {
    return (
      `${message}. The server or its pooler has no connection to spare: each recoup-migrate process opens up to ` +
      '--concurrency + 2 connections. Lower --concurrency or run fewer worker processes, or raise the limit ' +
      "(Supabase session mode: the pooler's Pool Size in the database settings; PgBouncer: max_client_conn, " +
      'default_pool_size, query_wait_timeout).'
    );
  }
  if (typeof code === 'string' && (TLS_REJECTED_CERTIFICATE.has(code) || code.startsWith('ERR_TLS_CERT'))) {
    return (
      `${message}. The server's certificate was not accepted: --ssl-ca must be the CA that signed it ` +
      "(Supabase: the root certificate from the project's database settings), and the URL's host must be a " +
      'name the certificate lists. --insecure-tls skips this check, and lets a man in the middle read the data.'
    );
  }
  if (/server does not support SSL/i.test(message)) {
    return (
      `${message}. This endpoint has TLS off: connect to one that has it on, or, on a trusted network, ` +
      'drop --ssl-ca / --insecure-tls / sslmode (and pass --allow-plaintext for a remote host).'
    );
  }
  return message;
}

// Node's codes for a server certificate that failed verification (the host name check is ERR_TLS_CERT_ALTNAME_INVALID).
const TLS_REJECTED_CERTIFICATE = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
]);

/** query_canceled: what statement_timeout raises. */
export const STATEMENT_TIMEOUT_SQLSTATE = '57014';

/** The database's message with its SQLSTATE, constraint and detail, which name what was rejected. */
export function describeDatabaseError(error: unknown): string {
  const e = error as { code?: string; constraint?: string; detail?: string; table?: string };
  const parts = [errorMessage(error)];
  if (e.code) parts.push(`SQLSTATE ${e.code}`);
  if (e.code === STATEMENT_TIMEOUT_SQLSTATE) parts.push('it alone takes longer than the statement timeout: raise --statement-timeout');
  if (e.table) parts.push(`table ${e.table}`);
  if (e.constraint) parts.push(`constraint ${e.constraint}`);
  // "Failing row contains (...)" details would print message content; key details only name ids.
  if (e.detail?.startsWith('Key (')) parts.push(e.detail);
  return parts.join('; ');
}
