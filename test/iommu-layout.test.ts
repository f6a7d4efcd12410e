// iommu-dma's map_sg layout and __finalise_sg() merging, worked out by hand from the kernel's rules:
// one IOVA range per list (pages rounded to a power of two below 32, aligned to it, top-down from
// 4 GiB for a PCI device), entries keeping their in-granule offsets, padding before an entry that would
// cross the segment boundary, merging only at offset 0, off a boundary and within max_seg_size in
// unsigned 32-bit arithmetic; the BUS_ADDR segment's dma_length quirk; IOVA exhaustion below 4 GiB.
import { afterAll, describe, expect, it } from 'vitest';
import { DmaDirection, DmaSystem, IommuDomain, IovaDomain, type DmaDeviceOptions, type Span } from '../dist/src/index.js';

const NVME = '0000:04:00.0';
const GPU = '0000:03:00.0';
const G = 4096;
const TOP = 2 ** 32;

const systems: DmaSystem[] = [];
afterAll(() => Promise.all(systems.map((s) => s.close())));

function rig(options: DmaDeviceOptions = {}, iommu: 'strict' | 'lazy' = 'strict') {
  const system = DmaSystem.create({ iommu, engine: { workers: 1 }, swiotlb: { size: '1MiB' } });
  systems.push(system);
  const ram = system.ram[1]!;
  const page = (n = 1): Span => ram.allocate(n * G, G);
  return { system, device: system.device(NVME, options), page };
}

const seg = (s: { dmaAddress: number; length: number }) => [s.dmaAddress - 0, s.length];

