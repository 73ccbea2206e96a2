import { describe, expect, it } from 'vitest';
import { resolveConnection } from '../../src/engine/connection.ts';
import { PreconditionError } from '../../src/engine/errors.ts';

const REMOTE = 'postgres://app:secret@db.example.com:5432/postgres';
const LOCAL = 'postgres://app:secret@127.0.0.1:5432/postgres';
const resolve = (url: string, options: { allowPlaintext?: boolean; insecureTls?: boolean } = {}, env: NodeJS.ProcessEnv = {}) =>
  resolveConnection({ databaseUrl: url, ...options }, env);

/** The TLS policy holds whatever the URL or PGSSLMODE say (issue 15, item 7). */
describe('TLS policy', () => {
  it('refuses plaintext to a non-local host, however it is asked for, unless --allow-plaintext', () => {
    for (const [url, env] of [
      [REMOTE, {}],
      [`${REMOTE}?sslmode=disable`, {}],
      [REMOTE, { PGSSLMODE: 'disable' }],
      // node-postgres encrypts only for the modes it knows: an empty or misspelt one is plaintext.
      [REMOTE, { PGSSLMODE: '' }],
      [REMOTE, { PGSSLMODE: 'Require' }],
      [`${REMOTE}?sslmode=requier`, {}],
    ] as const) {
      expect(() => resolve(url, {}, env), url).toThrow(PreconditionError);
      expect(() => resolve(url, {}, env), url).toThrow(/Refusing a plaintext connection to db\.example\.com.*--allow-plaintext/);
      expect(resolve(url, { allowPlaintext: true }, env).warnings.join('\n'), url).toContain('is NOT encrypted (--allow-plaintext)');
    }
  });

  it('refuses TLS that does not verify the server unless --insecure-tls', () => {
    for (const [url, env] of [
      [`${REMOTE}?sslmode=no-verify`, {}],
      [`${REMOTE}?sslmode=require&uselibpqcompat=true`, {}],
      [REMOTE, { PGSSLMODE: 'no-verify' }],
    ] as const) {
      expect(() => resolve(url, {}, env), url).toThrow(/encrypts without verifying the server.*--ssl-ca.*--insecure-tls/);
    }
    expect(resolve(REMOTE, { insecureTls: true }).warnings.join('\n')).toContain('TLS server verification is OFF');
  });

  it('says what node-postgres makes of sslmode=require, and offers --ssl-ca or --insecure-tls', () => {
    const { warnings } = resolve(`${REMOTE}?sslmode=require`);
    expect(warnings.join('\n')).toMatch(/sslmode=require: node-postgres verifies the server fully.*--ssl-ca.*--insecure-tls/);
    expect(resolve(`${REMOTE}?sslmode=verify-full`).warnings).toEqual([]);
  });

  it('lets a local server go without TLS, silently', () => {
    expect(resolve(LOCAL).warnings).toEqual([]);
    expect(resolve(`${LOCAL}?sslmode=disable`).warnings).toEqual([]);
  });
});
