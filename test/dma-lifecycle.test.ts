// The life of a bounce mapping under overlapping calls (mapping -> live -> unmapping -> free),
// the system's close(), and the inputs a hostile caller can change between reads.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { DMA_ATTR_SKIP_CPU_SYNC, DmaDebugCode, DmaDirection, DmaSystem, type DmaDevice, type MappedSegment } from '../dist/src/index.js';
import { GuardedBuffer } from './support/dma.js';
import { testRng } from './support/random.js';

const NVME = '0000:04:00.0';
const NIC = '0000:05:00.0';
const NVME_FAR = '0000:81:00.0';
const { TO_DEVICE, FROM_DEVICE, BIDIRECTIONAL } = DmaDirection;
const rng = testRng('dma-lifecycle');

let systems: DmaSystem[] = [];
function makeSystem(options: Parameters<typeof DmaSystem.create>[0] = {}): DmaSystem {
  const system = DmaSystem.create({ swiotlb: { size: '1MiB' }, engine: { workers: 1 }, ...options });
  systems.push(system);
  return system;
}
afterEach(async () => {
  await Promise.allSettled(systems.map((s) => s.close()));
  systems = [];
});

function random(length: number): Uint8Array {
  return rng.fill(new Uint8Array(length));
}

// The pool's first mapping of a fresh system lands at its base (page-aligned, area 0).
function firstSlot(system: DmaSystem): number {
  return system.swiotlb.defaultPool.base;
}

