import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { listenOnLocalPort } from './tcp-proxy.ts';

/** Whether the openssl command is there to make the test certificates. */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface TestCertificates {
  /** The CA that signed both server certificates (PEM file). */
  caFile: string;
  /** A CA that signed nothing here (PEM file). */
  otherCaFile: string;
  /** A server certificate for localhost and 127.0.0.1, and one for another host name only. */
  localhost: { key: Buffer; cert: Buffer };
  otherHost: { key: Buffer; cert: Buffer };
}

/** A throw-away CA and server certificates, made with openssl in `dir`. */
export function makeCertificates(dir: string): TestCertificates {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ca = (name: string) =>
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const server = (name: string, altNames: string) => {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${altNames}\nbasicConstraints=CA:FALSE\n`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'test-ca.pem', '-CAkey', 'test-ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2',
      '-extfile', `${name}.ext`);
    return { key: readFileSync(join(dir, `${name}.key`)), cert: readFileSync(join(dir, `${name}.pem`)) };
  };
  ca('test-ca');
  ca('other-ca');
  return {
    caFile: join(dir, 'test-ca.pem'),
    otherCaFile: join(dir, 'other-ca.pem'),
    localhost: server('localhost', 'DNS:localhost,IP:127.0.0.1'),
    otherHost: server('db.example.test', 'DNS:db.example.test'),
  };
}

/**
 * Postgres with `ssl = on`, as far as a client can tell: answers the client's SSLRequest with 'S', does
 * the TLS handshake with the given certificate, then relays the decrypted stream to a plain server.
 * A client that starts without TLS is cut off (as `hostssl` in pg_hba.conf would), so a connection
 * that works is an encrypted one.
 */
export interface TlsProxy {
  port: number;
  /** Handshakes completed, and connections refused for not asking for TLS. */
  readonly stats: { handshakes: number; plaintext: number; failedHandshakes: number };
  close(): Promise<void>;
}

const SSL_REQUEST_CODE = 80877103;

export async function startTlsProxy(targetHost: string, targetPort: number, identity: { key: Buffer; cert: Buffer }): Promise<TlsProxy> {
  const stats = { handshakes: 0, plaintext: 0, failedHandshakes: 0 };
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  };
  const server: Server = createServer((client) => {
    track(client);
    client.once('data', (first: Buffer) => {
      if (first.length < 8 || first.readInt32BE(0) !== 8 || first.readInt32BE(4) !== SSL_REQUEST_CODE) {
        stats.plaintext += 1;
        client.destroy();
        return;
      }
      client.write('S');
      const secure = new TLSSocket(client, { isServer: true, key: identity.key, cert: identity.cert });
      track(secure);
      secure.on('error', () => {
        stats.failedHandshakes += 1;
        secure.destroy();
      });
      secure.once('secure', () => {
        stats.handshakes += 1;
        const upstream = connect(targetPort, targetHost);
        track(upstream);
        secure.pipe(upstream);
        upstream.pipe(secure);
        secure.on('close', () => upstream.destroy());
        upstream.on('close', () => secure.destroy());
      });
    });
  });
  return {
    port: await listenOnLocalPort(server),
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A server with TLS off: answers an SSLRequest with 'N' (as Postgres with `ssl = off` does) and hangs up. */
export async function startServerWithoutTls(): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((client) => {
    client.on('error', () => {});
    client.once('data', () => client.end('N'));
  });
  return {
    port: await listenOnLocalPort(server),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
