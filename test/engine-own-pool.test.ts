// The engine on a piscina pool of the user's own: a pool whose worker is not dma-bounce/worker is
// found in bounded time (ERR_WORKER_MISMATCH) by runBatch(), DmaChannel.open() and CopyEngine.create();
// a ring holds its thread while it is open, so a pool too small for its rings, or for a batch task
// beside them, is refused at once (ERR_POOL_TOO_SMALL) instead of waiting forever in the pool's queue.
import { Piscina } from 'piscina';
import { afterAll, describe, expect, it } from 'vitest';
import { CopyEngine, DmaChannel, Fabric, OP_FLAG_SUBMIT, SgTable, WORKER_URL, WorkerMismatchError, runBatch } from '../dist/src/index.js';
import { Arena } from './support/arena.js';
import { within } from './support/deadline.js';
import { testRng } from './support/random.js';

const rng = testRng('engine-own-pool');
const fabric = new Fabric({ size: '32MiB', scratch: '1MiB' });
const arena = new Arena(fabric, rng, 16 * 2 ** 20);
const FOREIGN = new URL('./support/workers/foreign-worker.mjs', import.meta.url);
const pools: Piscina[] = [];
afterAll(() => Promise.all(pools.map((p) => p.destroy())));

function pool(filename: URL, maxThreads: number, extra: Record<string, unknown> = {}): Piscina {
  const p = new Piscina({ filename: filename.href, maxThreads, concurrentTasksPerWorker: 1, workerData: { fabric: fabric.handle() }, ...extra });
  pools.push(p);
  return p;
}

// A one-entry table; `copied` when the test expects it to be run.
function table(copied: boolean): SgTable {
  const t = new SgTable(fabric, 1);
  const src = arena.at(1000, 0, 8 * 2 ** 20), dst = arena.at(1000, 8 * 2 ** 20);
  t.push(dst, src, 1000);
  if (copied) arena.copied(dst, src, 1000);
  return t;
}

describe('a pool whose worker is not dma-bounce/worker', () => {
  const foreign = pool(FOREIGN, 2);

  it('runBatch() rejects with ERR_WORKER_MISMATCH (was: a raw TypeError)', async () => {
    const t = table(false);
    try {
      const error = (await within(runBatch(foreign, { table: t.offset, count: 1 }), 5000, 'runBatch()')).error;
      expect(error).toBeInstanceOf(WorkerMismatchError);
      expect(error).toMatchObject({ code: 'ERR_WORKER_MISMATCH', received: 'an object with keys [doubled]' });
    } finally {
      t.release();
    }
  });

  it("DmaChannel.open(): the channel fails with ERR_WORKER_MISMATCH, its ops complete as NOT_ATTEMPTED, close() settles (was: a hang, close() too)", async () => {
    const channel = DmaChannel.open(fabric, { pool: foreign, slots: 8 });
    const failed = new Promise<unknown>((resolve) => channel.once('failed', resolve));
    channel.ring.enqueueCopy(arena.at(64), arena.at(64), 64, OP_FLAG_SUBMIT);
    expect((await within(failed, 5000, "the 'failed' event")).value).toBeInstanceOf(WorkerMismatchError);
    expect(channel.state).toBe('stopped');
    expect(channel.failure).toMatchObject({ code: 'ERR_WORKER_MISMATCH' });
    expect(channel.ring.completedStatus().completions.map((c) => c.statusName)).toEqual(['NOT_ATTEMPTED']);
    expect(() => channel.ring.enqueueCopy(arena.at(64), arena.at(64), 64)).toThrow(expect.objectContaining({ code: 'ERR_ENGINE_STOPPED' }));
    await within(channel.close(), 5000, 'close()');
    arena.check();
  });

  it('CopyEngine.create(): every op rejects with ERR_WORKER_MISMATCH, close() settles', async () => {
    const engine = CopyEngine.create(fabric, { workers: 2, pool: foreign, inlineBelow: 0 });
    try {
      const ops = Array.from({ length: 6 }, () => within(engine.copy(arena.at(4096, 8 * 2 ** 20), arena.at(4096, 0, 8 * 2 ** 20), 4096), 5000, 'a copy'));
      for (const op of ops) expect((await op).error).toMatchObject({ code: 'ERR_WORKER_MISMATCH' });
      await expect(engine.copySg([[arena.at(64, 8 * 2 ** 20), arena.at(64, 0, 8 * 2 ** 20), 64]], { placement: 'worker' })).rejects.toMatchObject({ code: 'ERR_WORKER_MISMATCH' });
      // Inline ops do not need a worker.
      await expect(engine.copy(arena.at(64, 8 * 2 ** 20), arena.at(64, 0, 8 * 2 ** 20), 64, { placement: 'caller' })).resolves.toBe(64);
    } finally {
      await within(engine.close(), 5000, 'close()');
    }
    arena.randomize();
  });
});

describe('thread budget: a ring holds its thread while it is open', () => {
  it('a 1-thread pool serves one ring; a second ring, or a batch task beside it, is ERR_POOL_TOO_SMALL at once', async () => {
    const one = pool(WORKER_URL, 1);
    const channel = DmaChannel.open(fabric, { pool: one, slots: 8 });
    const t = table(true);
    try {
      expect(() => DmaChannel.open(fabric, { pool: one, slots: 8 })).toThrow(expect.objectContaining({ code: 'ERR_POOL_TOO_SMALL', threads: 1, rings: 1, needed: 2 }));
      expect(() => CopyEngine.create(fabric, { pool: one, workers: 1 })).toThrow(expect.objectContaining({ code: 'ERR_POOL_TOO_SMALL' }));
      await expect(runBatch(one, { table: t.offset, count: 1 })).rejects.toMatchObject({ code: 'ERR_POOL_TOO_SMALL' });
    } finally {
      await channel.close();
    }
    // The thread is free again once the ring is closed.
    await expect(within(runBatch(one, { table: t.offset, count: 1 }), 5000, 'runBatch()')).resolves.toEqual({ value: 1000 });
    t.release();
    arena.check();
  });

  it('a pool of N + 1 threads serves N rings and runs batch tasks beside them', async () => {
    const three = pool(WORKER_URL, 3);
    const engine = CopyEngine.create(fabric, { pool: three, workers: 2, inlineBelow: 0 });
    const t = table(true);
    try {
      const copies = Array.from({ length: 20 }, (_, i) => {
        const src = arena.at(4096, 0, 4 * 2 ** 20), dst = arena.base + 12 * 2 ** 20 + i * 8192;
        arena.copied(dst, src, 4096);
        return engine.copy(dst, src, 4096);
      });
      await expect(within(runBatch(three, { table: t.offset, count: 1 }), 5000, 'runBatch()')).resolves.toEqual({ value: 1000 });
      await Promise.all(copies);
      expect(() => CopyEngine.create(fabric, { pool: three, workers: 2 })).toThrow(expect.objectContaining({ code: 'ERR_POOL_TOO_SMALL', threads: 3, rings: 2, needed: 4 }));
      arena.check();
    } finally {
      t.release();
      await engine.close();
    }
  });

  it('a pool that gives a thread several tasks at once cannot serve a ring (ERR_INVALID_ARGUMENT naming pool)', () => {
    const shared = pool(WORKER_URL, 4, { concurrentTasksPerWorker: 2 });
    expect(() => DmaChannel.open(fabric, { pool: shared })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'pool' }));
    expect(() => CopyEngine.create(fabric, { pool: shared, workers: 1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'pool' }));
  });
});
