import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applySnapshotSettings, tableChecksum, type TableChecksum } from '../../src/commands/drop-legacy/snapshot/checksum.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

let db: TestDatabase;
let client: pg.Client;

const COLUMNS = ['a', 'b', 'n', 'j', 'at'];

/** A fresh table holding exactly these rows (a, b, n, j, at), inserted in this order. */
async function checksumOf(rows: readonly (readonly unknown[])[]): Promise<TableChecksum> {
  await client.query('drop table if exists t');
  await client.query('create table t (a text, b text, n numeric, j jsonb, at timestamptz)');
  for (const row of rows) await client.query('insert into t values ($1, $2, $3, $4, $5)', [...row]);
  await client.query('begin');
  try {
    await applySnapshotSettings(client, { statementTimeoutMs: 10_000, lockTimeoutMs: 1_000 });
    return await tableChecksum(client, 'public.t', COLUMNS);
  } finally {
    await client.query('rollback');
  }
}

const ROWS = [
  ['x', 'y', '1.0', '{"k": "v"}', '2026-01-01T00:00:00Z'],
  ['tab\there', null, '2', '[1, 2]', '2026-01-02T00:00:00.5Z'],
  ['', 'é', null, null, null],
] as const;

beforeAll(async () => {
  db = await createTestDatabase();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});
afterAll(async () => {
  await client.end();
  await db.drop();
});

describe('the snapshot row checksum', () => {
  it('depends on the rows, not on their order', async () => {
    const forward = await checksumOf(ROWS);
    expect(forward.rows).toBe(3);
    expect(await checksumOf([...ROWS].reverse())).toEqual(forward);
  });

  it('changes with any one value, a NULL for an empty string, a value moved across a column boundary, or a numeric scale', async () => {
    const base = await checksumOf([['ab', 'c', '1.0', '{}', '2026-01-01T00:00:00Z']]);
    const variants = [
      [['ab', 'd', '1.0', '{}', '2026-01-01T00:00:00Z']],
      [['a', 'bc', '1.0', '{}', '2026-01-01T00:00:00Z']],
      [['ab', 'c', '1.00', '{}', '2026-01-01T00:00:00Z']],
      [['ab', 'c', '1.0', '[]', '2026-01-01T00:00:00Z']],
      [['ab', 'c', '1.0', '{}', '2026-01-01T00:00:00.000001Z']],
    ];
    const digests = new Set([base.digest]);
    for (const rows of variants) digests.add((await checksumOf(rows)).digest);
    expect(digests.size).toBe(variants.length + 1);
    const empty = await checksumOf([['', 'c', '1.0', '{}', '2026-01-01T00:00:00Z']]);
    const nullA = await checksumOf([[null, 'c', '1.0', '{}', '2026-01-01T00:00:00Z']]);
    expect(empty.digest).not.toBe(nullA.digest);
  });

  it('tells a duplicated row apart from a single one, and an empty table from a table of one empty row', async () => {
    const once = await checksumOf([ROWS[0]]);
    const twice = await checksumOf([ROWS[0], ROWS[0]]);
    expect(twice.rows).toBe(2);
    expect(twice.digest).not.toBe(once.digest);
    const none = await checksumOf([]);
    const nulls = await checksumOf([[null, null, null, null, null]]);
    expect(none).not.toEqual(nulls);
    expect(none.rows).toBe(0);
  });
});
