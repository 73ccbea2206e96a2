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
