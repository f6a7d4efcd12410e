// How many of a pool's threads our rings hold. A thread serving a ring stays inside
// WebAssembly until the ring stops, so it runs nothing else: a pool of T threads can serve at
// most T rings, and runs batch tasks only while fewer than T rings are open on it. Counting here
// refuses at once what would otherwise wait forever in the pool's queue.
import type { Piscina } from 'piscina';
import { InvalidArgumentError, PoolTooSmallError } from '../errors.js';
import { describe } from '../fabric/input.js';

const ringsServed = new WeakMap<Piscina, number>();

/** What the engine needs of a piscina pool (checked without `instanceof`: the caller's piscina may be another copy). */
export function checkPool(pool: unknown, argument = 'pool'): asserts pool is Piscina {
  let ok = false;
  try {
    const p = pool as Partial<Piscina> | null;
    ok = p !== null && typeof p === 'object' && typeof p.run === 'function' && Number.isInteger(p.maxThreads) && Array.isArray(p.threads);
  } catch {
    // a Proxy whose traps throw is not a pool
  }
  if (!ok) throw new InvalidArgumentError(`${argument} must be a piscina pool`, { argument });
}

/** Rings open on `pool` through dma-bounce (channels and engines). */
export function ringsOn(pool: Piscina): number {
  return ringsServed.get(pool) ?? 0;
}

/**
 * Books `rings` threads of `pool` for rings; returns the function that gives them back (once).
 * Throws ERR_POOL_TOO_SMALL when the pool has fewer free threads, ERR_INVALID_ARGUMENT for a
 * pool that gives a thread several tasks at once (a serving thread would never run the others).
 */
export function bookRingThreads(pool: Piscina, rings: number): () => void {
  const perWorker = (pool as { options?: { concurrentTasksPerWorker?: unknown } }).options?.concurrentTasksPerWorker ?? 1;
  if (perWorker !== 1) {
    throw new InvalidArgumentError(`a pool serving rings needs concurrentTasksPerWorker 1 (it has ${describe(perWorker)}): a serving thread runs no other task`, { argument: 'pool' });
  }
  const open = ringsOn(pool);
  const threads = pool.maxThreads;
  if (open + rings > threads) {
    throw new PoolTooSmallError(`the pool has ${threads} threads and serves ${open} rings: ${rings} more need ${open + rings} threads`, { threads, rings: open, needed: open + rings });
  }
  ringsServed.set(pool, open + rings);
  let booked = rings;
  return () => {
    if (booked === 0) return;
    ringsServed.set(pool, ringsOn(pool) - booked);
    booked = 0;
  };
}

/** Throws ERR_POOL_TOO_SMALL when every thread of `pool` serves a ring, so a batch task would never run. */
export function checkBatchRoom(pool: Piscina): void {
  const open = ringsOn(pool);
  if (open >= pool.maxThreads) {
    throw new PoolTooSmallError(`every one of the pool's ${pool.maxThreads} threads serves a ring: a batch task would wait until one closes`, { threads: pool.maxThreads, rings: open, needed: open + 1 });
  }
}
