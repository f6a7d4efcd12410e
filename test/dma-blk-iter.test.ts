// P2P providers and map state (pci_p2pdma_state(), the per-owner map-type cache) and the block
// layer's DMA iterator (blk_rq_dma_map_iter_start()/_next()) on requests mixing RAM and P2P memory.
import { afterAll, describe, expect, it } from 'vitest';
import { BlkDmaIterator, DMA_ATTR_MMIO, DmaDirection, DmaSystem, P2pdmaMapType, type SgEntry, type StreamingDirection } from '../dist/src/index.js';
import { GuardedBuffer } from './support/dma.js';
import { testRng } from './support/random.js';

const GPU = '0000:03:00.0';
const NVME = '0000:04:00.0'; // BUS_ADDR from the GPU
const NIC = '0000:05:00.0'; // THRU_HOST_BRIDGE
const NVME_FAR = '0000:81:00.0'; // NOT_SUPPORTED
const { TO_DEVICE, FROM_DEVICE } = DmaDirection;
const rng = testRng('dma-blk-iter');
const system = DmaSystem.create({ swiotlb: { size: '1MiB' }, engine: { workers: 1 } });
afterAll(() => system.close());
const bar = system.barMemory(GPU, 1);
const gpuBar = system.topology.findDevice(GPU)!.bar(1)!;

describe('pci_p2pdma_state()', () => {
  it('classifies RAM as NONE and BAR memory by the pair\'s route, with the provider\'s bus offset in the kernel\'s sign', () => {
    const ram = system.allocRam(4096);
    const span = bar.allocate(4096, 4096);
    for (const [client, map] of [[NVME, P2pdmaMapType.BUS_ADDR], [NIC, P2pdmaMapType.THRU_HOST_BRIDGE], [NVME_FAR, P2pdmaMapType.NOT_SUPPORTED]] as const) {
      const dev = system.device(client);
      expect(dev.p2pdmaState(ram.phys, 4096)).toEqual({ map: P2pdmaMapType.NONE, provider: undefined });
      const state = dev.p2pdmaState(span.phys, 4096);
      expect(state.map).toBe(map);
      expect(state.provider!.owner.bdf).toBe(GPU);
      // bus address = phys + bus_offset (pci_p2pdma_bus_addr_map())
      expect(span.phys + state.provider!.busOffset).toBe(gpuBar.busAddress + (span.phys - gpuBar.phys));
    }
    bar.free(span);
    system.freeRam(ram);
  });

  it('the map type of a pair is computed once and shared by every device object of that client', () => {
    const a = system.device(NVME_FAR);
    const b = system.device(NVME_FAR);
    expect(a.route(gpuBar.device)).toBe(b.route(gpuBar.device));
    expect(a.route(gpuBar.device).type).toBe('NOT_SUPPORTED');
  });
});

function request(parts: SgEntry[], direction: StreamingDirection = TO_DEVICE, p2p = false, limits = {}) {
  return { bvecs: parts, direction, p2p, limits };
}

