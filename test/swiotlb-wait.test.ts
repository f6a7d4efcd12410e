// mapWait: waiting for swiotlb space instead of failing (beyond the kernel, after QEMU's
// address_space_map / cpu_register_map_client). FIFO service, timeouts, aborts, no lost wake-ups.
import { describe, expect, it } from 'vitest';
import { SwiotlbPool, type SwiotlbMapping } from '../dist/src/dma/index.js';
import { BASE, SLOT, snapshot } from './support/swiotlb-helpers.js';

const ORIG = 0x2_0000_0000;

function onePool(onFull?: () => void): SwiotlbPool {
  return new SwiotlbPool({ base: BASE, size: '256KiB', ...(onFull ? { onFull } : {}) }); // 128 slots
}

/** Tracks a promise's state without awaiting it. */
function track<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: any; order?: number } = { settled: false };
  promise.then(
    (value) => { state.settled = true; state.value = value; state.order = ++track.count; },
    (error) => { state.settled = true; state.error = error; state.order = ++track.count; },
  );
  return state;
}
track.count = 0;

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('mapWait', () => {
  it('resolves at once when there is room, like map()', async () => {
    const p = onePool();
    const m = await p.mapWait({ origAddr: ORIG, size: 4096 });
    expect(m).toMatchObject({ tlbAddr: BASE, index: 0, nslots: 2 });
    expect(p.stats()).toMatchObject({ usedSlots: 2, waiters: 0, fullEvents: 0 });
  });

  it('waits while the pool is full and maps after an unmap', async () => {
    const p = onePool();
    const all = p.map({ origAddr: ORIG, size: 128 * SLOT });
    const w = track(p.mapWait({ origAddr: ORIG, size: 3000 }));
    await flush();
    expect(w.settled).toBe(false);
    expect(p.stats()).toMatchObject({ waiters: 1, fullEvents: 1, usedSlots: 128 });
    p.unmap(all.tlbAddr, 128 * SLOT);
    expect(p.stats()).toMatchObject({ waiters: 0, usedSlots: 2 }); // served inside unmap
    await flush();
    expect(w.value).toMatchObject({ index: 0, nslots: 2 });
    expect(p.mappingAt(w.value!.tlbAddr)).toMatchObject({ size: 3000 });
  });

  it('times out with SwiotlbFullError { timedOut: true } and leaves no trace', async () => {
    const p = onePool();
    const all = p.map({ origAddr: ORIG, size: 128 * SLOT });
    const before = snapshot(p);
    const err = await p.mapWait({ origAddr: ORIG, size: SLOT }, { timeout: 20 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_SWIOTLB_FULL', timedOut: true, size: 2048, totalSlots: 128, usedSlots: 128 });
    expect((err as Error).message).toMatch(/^swiotlb buffer is full \(sz: 2048 bytes\), total 128 \(slots\), used 128 \(slots\)/);
    expect(snapshot(p)).toEqual(before);
    p.unmap(all.tlbAddr, 128 * SLOT);
    expect(p.stats()).toMatchObject({ usedSlots: 0, mappings: 0, waiters: 0 }); // the gone waiter took nothing
  });

  it('rejects with AbortError when aborted, and at once for an aborted signal', async () => {
    const p = onePool();
    const all = p.map({ origAddr: ORIG, size: 128 * SLOT });
    const ac = new AbortController();
    const pending = p.mapWait({ origAddr: ORIG, size: SLOT }, { signal: ac.signal, timeout: 10_000 });
    await flush();
    expect(p.stats().waiters).toBe(1);
    ac.abort(new Error('device reset'));
    const err = await pending.catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ABORTED', name: 'AbortError' });
    expect((err as Error).cause).toMatchObject({ message: 'device reset' });
    expect(p.stats().waiters).toBe(0);
    p.unmap(all.tlbAddr, 128 * SLOT);
    expect(p.stats().usedSlots).toBe(0);
    expect(await p.mapWait({ origAddr: ORIG, size: SLOT }, { signal: ac.signal }).catch((e: unknown) => e)).toMatchObject({ code: 'ERR_ABORTED' });
    expect(p.stats()).toMatchObject({ usedSlots: 0, waiters: 0 });
  });

  it('serves waiters first come, first served: a small request does not overtake a large one', async () => {
    const p = onePool();
    const a = p.map({ origAddr: ORIG, size: 64 * SLOT }); // 0..63
    const b = p.map({ origAddr: ORIG, size: 64 * SLOT }); // 64..127
    const big = track(p.mapWait({ origAddr: ORIG, size: 100 * SLOT }));
    const small = track(p.mapWait({ origAddr: ORIG, size: SLOT }));
    p.unmap(b.tlbAddr, 64 * SLOT); // room for small, not for big
    const late = track(p.mapWait({ origAddr: ORIG, size: SLOT })); // arrives with room free: queues behind
    await flush();
    expect([big.settled, small.settled, late.settled]).toEqual([false, false, false]);
    expect(p.stats()).toMatchObject({ waiters: 3, usedSlots: 64 });
    p.unmap(a.tlbAddr, 64 * SLOT);
    await flush();
    expect([big.settled, small.settled, late.settled]).toEqual([true, true, true]);
    expect(big.order! < small.order! && small.order! < late.order!).toBe(true);
    expect([big.value!.index, small.value!.index, late.value!.index]).toEqual([0, 100, 101]);
  });

  it('wakes the next waiter when the one ahead of it gives up (no lost wake-up)', async () => {
    const p = onePool();
    const a = p.map({ origAddr: ORIG, size: 64 * SLOT });
    p.map({ origAddr: ORIG, size: 64 * SLOT });
    const big = track(p.mapWait({ origAddr: ORIG, size: 100 * SLOT }, { timeout: 20 }));
    const small = track(p.mapWait({ origAddr: ORIG, size: SLOT }));
    p.unmap(a.tlbAddr, 64 * SLOT);
    await flush();
    expect(small.settled).toBe(false); // held behind big
    await sleep(60);
    expect(big.error).toMatchObject({ timedOut: true });
    expect(small.value).toMatchObject({ nslots: 1 }); // served when big left, with no further unmap
  });

  it('catches space freed between the failed attempt and going to sleep', async () => {
    let release: (() => void) | undefined;
    const p = onePool(() => release?.()); // onFull runs just before the waiter arms itself
    const all = p.map({ origAddr: ORIG, size: 128 * SLOT });
    release = () => { release = undefined; p.unmap(all.tlbAddr, 128 * SLOT); };
    const m: SwiotlbMapping = await p.mapWait({ origAddr: ORIG, size: SLOT }, { timeout: 1000 });
    expect(m.index).toBe(0);
    expect(p.stats()).toMatchObject({ waiters: 0, usedSlots: 1 });
  });

  it('fails at once for requests that can never fit', async () => {
    const p = onePool();
    expect(await p.mapWait({ origAddr: ORIG, size: 256 * 1024 + 1 }).catch((e: unknown) => e)).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'size' });
    // 3 slots inside a 4 KiB segment boundary: impossible even in the empty pool.
    expect(await p.mapWait({ origAddr: ORIG, size: 3 * SLOT, boundaryMask: 0xfff }).catch((e: unknown) => e)).toMatchObject({ code: 'ERR_SWIOTLB_FULL', neverFits: true });
    expect(p.stats()).toMatchObject({ waiters: 0, usedSlots: 0 });
  });

  it.each([
    [{ timeout: -1 }, 'timeout'],
    [{ timeout: Number.NaN }, 'timeout'],
    [{ signal: {} }, 'signal'],
  ])('rejects bad options %j', async (options, argument) => {
    const p = onePool();
    expect(await p.mapWait({ origAddr: ORIG, size: SLOT }, options as never).catch((e: unknown) => e)).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument });
    expect(p.stats()).toMatchObject({ waiters: 0, usedSlots: 0 });
  });
});
