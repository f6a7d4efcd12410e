// The promise-free device calls (mapPhysNow() and the rest, which replayCapture() makes) answer at
// once when nothing waits: a bounce mapping is live, and an unmap's slots are free, when the call
// returns; they throw what the promise-returning calls reject with, and change nothing then. The
// promise-returning calls keep their turn: a call made before their promise settles still finds the
// mapping 'mapping' or 'unmapping'. CopyEngine.copyHere() and copyWordsHere() copy in the caller's
// thread, or say no.
import { afterAll, describe, expect, it } from 'vitest';
import { CopyEngine, DmaDirection, DmaSystem, Fabric, type MappedSegment } from '../dist/src/index.js';
import { Arena } from './support/arena.js';
import { GuardedBuffer } from './support/dma.js';
import { testRng } from './support/random.js';

const rng = testRng('dma-now-calls');
const NVME = '0000:04:00.0';
const { TO_DEVICE, FROM_DEVICE, BIDIRECTIONAL } = DmaDirection;

const system = DmaSystem.create({ swiotlb: { size: '1MiB' }, engine: { workers: 1 } });
afterAll(() => system.close());

const isPromise = (value: unknown): value is Promise<unknown> => typeof (value as { then?: unknown } | null)?.then === 'function';
const errorOf = (run: () => unknown): unknown => {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
};