describe('the block layer DMA iterator', () => {
  it('merges contiguous bio_vecs up to the max segment size and splits at the segment boundary', () => {
    const dev = system.device(NVME);
    const base = 0x1000_0000 + 0x10_0000;
    const it1 = new BlkDmaIterator(dev, request([{ phys: base, length: 4096 }, { phys: base + 4096, length: 4096 }, { phys: base + 8192, length: 100 }, { phys: base + 20_000, length: 10 }]));
    expect(it1.segments).toEqual([{ phys: base, length: 8292 }, { phys: base + 20_000, length: 10 }]);
    // A 64 KiB boundary cuts a contiguous run; max segment size 8 KiB caps each piece.
    const at = base + 65536 - 4096;
    const it2 = new BlkDmaIterator(dev, request([{ phys: at, length: 12288 }], TO_DEVICE, false, { segBoundaryMask: 0xffff, maxSegmentSize: 8192 }));
    expect(it2.segments).toEqual([{ phys: at, length: 4096 }, { phys: at + 4096, length: 8192 }]);
  });

  it('a P2P request whose first segment is BUS_ADDR gets bus addresses for every segment and no mapping', async () => {
    const dev = system.device(NVME);
    const span = bar.allocate(16384, 4096);
    const iter = new BlkDmaIterator(dev, request([{ phys: span.phys, length: 8192 }, { phys: span.phys + 12288, length: 4096 }], TO_DEVICE, true));
    const segs = await iter.mapAll();
    const busOffset = dev.p2pdmaState(span.phys, 1).provider!.busOffset;
    expect(segs).toEqual([
      { addr: span.phys + busOffset, len: 8192, kind: 'bus-address' },
      { addr: span.phys + 12288 + busOffset, len: 4096, kind: 'bus-address' },
    ]);
    expect(dev.dma.read(segs[0]!.addr, 8192)).toEqual(bar.view(span).slice(0, 8192));
    await iter.unmap();
    bar.free(span);
  });

  it('THRU_HOST_BRIDGE maps every segment with DMA_ATTR_MMIO: the CPU address, never swiotlb', async () => {
    const dev = system.device(NIC, { dmaBits: 64 });
    const span = bar.allocate(8192, 4096);
    const iter = new BlkDmaIterator(dev, request([{ phys: span.phys, length: 4096 }, { phys: span.phys + 4096 + 512, length: 1024 }], FROM_DEVICE, true));
    const segs = await iter.mapAll();
    expect(segs).toEqual([{ addr: span.phys, len: 4096, kind: 'host-bridge' }, { addr: span.phys + 4608, len: 1024, kind: 'host-bridge' }]);
    expect(system.swiotlb.stats().usedSlots).toBe(0);
    await iter.unmap();
    bar.free(span);
    void DMA_ATTR_MMIO;
  });

  it('NOT_SUPPORTED fails the request with BLK_STS_INVAL under reject, and bounces every segment under bounce', async () => {
    const span = bar.allocate(8192, 4096);
    const view = bar.view(span);
    rng.fill(view);
    const reject = new BlkDmaIterator(system.device(NVME_FAR), request([{ phys: span.phys, length: 8192 }], TO_DEVICE, true));
    expect(await reject.start()).toBeNull();
    expect(reject.status).toBe('BLK_STS_INVAL');
    await expect(new BlkDmaIterator(system.device(NVME_FAR), request([{ phys: span.phys, length: 8192 }], TO_DEVICE, true)).mapAll()).rejects.toMatchObject({ code: 'ERR_DMA_P2P_NOT_SUPPORTED', status: 'BLK_STS_INVAL' });
    const dev = system.device(NVME_FAR, { p2pPolicy: 'bounce' });
    const iter = new BlkDmaIterator(dev, request([{ phys: span.phys, length: 8192 }], TO_DEVICE, true));
    const segs = await iter.mapAll();
    expect(segs.map((s) => s.kind)).toEqual(['bounced']);
    expect(dev.dma.read(segs[0]!.addr, 8192)).toEqual(view.slice());
    await iter.unmap();
    expect(system.swiotlb.stats().usedSlots).toBe(0);
    bar.free(span);
  });

  it('a P2P request whose first segment is RAM is refused (BLK_STS_INVAL), as the kernel\'s switch has no case for NONE', async () => {
    const ram = system.allocRam(4096);
    const iter = new BlkDmaIterator(system.device(NVME), request([{ phys: ram.phys, length: 4096 }], TO_DEVICE, true));
    expect(await iter.start()).toBeNull();
    expect(iter.status).toBe('BLK_STS_INVAL');
    system.freeRam(ram);
  });

  it('a RAM request maps each merged segment with dma_map_phys(); a pool that fills ends it with BLK_STS_RESOURCE and unmap frees what was mapped', async () => {
    const dev = system.device(NVME_FAR, { forceBounce: true });
    const buf = new GuardedBuffer(system.ram[0]!, rng, 5 * 250_000);
    // 250,000-byte pieces separated by gaps: five segments of 123 slots each; the 1 MiB pool (512 slots) holds four.
    const parts = [0, 1, 2, 3, 4].map((i) => ({ phys: buf.phys + i * 250_000, length: 249_000 }));
    const iter = new BlkDmaIterator(dev, request(parts, TO_DEVICE, false, { maxSegmentSize: 2 ** 20 }));
    const got = [];
    for (let seg = await iter.start(); seg !== null; seg = await iter.next()) got.push(seg);
    expect(iter.status).toBe('BLK_STS_RESOURCE');
    expect(got).toHaveLength(4);
    for (const [i, seg] of got.entries()) expect(dev.dma.read(seg.addr, seg.len)).toEqual(buf.bytes(i * 250_000, 249_000));
    await iter.unmap();
    expect(system.swiotlb.stats().usedSlots).toBe(0);
    await expect(iter.next()).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });
    buf.check();
  });

  it('calls do not overlap: next() or unmap() while a segment is being mapped is ERR_INVALID_STATE, and nothing leaks', async () => {
    const dev = system.device(NVME_FAR, { forceBounce: true, waitForSpace: Infinity });
    const buf = new GuardedBuffer(system.ram[0]!, rng, 3 * 4096);
    const iter = new BlkDmaIterator(dev, request([{ phys: buf.phys, length: 4096 }, { phys: buf.phys + 8192, length: 4096 }]));
    // Another device holds the whole pool, so start() waits for space: in flight until it is freed
    // (a map that finds a slot at once completes before the caller's next line).
    const holder = system.device(NVME_FAR, { forceBounce: true });
    const big = new GuardedBuffer(system.ram[0]!, rng, 4 * 256 * 1024);
    const held = [];
    for (let i = 0; i < 4; i++) held.push(await holder.mapPhys(big.phys + i * 256 * 1024, 256 * 1024, TO_DEVICE));
    expect(system.swiotlb.stats().usedSlots).toBe(system.swiotlb.stats().totalSlots);
    const first = iter.start();
    await expect(iter.unmap()).rejects.toMatchObject({ code: 'ERR_INVALID_STATE', state: 'busy' });
    await expect(iter.next()).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' });
    for (const m of held) await holder.unmapPhys(m.dmaAddress, 256 * 1024, TO_DEVICE);
    expect(await first).not.toBeNull();
    expect(await iter.next()).not.toBeNull();
    await iter.unmap();
    expect(system.swiotlb.stats().usedSlots).toBe(0);
    buf.check();
    big.check();
  });

  it('refuses malformed requests with a code', () => {
    const dev = system.device(NVME);
    expect(() => new BlkDmaIterator(dev, request([]))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'bvecs' }));
    expect(() => new BlkDmaIterator(dev, request([{ phys: -1, length: 1 }]))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => new BlkDmaIterator(dev, request([{ phys: 0, length: 1 }], TO_DEVICE, false, { segBoundaryMask: 1000 }))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'segBoundaryMask' }));
    expect(() => new BlkDmaIterator(dev, { bvecs: [{ phys: 0, length: 1 }], direction: 3 as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'direction' }));
  });

  it('behind an IOMMU with a gap mask that fits the merge boundary, the request is one IOVA segment (dma_iova_link() per segment); without one, segment by segment', async () => {
    await using sys = DmaSystem.create({ swiotlb: { size: '1MiB' }, engine: { workers: 1 }, iommu: 'strict' });
    const dev = sys.device(NVME);
    expect(dev.mergeBoundary).toBe(4095);
    const buf = new GuardedBuffer(sys.ram[0]!, rng, 5 * 4096);
    const page = Math.ceil(buf.phys / 4096) * 4096;
    const parts = [{ phys: page + 4096, length: 4096 }, { phys: page + 3 * 4096, length: 4096 }, { phys: page, length: 2000 }];
    const nvme = new BlkDmaIterator(dev, request(parts, TO_DEVICE, false, { virtBoundaryMask: 4095 }));
    const segs = await nvme.mapAll();
    expect(nvme.usedIova).toBe(true);
    expect(segs).toHaveLength(1);
    expect(segs[0]).toMatchObject({ len: 4096 + 4096 + 2000, kind: 'iommu' });
    // The device sees the three pieces back to back at the IOVA.
    const want = new Uint8Array([...buf.bytes(page + 4096 - buf.phys, 4096), ...buf.bytes(page + 3 * 4096 - buf.phys, 4096), ...buf.bytes(page - buf.phys, 2000)]);
    expect(dev.dma.read(segs[0]!.addr, segs[0]!.len)).toEqual(want);
    await nvme.unmap();
    expect(() => dev.dma.read(segs[0]!.addr, 16)).toThrow(expect.objectContaining({ code: 'ERR_IOMMU_FAULT' }));
    const plain = new BlkDmaIterator(dev, request(parts, TO_DEVICE, false, { virtBoundaryMask: 0 }));
    const each = await plain.mapAll();
    expect(plain.usedIova).toBe(false);
    expect(each).toHaveLength(3);
    for (const [i, seg] of each.entries()) expect(dev.dma.read(seg.addr, seg.len)).toEqual(buf.bytes(parts[i]!.phys - buf.phys, parts[i]!.length));
    await plain.unmap();
    // dma-direct has no merge boundary and no IOVA: the per-segment path, whatever the gap mask.
    const direct = new BlkDmaIterator(system.device(NVME), request([{ phys: 0x1000_0000, length: 4096 }], TO_DEVICE, false, { virtBoundaryMask: 4095 }));
    await direct.mapAll();
    expect(direct.usedIova).toBe(false);
    await direct.unmap();
    buf.check();
  });
});
