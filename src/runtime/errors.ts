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

// Out of connection slots: Postgres' too_many_connections (per server, role or database), or the cap of
// Supavisor's session-mode pool ("Max client connections reached", after about a minute of waiting).
const OUT_OF_CONNECTIONS = /Max client connections reached|too many (clients|connections)|remaining connection slots are reserved/i;

/** The error's message, with the fix added where the cause is known and the message does not say it. */
export function describeRunError(error: unknown): string {
  const message = errorMessage(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (code === '53300' || OUT_OF_CONNECTIONS.test(message)) {
    return (
      `${message}. The server or its pooler has no connection to spare: each recoup-migrate process opens up to ` +
      '--concurrency + 2 connections. Lower --concurrency or run fewer worker processes, or raise the limit ' +
      "(Supabase session mode: the pooler's Pool Size in the database settings)."
    );
  }
  return message;
}
