import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * Keeps the resident set near the live data. V8 grows its old generation lazily when memory is plentiful
 * (the live set of a batch is ~60 MB, yet RSS would climb past 350 MB on a large run), so after a batch,
 * when RSS is over the soft limit and has grown since the last forced collection, this forces one.
 * The same technique as jest's leak detector: expose `gc` through a flag, fetch it from a new context.
 */
// Above this, a batch boundary may force a full collection.
const SOFT_LIMIT_BYTES = 128 * 1024 * 1024;
// ...but only when RSS has grown this much since the last one, so a steady live set doesn't collect every batch.
const GROWTH_BEFORE_NEXT_GC_BYTES = 32 * 1024 * 1024;

let forceGc: (() => void) | null | undefined;
let rssAfterLastGc = 0;

function gcFunction(): (() => void) | null {
  if (forceGc === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      forceGc = vm.runInNewContext('gc') as () => void;
    } catch {
      forceGc = null;
    }
  }
  return forceGc;
}

/** Call between batches, when the last batch's objects are garbage. */
export function relieveMemoryPressure(): void {
  const rss = process.memoryUsage.rss();
  if (rss < SOFT_LIMIT_BYTES || rss < rssAfterLastGc + GROWTH_BEFORE_NEXT_GC_BYTES) return;
  const gc = gcFunction();
  if (!gc) return;
  gc();
  rssAfterLastGc = process.memoryUsage.rss();
}
