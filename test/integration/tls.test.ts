import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { hasOpenssl, makeCertificates, startServerWithoutTls, startTlsProxy, type TestCertificates, type TlsProxy } from '../support/tls-proxy.ts';

// The test server has no TLS of its own: a proxy in front of it does the server's side of Postgres TLS
// (SSLRequest, handshake) with certificates made here, and refuses clients that do not ask for TLS.
describe.skipIf(!hasOpenssl())('TLS (--ssl-ca, --insecure-tls)', () => {
  let db: TestDatabase;
  let dir: string;
  let certificates: TestCertificates;
  let localhost: TlsProxy;
  let otherHost: TlsProxy;

  /** The test database's URL through a proxy, as host `localhost`. */
  const through = (proxy: TlsProxy, query = ''): string => {
    const url = new URL(db.url);
    url.hostname = 'localhost';
    url.port = String(proxy.port);
    return `${url.toString()}${query}`;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'recoup-tls-'));
    certificates = makeCertificates(dir);
    const target = new URL(db.url);
    localhost = await startTlsProxy(target.hostname, Number(target.port || 5432), certificates.localhost);
    otherHost = await startTlsProxy(target.hostname, Number(target.port || 5432), certificates.otherHost);
  });

  afterAll(async () => {
    await localhost?.close();
    await otherHost?.close();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('--ssl-ca verifies the server and every connection of a run is encrypted', async () => {
    const schema = await runCli(['schema', '--legacy', '--target', '--database-url', through(localhost), '--ssl-ca', certificates.caFile]);
    expect(schema.code, schema.stderr).toBe(0);
    const backfill = await runCli(['backfill', '--json', '--database-url', through(localhost), '--ssl-ca', certificates.caFile]);
    expect(backfill.code, backfill.stderr).toBe(0);
    expect(backfill.json?.complete).toBe(true);
    expect(localhost.stats.handshakes).toBeGreaterThanOrEqual(2);
    expect(localhost.stats.plaintext).toBe(0);
  });

  it('refuses a server whose certificate another CA signed, and says why', async () => {
    const run = await runCli(['backfill', '--json', '--database-url', through(localhost), '--ssl-ca', certificates.otherCaFile]);
    expect(run.code).toBe(2);
    expect(String(run.json?.error)).toMatch(/certificate/i);
    expect(String(run.json?.error)).toContain('--ssl-ca must be the CA that signed it');
  });

  it('refuses a certificate for another host name, even from the right CA', async () => {
    const run = await runCli(['backfill', '--json', '--database-url', through(otherHost), '--ssl-ca', certificates.caFile]);
    expect(run.code).toBe(2);
    expect(String(run.json?.error)).toMatch(/localhost/);
    expect(String(run.json?.error)).toContain('a name the certificate lists');
    expect(otherHost.stats.handshakes).toBe(0);
  });

  it('says what to do when the server has TLS off', async () => {
    const server = await startServerWithoutTls();
    try {
      const run = await runCli(['backfill', '--json', '--database-url', `postgres://postgres@localhost:${server.port}/x`, '--ssl-ca', certificates.caFile]);
      expect(run.code).toBe(2);
      // Once: the hint is added where the connection fails, not again where the run reports it.
      expect(String(run.json?.error).split('This endpoint has TLS off')).toHaveLength(2);
    } finally {
      await server.close();
    }
  });

  it('an sslmode in the URL does not switch off the verification --ssl-ca asks for', async () => {
    const run = await runCli(['backfill', '--json', '--database-url', through(localhost, '?sslmode=no-verify'), '--ssl-ca', certificates.otherCaFile]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Ignoring sslmode=no-verify in the URL');
    expect(String(run.json?.error)).toMatch(/certificate/i);
  });

  it('--insecure-tls encrypts without verifying, and warns', async () => {
    const before = otherHost.stats.handshakes;
    const run = await runCli(['backfill', '--json', '--database-url', through(otherHost), '--insecure-tls']);
    expect(run.code, run.stderr).toBe(0);
    expect(otherHost.stats.handshakes).toBeGreaterThan(before);
    expect(otherHost.stats.plaintext).toBe(0);
    expect(run.stderr).toContain('TLS server verification is OFF');
  });
});
