// dma-bounce/worker in a piscina pool of the user's own, in batch mode.
import { Piscina } from 'piscina';
import { afterAll, describe, expect, it } from 'vitest';
import { Fabric, SgTable, WORKER_URL, runBatch } from '../dist/src/index.js';
import { Arena } from './support/arena.js';
import { testRng } from './support/random.js';

const rng = testRng('worker-batch');
const fabric = new Fabric({ size: '32MiB', scratch: '1MiB' });
const arena = new Arena(fabric, rng, 16 * 2 ** 20);
const pool = new Piscina({ filename: WORKER_URL.href, workerData: { fabric: fabric.handle() }, maxThreads: 2 });
afterAll(() => pool.destroy());

describe('batch mode', () => {
  it('pool.run({ table, count }) copies the table and returns { ok, bytes }', async () => {
    const table = new SgTable(fabric, 64);
    let total = 0;
    for (let i = 0; i < 64; i++) {
      const len = rng.int(0, 50000);
      const src = arena.at(len, 0, 8 << 20), dst = arena.at(len, 8 << 20);
      table.push(dst, src, len);
      arena.copied(dst, src, len);
      total += len;
    }
    await expect(pool.run({ table: table.offset, count: table.count })).resolves.toEqual({ ok: true, bytes: total });
    table.release();
    arena.check();
  });

  it('errors come back as {code, message} and runBatch rebuilds the class; nothing is copied', async () => {
    const table = new SgTable(fabric, 2);
    table.push(arena.at(100), arena.at(100), 100);
    table.push(arena.at(100), 12, 100);
    const result = await pool.run({ table: table.offset, count: 2 });
    expect(result).toMatchObject({ ok: false, error: { code: 'ERR_KERNEL_BOUNDS', index: 1 } });
    const { KernelBoundsError } = await import('../dist/src/index.js');
    await expect(runBatch(pool, { table: table.offset, count: 2 })).rejects.toBeInstanceOf(KernelBoundsError);
    await expect(runBatch(pool, { table: arena.base, count: 1 })).rejects.toMatchObject({ code: 'ERR_KERNEL_BOUNDS' });
    await expect(runBatch(pool, { table: -1, count: 1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    table.release();
    arena.check();
  });

  it('takes the fabric from the task when the pool has no workerData', async () => {
    const bare = new Piscina({ filename: WORKER_URL.href, maxThreads: 1 });
    try {
      const table = new SgTable(fabric, 1);
      const src = arena.at(1000, 0, 8 << 20), dst = arena.at(1000, 8 << 20);
      table.push(dst, src, 1000);
      arena.copied(dst, src, 1000);
      await expect(bare.run({ table: table.offset, count: 1, fabric: fabric.handle() })).resolves.toEqual({ ok: true, bytes: 1000 });
      await expect(bare.run({ table: table.offset, count: 1 })).resolves.toMatchObject({ ok: false, error: { code: 'ERR_INVALID_ARGUMENT' } });
      table.release();
      arena.check();
    } finally {
      await bare.destroy();
    }
  });
});