describe('map_sg layout and merging (hand-worked)', () => {
  it('two whole pages merge into one segment at the top of the 32-bit space', async () => {
    const { device, page } = rig();
    const [a, b] = [page(), page()];
    const sg = await device.mapSg([{ phys: a.phys, length: G }, { phys: b.phys, length: G }], DmaDirection.TO_DEVICE);
    // 2 pages, aligned to 2 pages, just below 4 GiB.
    expect(sg.segments.map(seg)).toEqual([[TOP - 2 * G, 2 * G]]);
    expect(sg.nents).toBe(2);
  });

  it('a merge that would overflow max_seg_size by one byte starts a new segment; exactly at it, merges', async () => {
    const over = rig({ maxSegmentSize: 2 * G - 1 });
    const [a, b] = [over.page(), over.page()];
    const sg = await over.device.mapSg([{ phys: a.phys, length: G }, { phys: b.phys, length: G }], DmaDirection.TO_DEVICE);
    expect(sg.segments.map(seg)).toEqual([[TOP - 2 * G, G], [TOP - G, G]]);
    const fits = rig({ maxSegmentSize: 2 * G });
    const [c, d] = [fits.page(), fits.page()];
    const sg2 = await fits.device.mapSg([{ phys: c.phys, length: G }, { phys: d.phys, length: G }], DmaDirection.TO_DEVICE);
    expect(sg2.segments.map(seg)).toEqual([[TOP - 2 * G, 2 * G]]);
  });

  it('an entry on a segment boundary is not merged into the one before it', async () => {
    const { device, page } = rig({ segmentBoundaryMask: 2 * G - 1 });
    const p = [page(), page(), page()];
    // 3 pages -> 4-page IOVA at TOP - 4G; entry 2 starts at +8 KiB, a boundary.
    const sg = await device.mapSg(p.map((s) => ({ phys: s.phys, length: G })), DmaDirection.TO_DEVICE);
    expect(sg.segments.map(seg)).toEqual([[TOP - 4 * G, 2 * G], [TOP - 2 * G, G]]);
  });

  it('an entry that would cross the boundary pads the previous one up to it', async () => {
    const { device, page } = rig({ segmentBoundaryMask: 2 * G - 1 });
    const a = page();
    const b = page(2);
    // pad_len (8K - 4K) = 4K < 8K - 1: entry 0 grows to 8 KiB, entry 1 lands at +8 KiB; 16 KiB in all.
    const sg = await device.mapSg([{ phys: a.phys, length: G }, { phys: b.phys, length: 2 * G }], DmaDirection.TO_DEVICE);
    expect(sg.segments.map(seg)).toEqual([[TOP - 4 * G, G], [TOP - 2 * G, 2 * G]]);
    // The padding maps the physical page after entry 0, as iommu_map_sg() maps sg->length.
    expect(device.dma.resolve(TOP - 3 * G, 1).offset - device.dma.resolve(TOP - 4 * G, 1).offset).toBe(G);
  });

  it('an offset entry after a full one keeps its offset and starts a new segment; a short entry ends merging', async () => {
    const { device, page } = rig();
    const [a, b, c] = [page(), page(), page()];
    const sg = await device.mapSg([{ phys: a.phys, length: G }, { phys: b.phys + 100, length: 200 }, { phys: c.phys, length: G }], DmaDirection.TO_DEVICE);
    // 3 pages -> 4-page IOVA; entry 1 at +4K+100; entry 2 cannot merge (entry 1 ends short of its page).
    expect(sg.segments.map(seg)).toEqual([[TOP - 4 * G, G], [TOP - 3 * G + 100, 200], [TOP - 2 * G, G]]);
  });

  it('an entry starting inside a granule keeps its offset; one ending inside a granule is still merged into', async () => {
    const { device, page } = rig();
    const [a, b] = [page(), page()];
    // Entry 0 ends at its page end: entry 1 (offset 0) merges into it.
    const sg = await device.mapSg([{ phys: a.phys + 0x800, length: 0x800 }, { phys: b.phys, length: 300 }], DmaDirection.TO_DEVICE);
    expect(sg.segments.map(seg)).toEqual([[TOP - 2 * G + 0x800, 0x800 + 300]]);
  });

  it('max_seg_size in unsigned 32-bit arithmetic: a first entry longer than the limit lets the next one merge', async () => {
    const { device, page } = rig({ maxSegmentSize: G });
    const a = page(3);
    const b = page();
    // cur_len 12 KiB > max_len 4 KiB: max_len - cur_len wraps to ~4 GiB >= 4 KiB, so the kernel merges.
    const sg = await device.mapSg([{ phys: a.phys, length: 3 * G }, { phys: b.phys, length: G }], DmaDirection.TO_DEVICE);
    expect(sg.segments.map(seg)).toEqual([[TOP - 4 * G, 4 * G]]);
  });

  it('the same rules hold for a list with BAR memory through the host bridge (the general path)', async () => {
    const system = DmaSystem.create({ iommu: 'strict', engine: { workers: 1 }, swiotlb: { size: '1MiB' } });
    systems.push(system);
    const nic = system.device('0000:05:00.0', { maxSegmentSize: G });
    const bar = system.barMemory(GPU, 1).allocate(3 * G, G);
    const ram = system.ram[1]!.allocate(G, G);
    // THRU_HOST_BRIDGE: mapped through the IOMMU like memory; the unsigned wrap merges as above.
    const sg = await nic.mapSg([{ phys: bar.phys, length: 3 * G }, { phys: ram.phys, length: G }], DmaDirection.TO_DEVICE);
    expect(sg.segments.map((s) => [s.kind, s.dmaAddress, s.length])).toEqual([['host-bridge', TOP - 4 * G, 4 * G]]);
    await nic.unmapSg(sg, DmaDirection.TO_DEVICE);
    const nic2 = system.device('0000:05:00.0', { segmentBoundaryMask: 2 * G - 1 });
    const sg2 = await nic2.mapSg([{ phys: ram.phys, length: G }, { phys: bar.phys, length: 2 * G }], DmaDirection.TO_DEVICE);
    expect(sg2.segments.map((s) => [s.kind, s.dmaAddress, s.length])).toEqual([['iommu', TOP - 4 * G, G], ['host-bridge', TOP - 2 * G, 2 * G]]);
    await nic2.unmapSg(sg2, DmaDirection.TO_DEVICE);
  });

  it('32 or more pages are not rounded to a power of two; fewer are, and the start is aligned to it', async () => {
    const { device, system } = rig();
    const ram = system.ram[1]!;
    const big = ram.allocate(33 * G, G);
    const s1 = await device.mapSingle(big.phys, 33 * G, DmaDirection.TO_DEVICE);
    // 33 pages: aligned to roundup_pow_of_two(33) = 64 pages, sized 33: TOP - 33 pages rounded down to 64 pages.
    expect(s1.dmaAddress).toBe(Math.floor((TOP - 33 * G) / (64 * G)) * 64 * G);
    const s2 = await device.mapSingle(big.phys + 5, 3 * G, DmaDirection.TO_DEVICE);
    // 3 pages + offset 5 -> 4 pages, rounded to 4 and aligned: below the cached node (the 33-page range).
    expect(s2.dmaAddress).toBe(s1.dmaAddress - 4 * G + 5);
    await device.unmapSingle(s2.dmaAddress, 3 * G, DmaDirection.TO_DEVICE);
    await device.unmapSingle(s1.dmaAddress, 33 * G, DmaDirection.TO_DEVICE);
  });

  it('a BUS_ADDR entry gets the bus address, no IOVA, and dma_length = entry 0\'s current length (the kernel quirk)', async () => {
    const { system, device, page } = rig();
    const bar = system.barMemory(GPU, 1);
    const peer = bar.allocate(G, G);
    const a = page();
    const sg = await device.mapSg([{ phys: a.phys + 100, length: 100 }, { phys: peer.phys, length: 512 }], DmaDirection.TO_DEVICE);
    const bus = peer.phys - (2 ** 40); // the default topology's bus offset: 1 TiB
    expect(sg.segments.map(seg)).toEqual([[TOP - G + 100, 100], [bus, G]]);
    expect(sg.segments[1]!.kind).toBe('bus-address');
    // Entry 0 a bus address: its own length.
    const sg2 = await device.mapSg([{ phys: peer.phys, length: 512 }, { phys: a.phys, length: G }], DmaDirection.TO_DEVICE);
    expect(sg2.segments.map(seg)).toEqual([[bus, 512], [TOP - 2 * G, G]]);
    await device.unmapSg(sg2, DmaDirection.TO_DEVICE);
    await device.unmapSg(sg, DmaDirection.TO_DEVICE);
    expect(system.iommu!.domains()[0]!.mappings.size).toBe(0);
  });

  it('NOT_SUPPORTED P2P fails with -EREMOTEIO under reject and bounces under bounce', async () => {
    const system = DmaSystem.create({ iommu: 'strict', engine: { workers: 1 }, swiotlb: { size: '1MiB' } });
    systems.push(system);
    const bar = system.barMemory(GPU, 1);
    const peer = bar.allocate(G, G);
    bar.view(peer).fill(0x5a);
    const far = system.device('0000:81:00.0');
    await expect(far.mapSg([{ phys: peer.phys, length: G }], DmaDirection.TO_DEVICE)).rejects.toMatchObject({ code: 'ERR_DMA_P2P_NOT_SUPPORTED', errno: 'EREMOTEIO' });
    const bouncing = system.device('0000:81:00.0', { p2pPolicy: 'bounce' });
    const sg = await bouncing.mapSg([{ phys: peer.phys, length: G }], DmaDirection.TO_DEVICE);
    expect(sg.segments[0]).toMatchObject({ kind: 'bounced', reason: 'p2p-not-supported', dmaAddress: TOP - G });
    expect([...bouncing.dma.read(TOP - G, 4)]).toEqual([0x5a, 0x5a, 0x5a, 0x5a]);
    await bouncing.unmapSg(sg, DmaDirection.TO_DEVICE);
    expect(system.swiotlb.stats().usedSlots).toBe(0);
    // Two bounced pages merge into one segment; their slots sit side by side in the pool and the
    // device reads across both.
    const two = bar.allocate(2 * G, G);
    bar.view(two).fill(0x77);
    const sg2 = await bouncing.mapSg([{ phys: two.phys, length: G }, { phys: two.phys + G, length: G }], DmaDirection.TO_DEVICE);
    // The freed page at TOP - G waits in the rcache (still in the tree): two pages go below it.
    expect(sg2.segments.map(seg)).toEqual([[TOP - 4 * G, 2 * G]]);
    expect(bouncing.dma.read(TOP - 4 * G, 2 * G).every((b) => b === 0x77)).toBe(true);
    await bouncing.unmapSg(sg2, DmaDirection.TO_DEVICE);
  });
});

