// Worker pools for the engine: piscina owns the threads (spawn, replacement after a crash,
// shutdown); dma-bounce only hands them tasks.
import { Piscina } from 'piscina';
import { errorFromJSON } from '../errors.js';
import type { Fabric } from '../fabric/fabric.js';
import type { BatchResult, BatchTask } from './worker.js';

/** The worker module to give piscina as `filename` (the same file as `dma-bounce/worker`). */
export const WORKER_URL = new URL('./worker.js', import.meta.url);

/** A piscina pool of `threads` workers bound to `fabric`, each able to serve one ring at a time. */
export function createWorkerPool(fabric: Fabric, threads: number): Piscina {
  return new Piscina({
    filename: WORKER_URL.href,
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: 1,
    idleTimeout: 2 ** 31 - 1,
    workerData: { fabric: fabric.handle() },
  });
}

/**
 * Runs one batch copySg on a pool loading `dma-bounce/worker` and returns the bytes copied;
 * rejects with the rebuilt coded error (ERR_KERNEL_BOUNDS, ERR_INVALID_ARGUMENT) on failure.
 */
export async function runBatch(pool: Piscina, task: BatchTask): Promise<number> {
  const result = (await pool.run(task)) as BatchResult;
  if (!result.ok) throw errorFromJSON(result.error);
  return result.bytes;
}
