import type pg from 'pg';
import { PreconditionError } from './errors.ts';

// Supabase's transaction-mode pooler listens here: a hint, since any pooler may use any port.
export const TRANSACTION_POOLER_PORT = 6543;

/**
 * Whether the connection's behaviour shows a transaction (or statement) pooler: two clients, both open
 * at once, each ask for their server process. Connected directly or through a session pooler, two open
 * clients never share one; through a transaction pooler the second statement is handed the server
 * connection the first just gave back (PgBouncer reuses the last one released, and a pool of one has
 * no other). It can confirm a pooler, never rule one out: one with several idle server connections that
 * hands out another one answers like a direct connection.
 */
export async function confirmsTransactionPooling(pool: pg.Pool): Promise<boolean> {
  const a = await pool.connect();
  const b = await pool.connect().catch((error: unknown) => {
    a.release();
    throw error;
  });
  try {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const first = (await a.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
      const second = (await b.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
      if (first === second) return true;
    }
    return false;
  } finally {
    a.release();
    b.release();
  }
}

/**
 * For the commands that need one server session from start to end (stamp-artist-id's DDL, drop-legacy's and
 * restore's locks and snapshots): refuse a transaction pooler, by its port before connecting and by its
 * behaviour after. The others keep no session state (SET LOCAL only) and work through one.
 */
export function refuseTransactionPooler(command: string, why: string): PreconditionError {
  return new PreconditionError(
    `${command} needs one server session from start to end (${why}), and this connection goes through a transaction pooler, ` +
      "which hands each transaction to any server connection and would leave the command's session settings to the app's next client. " +
      'Connect directly (Supabase: db.<ref>.supabase.co:5432) or through a session pooler (Supabase: aws-0-<region>.pooler.supabase.com:5432).',
  );
}