describe('a bounce mapping has one life', () => {
  it('a second unmap issued before the first settles is refused, and no other device loses its mapping', async () => {
    // Copies go through a worker (inlineBelow 0), so the first unmap's copy-back is still in flight.
    const system = makeSystem({ engine: { workers: 1, inlineBelow: 0 } });
    const ram = system.ram[0]!;
    const mine = new GuardedBuffer(ram, rng, 4096);
    const theirs = new GuardedBuffer(ram, rng, 4096);
    const a = system.device(NVME, { forceBounce: true });
    const b = system.device(NIC, { forceBounce: true });
    const ma = await a.mapSingle(mine.phys, 4096, FROM_DEVICE);
    const written = random(4096);
    a.dma.write(ma.dmaAddress, written);

    const first = a.unmapSingle(ma.dmaAddress, 4096, FROM_DEVICE);
    const second = a.unmapSingle(ma.dmaAddress, 4096, FROM_DEVICE);
    await expect(second).rejects.toMatchObject({ code: 'ERR_MAPPING_STATE', state: 'unmapping', dmaAddress: ma.dmaAddress });
    await first;
    mine.wrote(0, written);
    mine.check('first unmap copied the device bytes back');

    // The slot is free again: another device takes it once the next-fit search wraps, and a late
    // third unmap cannot touch it.
    const fillers: MappedSegment[] = [];
    let mb = await b.mapSingle(theirs.phys, 4096, BIDIRECTIONAL);
    while (mb.dmaAddress !== ma.dmaAddress) {
      fillers.push(mb);
      expect(fillers.length).toBeLessThan(system.swiotlb.defaultPool.totalSlots);
      mb = await b.mapSingle(theirs.phys, 4096, BIDIRECTIONAL);
    }
    for (const f of fillers) await b.unmapSingle(f.dmaAddress, 4096, BIDIRECTIONAL, DMA_ATTR_SKIP_CPU_SYNC);
    await expect(a.unmapSingle(ma.dmaAddress, 4096, FROM_DEVICE)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(b.bounceMappings()).toBe(1);
    const theirBytes = random(4096);
    b.dma.write(mb.dmaAddress, theirBytes);
    await b.unmapSingle(mb.dmaAddress, 4096, BIDIRECTIONAL);
    theirs.wrote(0, theirBytes);
    theirs.check('the other device');
    mine.check('the first buffer after the other device used the slot');
    expect(system.swiotlb.stats().usedSlots).toBe(0);
  });

  it('an unmap of a mapping whose map has not resolved is refused; the copy-in lands in its own slot', async () => {
    const system = makeSystem({ engine: { workers: 1, inlineBelow: 0 } });
    const ram = system.ram[0]!;
    const buf = new GuardedBuffer(ram, rng, 8192);
    const dev = system.device(NVME, { forceBounce: true });
    const other = system.device(NIC, { forceBounce: true });
    const mapping = dev.mapSingle(buf.phys, 8192, TO_DEVICE);
    const guessed = firstSlot(system);
    await expect(dev.unmapSingle(guessed, 8192, TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_MAPPING_STATE', state: 'mapping' });
    await expect(dev.syncSingleForDevice(guessed, 8192, TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_MAPPING_STATE', state: 'mapping' });
    expect(() => dev.dma.read(guessed, 16)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE_FAULT' }));
    const m = await mapping;
    expect(m.dmaAddress).toBe(guessed);
    // The other device's mapping lands elsewhere and keeps its own bytes.
    const otherBuf = new GuardedBuffer(ram, rng, 4096);
    const mo = await other.mapSingle(otherBuf.phys, 4096, TO_DEVICE);
    expect(mo.dmaAddress).not.toBe(m.dmaAddress);
    expect(dev.dma.read(m.dmaAddress, 8192)).toEqual(buf.bytes());
    expect(other.dma.read(mo.dmaAddress, 4096)).toEqual(otherBuf.bytes());
    await dev.unmapSingle(m.dmaAddress, 8192, TO_DEVICE);
    await other.unmapSingle(mo.dmaAddress, 4096, TO_DEVICE);
    expect(system.swiotlb.stats().usedSlots).toBe(0);
    buf.check();
    otherBuf.check();
  });

  it('a sync issued before an unmap finishes first; a sync issued after it is refused; the device cannot reach an unmapping slot', async () => {
    const system = makeSystem({ engine: { workers: 1, inlineBelow: 0 } });
    const buf = new GuardedBuffer(system.ram[0]!, rng, 16384);
    const dev = system.device(NVME, { forceBounce: true });
    const m = await dev.mapSingle(buf.phys, 16384, BIDIRECTIONAL);
    const fromDevice = random(16384);
    dev.dma.write(m.dmaAddress, fromDevice);
    const sync = dev.syncSingleForCpu(m.dmaAddress, 16384, BIDIRECTIONAL);
    const unmap = dev.unmapSingle(m.dmaAddress, 16384, BIDIRECTIONAL);
    // Before anything can settle: the mapping is 'unmapping' now.
    expect(() => dev.dma.write(m.dmaAddress, random(64))).toThrow(expect.objectContaining({ code: 'ERR_DEVICE_FAULT' }));
    const late = dev.syncSingleForCpu(m.dmaAddress, 16384, BIDIRECTIONAL);
    await expect(late).rejects.toMatchObject({ code: 'ERR_MAPPING_STATE', state: 'unmapping' });
    await Promise.all([sync, unmap]);
    buf.wrote(0, fromDevice);
    buf.check();
    expect(system.swiotlb.stats().usedSlots).toBe(0);
  });

  it('a refused unmap changes nothing: the mapping stays live and unmaps later', async () => {
    const system = makeSystem();
    const buf = new GuardedBuffer(system.ram[0]!, rng, 4096);
    const dev = system.device(NVME, { forceBounce: true });
    const other = system.device(NIC, { forceBounce: true });
    const m = await dev.mapSingle(buf.phys, 4096, FROM_DEVICE);
    await expect(other.unmapSingle(m.dmaAddress, 4096, FROM_DEVICE)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(dev.unmapSingle(m.dmaAddress, 2048, FROM_DEVICE)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    const bytes = random(4096);
    dev.dma.write(m.dmaAddress, bytes);
    await dev.unmapSingle(m.dmaAddress, 4096, FROM_DEVICE);
    buf.wrote(0, bytes);
    buf.check();
  });

  it('dma-debug reports an overlapping second unmap as memory not mapped, and keeps the first one tracked until it ends', async () => {
    const system = makeSystem({ engine: { workers: 1, inlineBelow: 0 }, debug: true });
    const buf = new GuardedBuffer(system.ram[0]!, rng, 4096);
    const dev = system.device(NVME, { forceBounce: true });
    const m = await dev.mapSingle(buf.phys, 4096, FROM_DEVICE);
    dev.mappingError(m.dmaAddress);
    const first = dev.unmapSingle(m.dmaAddress, 4096, FROM_DEVICE);
    await expect(dev.unmapSingle(m.dmaAddress, 4096, FROM_DEVICE)).rejects.toMatchObject({ code: 'ERR_MAPPING_STATE' });
    await first;
    expect(system.debug!.reports.map((r) => r.code)).toEqual([DmaDebugCode.UNMAP_NOT_MAPPED]);
    expect(system.debug!.mappings()).toEqual([]);
  });

  it('dma-debug reports a sync of a mapping being unmapped as SYNC_NOT_MAPPED, and a map not yet resolved as not mapped', async () => {
    const system = makeSystem({ engine: { workers: 1, inlineBelow: 0 }, debug: true });
    const buf = new GuardedBuffer(system.ram[0]!, rng, 8192);
    const dev = system.device(NVME, { forceBounce: true });
    const m = await dev.mapSingle(buf.phys, 4096, FROM_DEVICE);
    dev.mappingError(m.dmaAddress);
    const unmap = dev.unmapSingle(m.dmaAddress, 4096, FROM_DEVICE);
    await expect(dev.syncSingleForCpu(m.dmaAddress, 4096, FROM_DEVICE)).rejects.toMatchObject({ code: 'ERR_MAPPING_STATE' });
    await unmap;
    const pending = dev.mapSingle(buf.phys + 4096, 4096, TO_DEVICE);
    let at = -1;
    for (let a = system.swiotlb.defaultPool.base; a < system.swiotlb.defaultPool.end && at < 0; a += 2048) if (system.swiotlb.mappingAt(a)?.origAddr === buf.phys + 4096) at = a;
    await expect(dev.unmapSingle(at, 4096, TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_MAPPING_STATE', state: 'mapping' });
    const p = await pending;
    dev.mappingError(p.dmaAddress);
    await dev.unmapSingle(p.dmaAddress, 4096, TO_DEVICE);
    expect(system.debug!.reports.map((r) => r.code)).toEqual([DmaDebugCode.SYNC_NOT_MAPPED, DmaDebugCode.UNMAP_NOT_MAPPED]);
  });
});

describe('close() settles everything', () => {
  it('maps waiting for pool space reject with ERR_SYSTEM_CLOSED; maps and unmaps in flight finish; later calls are refused', async () => {
    const system = makeSystem({ swiotlb: { size: '256KiB' }, engine: { workers: 1, inlineBelow: 0 } });
    const ram = system.ram[0]!;
    const dev = system.device(NVME, { forceBounce: true, waitForSpace: Infinity });
    const big = new GuardedBuffer(ram, rng, 128 * 1024);
    const held = await Promise.all([dev.mapSingle(big.phys, 65536, TO_DEVICE), dev.mapSingle(big.phys + 65536, 65536, TO_DEVICE)]);
    const more = new GuardedBuffer(ram, rng, 4 * 65536);
    const third = await dev.mapSingle(more.phys, 65536, TO_DEVICE);
    const fourth = await dev.mapSingle(more.phys + 65536, 65536, TO_DEVICE);
    // The pool is full now: these wait.
    const waiting = [dev.mapSingle(more.phys + 131072, 65536, TO_DEVICE), dev.mapSingle(more.phys + 196608, 65536, TO_DEVICE)];
    await new Promise((r) => setTimeout(r, 5));
    expect(system.swiotlb.stats().waiters).toBe(2);
    const unmapping = dev.unmapSingle(held[0]!.dmaAddress, 65536, TO_DEVICE);
    const closing = system.close();
    expect(system.state).toBe('closing');
    const results = await Promise.allSettled([...waiting, unmapping]);
    // The unmap freed a slot run; the first waiter may have taken it before close began, the rest end with ERR_SYSTEM_CLOSED.
    for (const r of results.slice(0, 2)) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'ERR_SYSTEM_CLOSED' });
    expect(results[2]!.status).toBe('fulfilled');
    await closing;
    expect(system.state).toBe('closed');
    expect(system.swiotlb.stats().waiters).toBe(0);
    await expect(dev.mapSingle(more.phys, 4096, TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_SYSTEM_CLOSED' });
    await expect(dev.unmapSingle(third.dmaAddress, 65536, TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_SYSTEM_CLOSED' });
    expect(() => system.device(NIC)).toThrow(expect.objectContaining({ code: 'ERR_SYSTEM_CLOSED' }));
    void fourth;
    await system.close(); // a second close resolves
  });

  it('close() waits for a map whose copy-in is on a worker, and every promise settles', async () => {
    const system = makeSystem({ engine: { workers: 1, inlineBelow: 0 } });
    const buf = new GuardedBuffer(system.ram[0]!, rng, 256 * 1024);
    const dev = system.device(NVME, { forceBounce: true });
    const maps = [0, 1, 2, 3].map((i) => dev.mapSingle(buf.phys + i * 65536, 65536, TO_DEVICE));
    const closed = system.close();
    const settled = await Promise.allSettled(maps);
    await closed;
    expect(settled.every((s) => s.status === 'fulfilled')).toBe(true);
  });

  it('after close() nothing keeps the process alive: no timer of a cut-short wait, no worker', () => {
    const script = `
      import { DmaSystem, DmaDirection } from ${JSON.stringify(new URL('../dist/src/index.js', import.meta.url).href)};
      const system = DmaSystem.create({ swiotlb: { size: '256KiB' }, engine: { workers: 1, inlineBelow: 0 } });
      const dev = system.device('0000:04:00.0', { forceBounce: true, waitForSpace: 600000 });
      const span = system.allocRam(512 * 1024);
      const held = [];
      for (let i = 0; i < 4; i++) held.push(await dev.mapSingle(span.phys + i * 65536, 65536, DmaDirection.TO_DEVICE));
      const waiting = dev.mapSingle(span.phys + 4 * 65536, 65536, DmaDirection.TO_DEVICE).catch((e) => e.code);
      await system.close();
      console.log(await waiting);
    `;
    const started = Date.now();
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('ERR_SYSTEM_CLOSED');
    expect(child.status).toBe(0);
    // The wait's timer was 10 minutes: the process ended long before it.
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('await using closes the system at the end of the block', async () => {
    let outside: DmaSystem;
    {
      await using system = DmaSystem.create({ swiotlb: { size: '1MiB' }, engine: { workers: 1 } });
      outside = system;
      expect(system.state).toBe('open');
    }
    expect(outside.state).toBe('closed');
  });
});

describe('inputs are read once', () => {
  it('an SG entry whose length getter changes is mapped with the first value it gave', async () => {
    const system = makeSystem();
    const buf = new GuardedBuffer(system.ram[0]!, rng, 8192);
    const dev = system.device(NVME, { forceBounce: true });
    let reads = 0;
    const entry = { phys: buf.phys, get length() { reads++; return reads === 1 ? 4096 : 1 << 20; } };
    const sg = await dev.mapSg([entry], TO_DEVICE);
    expect(reads).toBe(1);
    expect(sg.segments[0]!.length).toBe(4096);
    expect(dev.dma.read(sg.segments[0]!.dmaAddress, 4096)).toEqual(buf.bytes(0, 4096));
    await dev.unmapSg(sg, TO_DEVICE);
    buf.check();
  });

  it('a sparse or proxied entry list is read once per index and refused with a code when it has holes', async () => {
    const system = makeSystem();
    const buf = new GuardedBuffer(system.ram[0]!, rng, 8192);
    const dev = system.device(NVME);
    const holes: { phys: number; length: number }[] = [];
    holes[2] = { phys: buf.phys, length: 64 };
    await expect(dev.mapSg(holes, TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'entries' });
    const gets: PropertyKey[] = [];
    const proxied = new Proxy([{ phys: buf.phys, length: 4096 }], { get(target, key, receiver) { gets.push(key); return Reflect.get(target, key, receiver); } });
    const sg = await dev.mapSg(proxied, TO_DEVICE);
    expect(gets.filter((k) => k === 'length')).toHaveLength(1);
    expect(gets.filter((k) => k === '0')).toHaveLength(1);
    await dev.unmapSg(sg, TO_DEVICE);
  });

  it('an unmap reads each segment once: a getter cannot make the check and the free see different addresses', async () => {
    const system = makeSystem();
    const ram = system.ram[0]!;
    const mine = new GuardedBuffer(ram, rng, 4096);
    const theirs = new GuardedBuffer(ram, rng, 4096);
    const dev = system.device(NVME, { forceBounce: true });
    const other = system.device(NIC, { forceBounce: true });
    const sg = await dev.mapSg([{ phys: mine.phys, length: 4096 }], FROM_DEVICE);
    const mo = await other.mapSingle(theirs.phys, 4096, FROM_DEVICE);
    let reads = 0;
    const real = sg.segments[0]!;
    const seg = { ...real, get dmaAddress() { reads++; return reads === 1 ? real.dmaAddress : mo.dmaAddress; } } as MappedSegment;
    await dev.unmapSg({ ...sg, segments: [seg] }, FROM_DEVICE);
    expect(reads).toBe(1);
    expect(other.bounceMappings()).toBe(1);
    const bytes = random(4096);
    other.dma.write(mo.dmaAddress, bytes);
    await other.unmapSingle(mo.dmaAddress, 4096, FROM_DEVICE);
    theirs.wrote(0, bytes);
    theirs.check();
  });

  it('device.dma.write uses the array\'s own length, not an own `length` property', () => {
    const system = makeSystem();
    const dev = system.device(NVME);
    const span = system.allocRam(8192);
    const view = system.ram[0]!.view(span);
    const before = rng.fill(new Uint8Array(8192));
    view.set(before);
    const bytes = random(4096);
    Object.defineProperty(bytes, 'length', { value: 16 });
    // The check must cover all 4096 bytes: at the region's end it faults instead of writing past the checked range.
    const ram = system.ram[0]!;
    expect(() => dev.dma.write(ram.physEnd - 16, bytes)).toThrow(expect.objectContaining({ code: 'ERR_DEVICE_FAULT' }));
    dev.dma.write(span.phys, bytes);
    expect(view.slice(0, 4096)).toEqual(Uint8Array.from(bytes.subarray(0, 4096)));
    expect(view.slice(4096)).toEqual(before.slice(4096));
  });

  it('device options are read once and an unknown or out-of-range one is named', () => {
    const system = makeSystem();
    let reads = 0;
    const options = { get dmaBits() { reads++; return 32; } };
    const dev: DmaDevice = system.device(NVME, options);
    expect(reads).toBe(1);
    expect(dev.dmaBits).toBe(32);
    for (const [options, argument] of [
      [{ waitForSpace: 3e9 }, 'waitForSpace'],
      [{ waitForSpace: -1 }, 'waitForSpace'],
      [{ waitForSpace: true }, 'waitForSpace'],
      [{ cpu: 2 ** 40 }, 'cpu'],
      [{ cpu: NaN }, 'cpu'],
      [{ dmaBits: 64n }, 'dmaBits'],
      [{ forcebounce: true }, 'forcebounce'],
      [{ maxSegmentSize: 0 }, 'maxSegmentSize'],
    ] as const) {
      expect(() => system.device(NVME, options as never), JSON.stringify(options, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument }));
    }
  });
});

describe('one owner for each piece of memory', () => {
  it('barMemory().allocate() and the BAR\'s p2pmem provider never hand out the same bytes', () => {
    const system = makeSystem();
    const bar = system.barMemory('0000:03:00.0', 1);
    const provider = system.topology.findDevice('0000:03:00.0')!.bar(1)!.provider!;
    const spans = [];
    const taken: { phys: number; size: number }[] = [];
    for (let i = 0; i < 40; i++) {
      const size = rng.int(1, 5) * 4096 - rng.int(0, 100);
      if (rng.next() < 0.5) spans.push(bar.allocate(size, 4096));
      else taken.push(provider.allocate(size));
    }
    const ranges = [...spans.map((s) => [s.phys, Math.ceil(s.length / 4096) * 4096] as const), ...taken.map((t) => [t.phys, t.size] as const)].sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThanOrEqual(ranges[i - 1]![0] + ranges[i - 1]![1]);
    for (const span of spans) bar.free(span);
    for (const t of taken) provider.free(t);
    expect(provider.available).toBe(provider.size);
  });

  it('freeRam refuses a buffer a bounce mapping still copies back into', async () => {
    const system = makeSystem();
    const span = system.allocRam(4096);
    const dev = system.device(NVME_FAR, { forceBounce: true });
    const m = await dev.mapSingle(span.phys, 4096, FROM_DEVICE);
    expect(() => system.freeRam(span)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    await dev.unmapSingle(m.dmaAddress, 4096, FROM_DEVICE);
    system.freeRam(span);
    expect(() => system.freeRam(span)).toThrow(expect.objectContaining({ code: 'ERR_DOUBLE_FREE' }));
  });
});
