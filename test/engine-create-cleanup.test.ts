// Nothing is taken before the options are validated, and a failure part-way gives back what was taken:
// CopyEngine.create(), DmaChannel.open() and new Ring() leave the scratch area and the thread count
// as they found them when they throw.
import { Piscina } from 'piscina';
import { afterAll, describe, expect, it } from 'vitest';
import { CopyEngine, DmaChannel, Fabric, Ring, SgTable, WORKER_URL } from '../dist/src/index.js';
import { threadCount } from './support/deadline.js';

const fabric = new Fabric({ size: '16MiB', scratch: '1MiB' });
void fabric.kernels; // the CRC table: the fabric's own, for its lifetime
const pool = new Piscina({ filename: WORKER_URL.href, maxThreads: 2, concurrentTasksPerWorker: 1, workerData: { fabric: fabric.handle() } });
afterAll(() => pool.destroy());

// Runs `fn`, which must throw `code`, and checks that it took no scratch memory and started no thread.
async function leavesNothing(fn: () => unknown, code: string, on: Fabric = fabric): Promise<void> {
  const scratch = on.scratch.stats();
  const threads = threadCount();
  expect(fn).toThrow(expect.objectContaining({ code }));
  await new Promise((r) => setTimeout(r, 150)); // a pool created by mistake would have started its threads by now
  expect(on.scratch.stats()).toEqual(scratch);
  expect(threadCount()).toBeLessThanOrEqual(threads);
}

describe('bad options take nothing', () => {
  it.each([
    ['slots 100', { slots: 100 }, 'ERR_INVALID_ARGUMENT'],
    ['slots 1.5', { slots: 1.5 }, 'ERR_INVALID_ARGUMENT'],
    ['spin -1', { spin: -1 }, 'ERR_INVALID_ARGUMENT'],
    ['spin 2^32', { spin: 2 ** 32 }, 'ERR_INVALID_ARGUMENT'],
    ['workers 65', { workers: 65 }, 'ERR_INVALID_ARGUMENT'],
    ['workers 1.5', { workers: 1.5 }, 'ERR_INVALID_ARGUMENT'],
    ['pollMicros NaN', { pollMicros: Number.NaN }, 'ERR_INVALID_ARGUMENT'],
    ['pollMicros 1e9', { pollMicros: 1e9 }, 'ERR_INVALID_ARGUMENT'],
    ['inlineBelow "4KB"', { inlineBelow: '4KB' }, 'ERR_INVALID_SIZE'],
    ['inlineBelow "8GiB"', { inlineBelow: '8GiB' }, 'ERR_INVALID_ARGUMENT'],
    ['splitAbove 100', { splitAbove: 100 }, 'ERR_INVALID_ARGUMENT'],
    ['pool {}', { pool: {} }, 'ERR_INVALID_ARGUMENT'],
  ] as const)('CopyEngine.create with %s', (_name, options, code) => leavesNothing(() => CopyEngine.create(fabric, options as never), code));

  it.each([
    ['slots 3', { slots: 3 }],
    ['maxRestarts -1', { maxRestarts: -1 }],
    ['maxRestarts 1e9', { maxRestarts: 1e9 }],
    ['pool 42', { pool: 42 }],
    ['null', null],
  ] as const)('DmaChannel.open with %s', (_name, options) => leavesNothing(() => DmaChannel.open(fabric, options as never), 'ERR_INVALID_ARGUMENT'));

  it('names the option in the error', () => {
    for (const [options, argument] of [[{ slots: 3 }, 'slots'], [{ spin: 1.5 }, 'spin'], [{ workers: 0 }, 'workers'], [{ pollMicros: -1 }, 'pollMicros'], [{ inlineBelow: '4KB' }, 'inlineBelow'], [{ splitAbove: 1 }, 'splitAbove'], [{ pool: 1 }, 'pool']] as const) {
      expect(() => CopyEngine.create(fabric, options as never), JSON.stringify(options)).toThrow(expect.objectContaining({ argument }));
    }
  });
});

describe('a failure part-way gives back what was taken', () => {
  // A fabric whose scratch area holds two rings of 1024 slots but not three.
  function tight(): Fabric {
    const f = new Fabric({ size: '4MiB', scratch: '128KiB' });
    void f.kernels;
    return f;
  }

  it('CopyEngine.create when the scratch area runs out at the third ring: ERR_ALLOC_EXHAUSTED, every table and ring freed, no thread started (was: leaked, and a pool of threads)', async () => {
    const f = tight();
    await leavesNothing(() => CopyEngine.create(f, { workers: 3 }), 'ERR_ALLOC_EXHAUSTED', f);
    // What did fit still works.
    const engine = CopyEngine.create(f, { workers: 2 });
    await engine.close();
    expect(f.scratch.stats().allocations).toBe(1);
  });

  it('CopyEngine.create on a pool of your own, the same: and the pool\'s threads are not booked', async () => {
    const f = tight();
    const own = new Piscina({ filename: WORKER_URL.href, maxThreads: 3, concurrentTasksPerWorker: 1, workerData: { fabric: f.handle() } });
    try {
      await leavesNothing(() => CopyEngine.create(f, { workers: 3, pool: own }), 'ERR_ALLOC_EXHAUSTED', f);
      const engine = CopyEngine.create(f, { workers: 2, pool: own }); // would be ERR_POOL_TOO_SMALL had 3 stayed booked
      await engine.close();
    } finally {
      await own.destroy();
    }
  });

  it('DmaChannel.open and new Ring on a full scratch area: ERR_ALLOC_EXHAUSTED, nothing taken', async () => {
    const f = tight();
    const fill = new SgTable(f, (f.scratch.stats().largestFree >> 4) - 64);
    try {
      await leavesNothing(() => DmaChannel.open(f, { slots: 1024 }), 'ERR_ALLOC_EXHAUSTED', f);
      await leavesNothing(() => new Ring(f, { slots: 1024 }), 'ERR_ALLOC_EXHAUSTED', f);
      const pooled = new Piscina({ filename: WORKER_URL.href, maxThreads: 1, concurrentTasksPerWorker: 1, workerData: { fabric: f.handle() } });
      try {
        await leavesNothing(() => DmaChannel.open(f, { slots: 1024, pool: pooled }), 'ERR_ALLOC_EXHAUSTED', f);
        // The pool's one thread was not booked by the failed open.
        const channel = DmaChannel.open(f, { slots: 2, pool: pooled });
        await channel.close();
      } finally {
        await pooled.destroy();
      }
    } finally {
      fill.release();
    }
  });

  it('a closed engine has given back its rings, its tables and its threads', async () => {
    const f = tight();
    const threads = threadCount();
    const engine = CopyEngine.create(f, { workers: 2 });
    await engine.copy(f.dataStart, f.dataStart + 4096, 4096, { placement: 'worker' });
    await engine.close();
    expect(f.scratch.stats().allocations).toBe(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(threadCount()).toBeLessThanOrEqual(threads);
  });
});
