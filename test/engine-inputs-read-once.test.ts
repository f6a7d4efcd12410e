// Inputs are read once: an engine call copies the caller's numbers (getters, Proxies, arrays changed
// later), validates the copy and acts only on it; a ring op that reads a table or list in shared
// memory reads each entry once, checks it and copies it with the numbers it checked, so another thread
// rewriting the table cannot make it write where no check looked. Released tables, lists and rings
// refuse further use; tables an op still reads refuse clear() and release().
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { CopyEngine, DmaChannel, Fabric, OP_FLAG_SUBMIT, Ring, SgList, SgTable, type Ring as RingType } from '../dist/src/index.js';
import { Arena } from './support/arena.js';
import { until } from './support/deadline.js';
import { testRng } from './support/random.js';
import { gatherCompletions } from './support/ring.js';

const rng = testRng('engine-inputs-read-once');
const MiB = 2 ** 20;
const fabric = new Fabric({ size: '64MiB', scratch: '2MiB' });
const arena = new Arena(fabric, rng, 32 * MiB);
const engine = CopyEngine.create(fabric, { workers: 1, inlineBelow: 4096 });
afterAll(() => engine.close());
beforeEach(() => arena.randomize());

// Where a changing field points after its first read: another part of the arena, which no copy may touch.
const CANARY = () => arena.base + 24 * MiB;
const canaryIntact = () => expect(Buffer.compare(arena.bytes.subarray(24 * MiB, 26 * MiB), arena.expected.subarray(24 * MiB, 26 * MiB))).toBe(0);

// A segment whose fields are getters: the first read of each gives `first`, every later read `later`.
function shifty(first: readonly [number, number, number], later: readonly [number, number, number]): [number, number, number] {
  const reads: [number, number, number] = [0, 0, 0];
  const segment = [0, 0, 0] as [number, number, number];
  for (const i of [0, 1, 2] as const) Object.defineProperty(segment, i, { get: () => (reads[i]++ === 0 ? first[i] : later[i]), enumerable: true });
  return segment;
}

