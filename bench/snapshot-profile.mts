/**
 * Developer tool, not part of the tests or of `npm run bench`: builds the database `npm run bench`
 * measures the snapshot on (seed 42, 2,000 rooms × 10 memories, the target filled, here by the
 * in-database INSERT … SELECT instead of a backfill run) and runs benchSnapshot on it, printing each
 * ratio to `pg_dump -Fc`. `npm run bench` runs it once per process, so the first run is the comparable one.
 *
 *   node --import tsx bench/snapshot-profile.mts [runs=3] [rooms=2000]
 *
 * SNAPSHOT_PROFILE_DB=<url> measures that database instead (read only); SNAPSHOT_PROFILE_KEEP=1 keeps
 * the seeded one (its URL is printed) for the next runs. Server: BENCH_DATABASE_URL or TEST_DATABASE_URL.
 */
import { openBenchServer } from './bench-database.ts';
import { benchSnapshot, seedLikeTheBench } from './snapshot.ts';

const runs = Number(process.argv[2] ?? 3);
const rooms = Number(process.argv[3] ?? 2_000);
const server = await openBenchServer();
let url = process.env.SNAPSHOT_PROFILE_DB ?? '';
let drop = async () => {};
if (!url) {
  const database = await server.createDatabase();
  url = database.url;
  drop = database.drop;
  await seedLikeTheBench(url, rooms);
  process.stderr.write(`seeded ${url}\n`);
}
try {
  const ratios: number[] = [];
  for (let i = 0; i < runs; i++) {
    const result = await benchSnapshot(url);
    const ratio = result.pgDumpMs ? result.toolMs / result.pgDumpMs : NaN;
    ratios.push(ratio);
    console.log(`run ${i + 1}: tool ${result.toolMs.toFixed(0)} ms, pg_dump ${result.pgDumpMs?.toFixed(0)} ms, ratio ${ratio.toFixed(2)}×, ${result.rows} rows`);
  }
  console.log(`best ${Math.min(...ratios).toFixed(2)}×, worst ${Math.max(...ratios).toFixed(2)}×`);
} finally {
  if (!process.env.SNAPSHOT_PROFILE_KEEP) await drop();
  await server.stop();
}