describe('DmaDevice promise-free calls', () => {
  it('a bounced map is live and holds the bytes when mapPhysNow() returns; unmapPhysNow() copies back and frees at once', () => {
    const dev = system.device(NVME, { forceBounce: true });
    const size = 1 + Math.floor(rng.next() * 8192);
    const buf = new GuardedBuffer(system.ram[0]!, rng, size);
    const used = system.swiotlb.stats().usedSlots;
    const mapped = dev.mapPhysNow(buf.phys, size, BIDIRECTIONAL) as MappedSegment;
    expect(isPromise(mapped)).toBe(false);
    expect(mapped.kind).toBe('bounced');
    expect(dev.dma.read(mapped.dmaAddress, size)).toEqual(buf.bytes());
    expect(system.swiotlb.usedSlots).toBe(used + Math.ceil(size / 2048));
    expect(system.swiotlb.usedSlots).toBe(system.swiotlb.stats().usedSlots);
    // The device writes; the unmap copies it back and frees the slots before it returns.
    const written = new Uint8Array(size);
    rng.fill(written);
    dev.dma.write(mapped.dmaAddress, written);
    expect(dev.unmapPhysNow(mapped.dmaAddress, size, BIDIRECTIONAL)).toBeUndefined();
    expect(system.swiotlb.stats().usedSlots).toBe(used);
    buf.wrote(0, written);
    buf.check();
    // The mapping is gone: a second unmap is refused at once, synchronously.
    expect(errorOf(() => dev.unmapPhysNow(mapped.dmaAddress, size, BIDIRECTIONAL))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('syncs and SG calls answer at once too, with the bytes where the kernel puts them', () => {
    const dev = system.device(NVME, { forceBounce: true });
    const bufs = [0, 1, 2].map(() => new GuardedBuffer(system.ram[0]!, rng, 1 + Math.floor(rng.next() * 6000)));
    const sg = dev.mapSgNow(bufs.map((b) => ({ phys: b.phys, length: b.length })), FROM_DEVICE);
    if (isPromise(sg)) throw new Error('mapSgNow() returned a promise');
    expect(sg.segments.map((s) => s.kind)).toEqual(['bounced', 'bounced', 'bounced']);
    const written = bufs.map((b) => {
      const bytes = new Uint8Array(b.length);
      rng.fill(bytes);
      return bytes;
    });
    sg.segments.forEach((s, i) => dev.dma.write(s.dmaAddress, written[i]!));
    expect(dev.syncSgNow(sg, FROM_DEVICE, 'cpu')).toBeUndefined();
    bufs.forEach((b, i) => {
      b.wrote(0, written[i]!);
      b.check(`after syncSgNow, buffer ${i}`);
    });
    const first = sg.segments[0]!;
    expect(dev.syncSingleNow(first.dmaAddress, first.length, FROM_DEVICE, 'device')).toBeUndefined();
    expect(dev.unmapSgNow(sg, FROM_DEVICE)).toBeUndefined();
    expect(system.swiotlb.stats().usedSlots).toBe(0);
    for (const b of bufs) b.check('after unmapSgNow');
  });

  it('throws, changing nothing, what the promise-returning calls reject with', async () => {
    const dev = system.device(NVME, { forceBounce: true });
    const buf = new GuardedBuffer(system.ram[0]!, rng, 4096);
    const before = system.swiotlb.stats();
    expect(errorOf(() => dev.mapPhysNow(buf.phys, 0, TO_DEVICE))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(errorOf(() => dev.mapPhysNow(buf.phys, 4096, 7 as never))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(errorOf(() => dev.mapPhysNow(buf.phys, 512 * 1024, TO_DEVICE))).toMatchObject({ code: 'ERR_DMA_MAPPING' });
    await expect(dev.mapPhys(buf.phys, 512 * 1024, TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_DMA_MAPPING' });
    expect(errorOf(() => dev.syncSingleNow(buf.phys, 16, TO_DEVICE, 'both' as never))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'target' });
    expect(errorOf(() => dev.mapSgNow([], TO_DEVICE))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(system.swiotlb.stats()).toEqual(before);
    buf.check();
  });

  it('the promise-returning calls keep their turn: before the promise settles the mapping is not live', async () => {
    const dev = system.device(NVME, { forceBounce: true });
    const buf = new GuardedBuffer(system.ram[0]!, rng, 4096);
    const pending = dev.mapPhys(buf.phys, 4096, TO_DEVICE);
    const slot = slotOf(buf.phys);
    expect(slot).toBeGreaterThan(0);
    // Refused now (the map has not resolved), at once too for the promise-free call.
    expect(errorOf(() => dev.unmapPhysNow(slot, 4096, TO_DEVICE))).toMatchObject({ code: 'ERR_MAPPING_STATE', state: 'mapping' });
    const mapped = await pending;
    expect(mapped.dmaAddress).toBe(slot);
    const unmapping = dev.unmapPhys(slot, 4096, TO_DEVICE);
    expect(errorOf(() => dev.syncSingleNow(slot, 4096, TO_DEVICE, 'device'))).toMatchObject({ code: 'ERR_MAPPING_STATE', state: 'unmapping' });
    await unmapping;
    expect(system.swiotlb.stats().usedSlots).toBe(0);
    buf.check();
  });

  it('a map that must wait for space answers with a promise, and is live once it settles', async () => {
    const dev = system.device(NVME, { forceBounce: true, waitForSpace: Infinity });
    const big = new GuardedBuffer(system.ram[0]!, rng, 4 * 256 * 1024);
    const held: MappedSegment[] = [];
    for (let i = 0; i < 4; i++) held.push(await dev.mapPhys(big.phys + i * 256 * 1024, 256 * 1024, TO_DEVICE));
    const buf = new GuardedBuffer(system.ram[0]!, rng, 3000);
    const waiting = dev.mapPhysNow(buf.phys, 3000, TO_DEVICE);
    expect(isPromise(waiting)).toBe(true);
    expect(dev.unmapPhysNow(held[0]!.dmaAddress, 256 * 1024, TO_DEVICE)).toBeUndefined();
    const mapped = await waiting;
    expect(dev.dma.read(mapped.dmaAddress, 3000)).toEqual(buf.bytes());
    expect(dev.unmapPhysNow(mapped.dmaAddress, 3000, TO_DEVICE)).toBeUndefined();
    for (const m of held.slice(1)) expect(dev.unmapPhysNow(m.dmaAddress, 256 * 1024, TO_DEVICE)).toBeUndefined();
    expect(system.swiotlb.stats().usedSlots).toBe(0);
    big.check();
    buf.check();
  });
});

describe('CopyEngine.copyHere() and copyWordsHere()', () => {
  const fabric = new Fabric({ size: '16MiB', scratch: '1MiB' });
  const arena = new Arena(fabric, rng, 8 * 2 ** 20);
  const engine = CopyEngine.create(fabric, { workers: 1, inlineBelow: 4096 });
  afterAll(async () => {
    await engine.close();
  });

  it('copies in this thread when the op is inline, and says no (copying nothing) when it would go to a worker', () => {
    arena.randomize();
    const a = arena.at(3000, 0, 2 ** 20), b = arena.at(2000, 2 ** 20, 2 ** 21), c = arena.at(10_000, 2 ** 22, 2 ** 23);
    expect(engine.copyHere([[a, b, 1000], [a + 1000, b + 1000, 1000], [c, a, 2000]], 'auto')).toBe(true);
    arena.copied(a, b, 1000);
    arena.copied(a + 1000, b + 1000, 1000);
    arena.copied(c, a, 2000);
    arena.check();
    expect(engine.copyHere([[c, b, 4096]], 'auto')).toBe(false);
    arena.check(); // nothing copied
    expect(engine.copyHere([[c, b, 10_000]], 'caller')).toBe(true);
    arena.copied(c, b, 10_000);
    arena.check();
  });

  it('reads each segment once: the copy uses the numbers it checked', () => {
    arena.randomize();
    const a = arena.at(64, 0, 2 ** 20), b = arena.at(64, 2 ** 20, 2 ** 21);
    let reads = 0;
    const segments: [number, number, number][] = [];
    // A getter that hands out a good segment once, then one far out of bounds.
    Object.defineProperty(segments, 0, { get: () => (reads++ === 0 ? [a, b, 64] : [fabric.size - 8, b, 64]), enumerable: true });
    expect(engine.copyHere(segments, 'caller')).toBe(true);
    expect(reads).toBe(1);
    arena.copied(a, b, 64);
    arena.check();
  });

  it('throws, copying nothing, for a bad segment anywhere in the list and for a closed engine', async () => {
    arena.randomize();
    const a = arena.at(64, 0, 2 ** 20), b = arena.at(64, 2 ** 20, 2 ** 21);
    expect(errorOf(() => engine.copyHere([[a, b, 16], [fabric.size - 8, b, 16]], 'caller'))).toMatchObject({ code: 'ERR_COPY_FAILED' });
    expect(errorOf(() => engine.copyHere([[a, b, 16], [a, -1, 16]], 'caller'))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(errorOf(() => engine.copyHere([[a, b, 16], [a, b] as never], 'caller'))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'segments[1]' });
    expect(errorOf(() => engine.copyHere(null as never, 'caller'))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'segments' });
    expect(errorOf(() => engine.copyHere([[a, b, 16]], 'worker' as never))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'placement' });
    arena.check();
    const other = CopyEngine.create(fabric, { workers: 1 });
    await other.close();
    expect(errorOf(() => other.copyHere([[a, b, 16]], 'caller'))).toMatchObject({ code: 'ERR_ENGINE_CLOSED' });
    arena.check();
  });

  const words = (...triples: [number, number, number][]) => Uint32Array.from(triples.flat());

  it('copyWordsHere() copies the first `count` triples in this thread, or says no when the op would go to a worker', () => {
    arena.randomize();
    const a = arena.at(3000, 0, 2 ** 20), b = arena.at(2000, 2 ** 20, 2 ** 21), c = arena.at(10_000, 2 ** 22, 2 ** 23);
    // The triple past `count` is out of bounds: it must not be read.
    expect(engine.copyWordsHere(words([a, b, 1000], [c, a, 2000], [fabric.size - 8, b, 64]), 2, 'auto')).toBe(true);
    arena.copied(a, b, 1000);
    arena.copied(c, a, 2000);
    arena.check();
    expect(engine.copyWordsHere(words([c, b, 4096]), 1, 'auto')).toBe(false);
    arena.check();
    expect(engine.copyWordsHere(words([c, b, 10_000]), 1, 'caller')).toBe(true);
    arena.copied(c, b, 10_000);
    expect(engine.copyWordsHere(words(), 0, 'caller')).toBe(true);
    arena.check();
  });

  it('copyWordsHere() throws, copying nothing, for a bad triple anywhere, bad arguments and a closed engine', async () => {
    arena.randomize();
    const a = arena.at(64, 0, 2 ** 20), b = arena.at(64, 2 ** 20, 2 ** 21);
    expect(errorOf(() => engine.copyWordsHere(words([a, b, 16], [a, fabric.size - 8, 16]), 2, 'caller'))).toMatchObject({ code: 'ERR_COPY_FAILED', status: 'INVALID_SRC' });
    expect(errorOf(() => engine.copyWordsHere(words([a, b, 16]), 2, 'caller'))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'words' });
    expect(errorOf(() => engine.copyWordsHere(words([a, b, 16]), 0.5, 'caller'))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'words' });
    expect(errorOf(() => engine.copyWordsHere([a, b, 16] as never, 1, 'caller'))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'words' });
    expect(errorOf(() => engine.copyWordsHere(words([a, b, 16]), 1, 'worker' as never))).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'placement' });
    arena.check();
    const other = CopyEngine.create(fabric, { workers: 1 });
    await other.close();
    expect(errorOf(() => other.copyWordsHere(words([a, b, 16]), 1, 'caller'))).toMatchObject({ code: 'ERR_ENGINE_CLOSED' });
    arena.check();
  });
});

// The slot a pending bounce mapping of `phys` holds (a scan of the pool's mappings).
function slotOf(phys: number): number {
  const pool = system.swiotlb.defaultPool;
  for (let a = pool.base; a < pool.end; a += 2048) if (system.swiotlb.mappingAt(a)?.origAddr === phys) return a;
  return -1;
}