describe('engine.copySg() reads its segments once', () => {
  it.each(['caller', 'worker', 'auto'] as const)('fields that change between reads: the first values are checked and copied (placement %s)', async (placement) => {
    const len = placement === 'auto' ? 1000 : rng.int(1, 60000);
    const src = arena.at(len, 0, 8 * MiB), dst = arena.at(len, 8 * MiB, 16 * MiB);
    const segments = [shifty([dst, src, len], [CANARY(), src, len]), shifty([dst + len, src, 0], [CANARY(), src, 2 * MiB])];
    await expect(engine.copySg(segments, { placement })).resolves.toBe(len);
    arena.copied(dst, src, len);
    canaryIntact();
    arena.check();
  });

  it('a Proxy whose length and elements change on every read: one snapshot is copied', async () => {
    const src = arena.at(3000, 0, 8 * MiB), dst = arena.at(3000, 8 * MiB, 16 * MiB);
    const good = [[dst, src, 1000], [dst + 1000, src + 1000, 1000], [dst + 2000, src + 2000, 1000]];
    let lengthReads = 0;
    const elementReads = new Map<string, number>();
    const proxy = new Proxy(good, {
      get(target, key, receiver) {
        if (key === 'length') return lengthReads++ === 0 ? 3 : 50;
        if (typeof key === 'string' && /^\d+$/.test(key)) {
          const n = elementReads.get(key) ?? 0;
          elementReads.set(key, n + 1);
          return n === 0 ? target[Number(key)] : [CANARY(), src, 2 * MiB];
        }
        return Reflect.get(target, key, receiver);
      },
    });
    for (const placement of ['caller', 'worker'] as const) {
      lengthReads = 0;
      elementReads.clear();
      await expect(engine.copySg(proxy as never, { placement })).resolves.toBe(3000);
      expect(lengthReads).toBe(1);
      expect([...elementReads.values()].every((n) => n === 1)).toBe(true);
    }
    arena.copied(dst, src, 3000);
    canaryIntact();
    arena.check();
  });

  it('an array changed after the call returns: the op copies what it was given', async () => {
    const src = arena.at(20000, 0, 8 * MiB), dst = arena.at(20000, 8 * MiB, 16 * MiB);
    const segments: [number, number, number][] = [[dst, src, 10000], [dst + 10000, src + 10000, 10000]];
    const copy = engine.copySg(segments, { placement: 'worker' });
    segments[0]![0] = CANARY();
    segments[1] = [CANARY(), src, 10000];
    segments.push([CANARY(), src, 1 * MiB]);
    await expect(copy).resolves.toBe(20000);
    arena.copied(dst, src, 20000);
    canaryIntact();
    arena.check();
  });

  it('a getter that calls the engine again while the segments are read: both copies are right', async () => {
    const src = arena.at(2000, 0, 8 * MiB), dst = arena.at(4000, 8 * MiB, 16 * MiB);
    let inner: Promise<number> | undefined;
    const outer = [[dst, src, 1000], [0, 0, 0]] as [number, number, number][];
    Object.defineProperty(outer, 1, {
      get: () => {
        inner ??= engine.copySg([[dst + 2000, src + 1000, 1000], [dst + 3000, src, 1000]], { placement: 'caller' });
        return [dst + 1000, src + 1000, 1000];
      },
    });
    await expect(engine.copySg(outer, { placement: 'caller' })).resolves.toBe(2000);
    await expect(inner).resolves.toBe(2000);
    arena.copied(dst, src, 2000);
    arena.copied(dst + 2000, src + 1000, 1000);
    arena.copied(dst + 3000, src, 1000);
    arena.check();
  });

  it.each([
    ['a sparse array', () => { const a: unknown[] = []; a[1] = [0, 0, 0]; return a; }, 'segments[0]'],
    ['a segment that is a pair', () => [[1, 2]], 'segments[0]'],
    ['a BigInt field', () => [[1, 2, 3], [4n, 5, 6]], 'segments[1].dst'],
    ['a getter that throws', () => { const a = [[1, 2, 3]]; Object.defineProperty(a, 0, { get: () => { throw new Error('no'); } }); return a; }, 'segments'],
    ['a revoked Proxy', () => { const p = Proxy.revocable([], {}); p.revoke(); return p.proxy; }, 'segments'],
  ])('%s is ERR_INVALID_ARGUMENT naming it, nothing copied', async (_name, make, argument) => {
    await expect(engine.copySg(make() as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument });
    arena.check();
  });

  it('options are read once: a placement getter that changes its answer does not split the decision', async () => {
    let reads = 0;
    const options = { get placement() { return reads++ === 0 ? 'caller' : 'bogus'; } };
    const src = arena.at(100000, 0, 8 * MiB), dst = arena.at(100000, 8 * MiB, 16 * MiB);
    const before = engine.stats().inline;
    await expect(engine.copy(dst, src, 100000, options as never)).resolves.toBe(100000);
    expect(reads).toBe(1);
    expect(engine.stats().inline).toBe(before + 1);
    arena.copied(dst, src, 100000);
    arena.check();
  });
});


// A thread that waits (in Atomics.wait) to be armed, then spins until the first bytes of `marker`
// equal those of `source` (the copy under test has passed its check and started), then stores
// `bad` at word `index` of the fabric, and waits to be armed again.
async function rewriter(index: number, bad: number, marker: number, source: number): Promise<{ arm: () => void; stop: () => Promise<void> }> {
  const control = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(
    `const { workerData: { buffer, index, bad, marker, source, control } } = require('node:worker_threads');
     const u = new Uint32Array(buffer), c = new Int32Array(control);
     for (;;) {
       Atomics.wait(c, 0, 0);
       if (Atomics.load(c, 1) === 1) break;
       const end = Date.now() + 1000;
       while (Atomics.load(u, marker >> 2) !== Atomics.load(u, source >> 2) && Date.now() < end);
       Atomics.store(u, index, bad);
       Atomics.store(c, 0, 0);
     }`,
    { eval: true, workerData: { buffer: fabric.buffer, index, bad, marker, source, control: control.buffer } },
  );
  await once(worker, 'online');
  return {
    arm: () => { Atomics.store(control, 0, 1); Atomics.notify(control, 0); },
    stop: async () => { Atomics.store(control, 1, 1); Atomics.store(control, 0, 1); Atomics.notify(control, 0); await once(worker, 'exit'); },
  };
}