describe('IOVA allocation (iova.c)', () => {
  it('exhausting the space below 4 GiB falls back to the full limit for good, with the kernel notice', () => {
    const domain = new IommuDomain({ id: 1, type: 'strict', granule: G, startPfn: 1, apertureEnd: 2 ** 48 - 1, rcache: true, onlineCpus: 1, clock: { manual: true, schedule: () => 0, cancel: () => {}, advance: () => {} } });
    const dev = { pci32bitWorkaround: true };
    const chunk = 256 * 2 ** 20;
    const below: number[] = [];
    let iova = 0;
    for (;;) {
      iova = domain.allocIova(chunk, 2 ** 64, dev, '0000:04:00.0', 0);
      if (iova >= TOP) break;
      below.push(iova);
    }
    // 16 chunks of 256 MiB, pfn 0 excluded: 15 fit, top-down, each aligned to its size.
    expect(below).toEqual(Array.from({ length: 15 }, (_, i) => TOP - (i + 1) * chunk));
    expect(iova).toBe(2 ** 48 - chunk);
    expect(dev.pci32bitWorkaround).toBe(false);
    expect(domain.notices).toEqual(['0000:04:00.0: Using 48-bit DMA addresses']);
    // Sticky: freeing a 32-bit range does not bring the 32-bit-first try back.
    domain.freeIova(below[0]!, chunk, false, 0);
    expect(domain.allocIova(G, 2 ** 64, dev, '0000:04:00.0', 0)).toBe(2 ** 48 - chunk - G);
    // A device limited to 32 bits still gets the freed range.
    expect(domain.allocIova(chunk, TOP - 1, { pci32bitWorkaround: true }, 'x', 0)).toBe(below[0]);
  });

  it('max32_alloc_size: a failed 32-bit request makes later ones of that size fail at once, until a free below 4 GiB', () => {
    const iovad = new IovaDomain({ granule: G, startPfn: 1, rcache: false });
    const limit = 2 ** 20 - 1;
    const half = 2 ** 19;
    expect(iovad.allocIova(half, limit)!.lo).toBe(half);
    expect(iovad.allocIova(half, limit)).toBeUndefined(); // pfn 0 is not usable
    expect(iovad.max32AllocSize).toBe(half);
    const small = iovad.allocIova(8, limit);
    expect(small!.lo).toBe(half - 8);
    iovad.freeIova(small!.lo);
    expect(iovad.max32AllocSize).toBe(2 ** 20);
  });

  it('the rcache hands back the top-most cached pfn that fits the limit, and its magazine swaps out', () => {
    const iovad = new IovaDomain({ granule: G, startPfn: 1 });
    const limit = 2 ** 20 - 1;
    const pfns = Array.from({ length: 4 }, () => iovad.allocIovaFast(1, limit, true));
    expect(pfns).toEqual([2 ** 20 - 1, 2 ** 20 - 2, 2 ** 20 - 3, 2 ** 20 - 4]);
    for (const pfn of pfns) iovad.freeIovaFast(pfn, 1);
    expect(iovad.stats().cachedRanges).toBe(4);
    // Popped from the top of the magazine: the last freed first.
    expect(iovad.allocIovaFast(1, limit, true)).toBe(2 ** 20 - 4);
    // A lower limit skips pfns above it: none of the cached ones fits, so the tree gives a new one.
    expect(iovad.allocIovaFast(1, 2 ** 20 - 5, true)).toBe(2 ** 20 - 5);
    expect(iovad.allocIovaFast(1, 2 ** 20 - 3, true)).toBe(2 ** 20 - 3);
    // Cached ranges stay in the tree: a fresh size goes below them.
    expect(iovad.allocIovaFast(2, limit, true)).toBe(2 ** 20 - 8);
    // Below 32 pages a request is rounded up to a power of two: 3 pages take a 4-page range.
    const three = iovad.allocIovaFast(3, limit, true);
    expect(iovad.findIova(three)).toEqual({ lo: three, hi: three + 3 });
  });

  it('a full magazine pair pushes a magazine to the depot; the trim work frees one beyond the online CPUs', () => {
    let pending: (() => void) | undefined;
    const clock = { manual: true, schedule: (_ms: number, fn: () => void) => { pending = fn; return 1; }, cancel: () => { pending = undefined; }, advance: () => {} };
    const iovad = new IovaDomain({ granule: G, startPfn: 1, onlineCpus: 1, clock });
    const pfns = Array.from({ length: 127 * 4 }, () => iovad.allocIovaFast(1, 2 ** 20 - 1, true));
    for (const pfn of pfns) iovad.freeIovaFast(pfn, 1);
    expect(iovad.stats().depotMagazines).toBe(2);
    expect(pending).toBeDefined();
    pending!();
    expect(iovad.stats().depotMagazines).toBe(1);
    expect(iovad.stats().ranges).toBe(127 * 3);
  });
});
