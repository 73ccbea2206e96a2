import pLimit from 'p-limit';
import { relieveMemoryPressure } from '../../engine/memory.ts';

export interface WalkOptions {
  concurrency: number;
  /** Set on the first SIGINT/SIGTERM: take no new batches, let the ones in flight finish. */
  stopSignal: AbortSignal;
}

/**
 * Runs `runBatch` over the planned batches, `concurrency` at a time, planning only a little ahead of the
 * workers so memory stays flat on any database size. Takes no new batch after the stop signal or the
 * first failure; always waits for the batches in flight, then throws the first failure (the planner's
 * or a batch's).
 */
export async function walkBatches<B>(plan: AsyncIterable<B>, options: WalkOptions, runBatch: (batch: B) => Promise<void>): Promise<void> {
  const limit = pLimit(options.concurrency);
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | null = null;
  try {
    for await (const batch of plan) {
      if (options.stopSignal.aborted || failure !== null) break;
      const task = limit(async () => {
        await runBatch(batch);
        relieveMemoryPressure();
      }).catch((error: unknown) => {
        failure ??= { error };
      });
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
      if (inFlight.size >= options.concurrency * 2) await Promise.race(inFlight);
    }
  } finally {
    // The tasks never reject (failures are caught above), so this only waits.
    await Promise.all(inFlight);
  }
  if (failure !== null) throw (failure as { error: unknown }).error;
}