describe('ring ops over shared tables that another thread rewrites mid-copy', () => {
  // Each op copies the same 16 MiB (REGIONS segments) eight times over: 128 MiB, so it reaches its
  // last entry many milliseconds after its check read it, long enough for the rewriting thread to
  // get a core on a busy machine. Ops run until the rewrite has landed after the check twice (at
  // most MAX_OPS): in a full parallel test run all eight ops of a fixed count once finished first.
  const REGIONS = 256, ENTRIES = 2048, SEG = 65536, MAX_OPS = 40, HITS = 2;
  // Scratch memory outside the rings and the tables: no op may ever write there.
  const canary = new SgList(fabric, 4096);
  const canaryBytes = () => Buffer.from(new Uint8Array(fabric.buffer, canary.offset, 4096 * 8));
  afterAll(() => canary.release());
  const src = () => arena.base, dst = () => arena.base + 16 * MiB;

  // Before each op: the destinations get fresh random bytes, so that the first one changing shows
  // the copy has started.
  function freshDestinations(): void {
    rng.fill(arena.bytes.subarray(16 * MiB, 32 * MiB));
    arena.expected.set(arena.bytes.subarray(16 * MiB, 32 * MiB), 16 * MiB);
  }

  // The channel's worker serves its ring before the main thread busy-waits in copyStarted():
  // piscina hands the worker its task from this thread's event loop.
  async function served(channel: DmaChannel): Promise<DmaChannel> {
    await until(() => channel.ring.serverActive, 60000, 'the ring served');
    return channel;
  }

  // Spins until the op's first destination bytes are the source's: its check is done.
  function copyStarted(): void {
    const d = dst() - arena.base, s = src() - arena.base;
    const end = Date.now() + 20000;
    while (Buffer.compare(arena.bytes.subarray(d, d + 16), arena.expected.subarray(s, s + 16)) !== 0) if (Date.now() > end) throw new Error('the copy never started');
  }

  // After an op: each segment copied or untouched; the reference takes the destinations as they are.
  function settle(): number {
    let copied = 0;
    for (let i = 0; i < REGIONS; i++) {
      const d = dst() - arena.base + i * SEG, s = src() - arena.base + i * SEG;
      const neu = Buffer.compare(arena.bytes.subarray(d, d + SEG), arena.expected.subarray(s, s + SEG)) === 0;
      expect(neu || Buffer.compare(arena.bytes.subarray(d, d + SEG), arena.expected.subarray(d, d + SEG)) === 0, `segment ${i}`).toBe(true);
      if (neu) copied++;
      arena.expected.set(arena.bytes.subarray(d, d + SEG), d);
    }
    return copied;
  }

  it("a table op whose last entry's dst is rewritten into the scratch area after the check: INVALID_DST there, the entries before it copied, nothing written outside (was: the scratch area overwritten)", async () => {
    const channel = await served(DmaChannel.open(fabric, { slots: 16 }));
    const table = new SgTable(fabric, ENTRIES);
    const last = (table.offset + (ENTRIES - 1) * 16) >> 2;
    try {
      for (let i = 0; i < ENTRIES; i++) table.push(dst() + (i % REGIONS) * SEG, src() + (i % REGIONS) * SEG, SEG);
      const before = canaryBytes();
      let hits = 0;
      for (let op = 0; op < MAX_OPS && hits < HITS; op++) {
        freshDestinations();
        Atomics.store(new Uint32Array(fabric.buffer), last, dst() + (REGIONS - 1) * SEG);
        channel.ring.enqueueCopyTable(table, OP_FLAG_SUBMIT);
        await null;
        copyStarted();
        Atomics.store(new Uint32Array(fabric.buffer), last, canary.offset);
        const [c] = await gatherCompletions(channel.ring, 1);
        const copied = settle();
        expect(['SUCCESS', 'INVALID_DST']).toContain(c!.statusName);
        if (c!.statusName === 'INVALID_DST') {
          hits++;
          expect(c).toMatchObject({ faultAddress: canary.offset, bytesCompleted: (ENTRIES - 1) * SEG });
          expect(copied).toBe(REGIONS);
        }
        expect(Buffer.compare(before, canaryBytes())).toBe(0);
      }
      // The rewrite landed after the check at least once, or this test proved nothing.
      expect(hits).toBeGreaterThan(0);
      arena.check();
    } finally {
      await channel.close();
      table.release();
    }
  });

  it("a list op whose last destination entry is rewritten after the check: INVALID_DST, nothing written outside", async () => {
    const channel = await served(DmaChannel.open(fabric, { slots: 16 }));
    const dstList = new SgList(fabric, ENTRIES);
    const srcList = new SgList(fabric, ENTRIES / REGIONS);
    const last = (dstList.offset + (ENTRIES - 1) * 8) >> 2;
    try {
      for (let i = 0; i < ENTRIES; i++) dstList.push(dst() + (i % REGIONS) * SEG, SEG);
      for (let i = 0; i < ENTRIES / REGIONS; i++) srcList.push(src(), REGIONS * SEG);
      const before = canaryBytes();
      let hits = 0;
      for (let op = 0; op < MAX_OPS && hits < HITS; op++) {
        freshDestinations();
        Atomics.store(new Uint32Array(fabric.buffer), last, dst() + (REGIONS - 1) * SEG);
        channel.ring.enqueueCopySg(dstList, srcList, OP_FLAG_SUBMIT);
        await null;
        copyStarted();
        Atomics.store(new Uint32Array(fabric.buffer), last, canary.offset);
        const [c] = await gatherCompletions(channel.ring, 1);
        const copied = settle();
        expect(['SUCCESS', 'INVALID_DST']).toContain(c!.statusName);
        if (c!.statusName === 'INVALID_DST') {
          hits++;
          expect(c).toMatchObject({ faultAddress: canary.offset, bytesCompleted: (ENTRIES - 1) * SEG });
          expect(copied).toBe(REGIONS);
        }
        expect(Buffer.compare(before, canaryBytes())).toBe(0);
      }
      expect(hits).toBeGreaterThan(0);
      arena.check();
    } finally {
      await channel.close();
      dstList.release();
      srcList.release();
    }
  });

  it('fabric.kernels.copySgLists in the caller\'s thread, a list rewritten by another thread mid-copy: ERR_KERNEL_BOUNDS, nothing written outside', async () => {
    const dstList = new SgList(fabric, ENTRIES);
    const srcList = new SgList(fabric, ENTRIES / REGIONS);
    const last = (dstList.offset + (ENTRIES - 1) * 8) >> 2;
    for (let i = 0; i < ENTRIES; i++) dstList.push(dst() + (i % REGIONS) * SEG, SEG);
    for (let i = 0; i < ENTRIES / REGIONS; i++) srcList.push(src(), REGIONS * SEG);
    const thread = await rewriter(last, canary.offset, dst(), src());
    const before = canaryBytes();
    let hits = 0;
    try {
      for (let op = 0; op < 20 && hits < 3; op++) {
        freshDestinations();
        Atomics.store(new Uint32Array(fabric.buffer), last, dst() + (REGIONS - 1) * SEG);
        thread.arm();
        await new Promise((r) => setTimeout(r, 2)); // the thread is spinning on the marker by now
        try {
          fabric.kernels.copySgLists(dstList, srcList);
        } catch (error) {
          expect(error).toMatchObject({ code: 'ERR_KERNEL_BOUNDS', list: 'dst', index: ENTRIES - 1 });
          hits++;
        }
        settle();
        expect(Buffer.compare(before, canaryBytes())).toBe(0);
      }
      expect(hits).toBeGreaterThan(0);
      arena.check();
    } finally {
      await thread.stop();
      dstList.release();
      srcList.release();
    }
  });
});

describe('released and pinned tables, lists and rings', () => {
  const INVALID_STATE = expect.objectContaining({ code: 'ERR_INVALID_STATE' });

  it('a released SgTable or SgList refuses every use, by every consumer', async () => {
    const table = new SgTable(fabric, 2);
    table.push(arena.base, arena.base + 4096, 64);
    table.release();
    table.release(); // a second release does nothing
    expect(table.released).toBe(true);
    for (const use of [() => table.push(arena.base, arena.base, 1), () => table.clear(), () => table.entry(0), () => fabric.kernels.copySg(table)]) expect(use).toThrow(INVALID_STATE);
    await expect(engine.copySg(table)).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });
    const ring = new Ring(fabric, { slots: 4 });
    try {
      expect(() => ring.enqueueCopyTable(table)).toThrow(INVALID_STATE);
      const list = new SgList(fabric, 1);
      list.release();
      const other = new SgList(fabric, 1);
      for (const use of [() => list.push(1, 1), () => list.clear(), () => list.totalLength(), () => fabric.kernels.copySgLists(list, other), () => ring.enqueueCopySg(list, other), () => ring.enqueueCopySg(other, list)]) expect(use).toThrow(INVALID_STATE);
      other.release();
      expect(ring.burstCapacity()).toBe(4);
    } finally {
      ring.release();
    }
  });

  it('a released Ring refuses every use (stats() excepted)', async () => {
    const ring = new Ring(fabric, { slots: 4 });
    ring.release();
    ring.release();
    expect(ring.released).toBe(true);
    const t = new SgTable(fabric, 1);
    for (const use of [
      () => ring.enqueueCopy(arena.base, arena.base, 1),
      () => ring.enqueueFill(arena.base, 1n, 1),
      () => ring.enqueueCopyCrc32c(arena.base, arena.base, 1),
      () => ring.enqueueCopyTable(t),
      () => ring.submit(),
      () => ring.completed(),
      () => ring.completedStatus(),
      () => ring.cancel(0),
      () => ring.pollCompletion(1),
      () => ring.burstCapacity(),
      () => ring.reset(),
      () => ring.requestStop(),
      () => ring.markStopped(),
      () => ring.reserveServer(),
    ]) expect(use).toThrow(INVALID_STATE);
    await expect(ring.waitForCompletion()).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });
    expect(ring.stats()).toEqual({ submitted: 0, completed: 0, errors: 0 });
    t.release();
  });

  it('a table an op still reads refuses clear() and release() until its completion is gathered', async () => {
    const channel = DmaChannel.open(fabric, { slots: 8 });
    const table = new SgTable(fabric, 64);
    try {
      for (let i = 0; i < 64; i++) table.push(arena.base + 8 * MiB + i * 65536, arena.base + i * 65536, 65536);
      channel.ring.enqueueCopyTable(table, OP_FLAG_SUBMIT);
      expect(table.inUse).toBe(1);
      expect(() => table.release()).toThrow(INVALID_STATE);
      expect(() => table.clear()).toThrow(INVALID_STATE);
      expect(table.count).toBe(64);
      await gatherCompletions(channel.ring, 1);
      expect(table.inUse).toBe(0);
      table.clear();
      // The engine pins a caller's table for as long as its op may read it, even while it waits in a backlog.
      table.push(arena.base + 8 * MiB, arena.base, 65536);
      const copies = Array.from({ length: 4 }, () => engine.copySg(table, { placement: 'worker' }));
      expect(() => table.release()).toThrow(INVALID_STATE);
      await Promise.all(copies);
      expect(table.inUse).toBe(0);
    } finally {
      await channel.close();
      table.release();
    }
    expect(table.released).toBe(true);
  });
});
