// map/*: the DMA mapper on the default topology. One op = mapSg + unmapSg of 32 x 4 KiB
// segments: host RAM mapped directly, GPU BAR memory reached peer-to-peer by bus address, and
// GPU BAR memory bounced for the NVMe drive behind the other host bridge (TO_DEVICE), against
// copying the same bytes inline with the WebAssembly kernel; the /debug cases repeat two of them
// with dma-debug on; map/bounce/sync syncs the bounced list for the device. map/iommu*: the same
// list behind a strict IOMMU (iommu-dma), against dma-direct in the same rounds; map/iova-alloc/*:
// the IOVA allocator alone and the IOVA API's link/unlink of 32 pages.
import { DmaDirection, DmaSystem, IovaDomain, SgTable, type DmaDevice, type MappedSg, type SgEntry, type Span } from '../../src/index.js';
import type { BenchCase } from '../runner.js';

const SEGMENTS = 32;
const SEGMENT = 4096;
const GPU = '0000:03:00.0';
const NVME_NEAR = '0000:04:00.0';
const NVME_FAR = '0000:81:00.0';

interface Rig {
  system: DmaSystem;
  device: DmaDevice;
  entries: SgEntry[];
  spans: Span[];
}

function rig(client: string, memory: 'ram' | 'bar', policy: 'reject' | 'bounce', debug = false): Rig {
  const system = DmaSystem.create({ engine: { workers: 1 }, debug });
  const region = memory === 'ram' ? system.ram[1]! : system.barMemory(GPU, 1);
  const spans = Array.from({ length: SEGMENTS }, () => region.allocate(SEGMENT, 4096));
  for (const span of spans) region.view(span).fill(0x3c);
  return { system, device: system.device(client, { p2pPolicy: policy }), entries: spans.map((s) => ({ phys: s.phys, length: SEGMENT })), spans };
}

function mapUnmapCase(name: string, client: string, memory: 'ram' | 'bar', policy: 'reject' | 'bounce', measure: 'segmentsPerSecond' | 'bytesPerSecond', extra: Partial<BenchCase> = {}, debug = false): BenchCase {
  let r: Rig | undefined;
  return {
    name,
    measure,
    unitsPerOp: measure === 'segmentsPerSecond' ? SEGMENTS : SEGMENTS * SEGMENT,
    ...extra,
    setup: () => { r = rig(client, memory, policy, debug); },
    runAsync: async () => {
      const sg = await r!.device.mapSg(r!.entries, DmaDirection.TO_DEVICE);
      await r!.device.unmapSg(sg, DmaDirection.TO_DEVICE);
    },
    teardown: () => r!.system.close(),
  };
}

// One op = 32 single-range maps and unmaps of 4 KiB host RAM, through mapPhys/unmapPhys (the
// 6.18 primary calls) or mapSingle/unmapSingle (the kernel's wrappers): the wrapper must cost
// nothing measurable, so map/single's baseline is map/phys.
function singleCase(name: string, call: 'phys' | 'single', extra: Partial<BenchCase> = {}): BenchCase {
  let r: Rig | undefined;
  return {
    name,
    measure: 'segmentsPerSecond',
    unitsPerOp: SEGMENTS,
    ...extra,
    setup: () => { r = rig(NVME_NEAR, 'ram', 'reject'); },
    runAsync: async () => {
      const { device, entries } = r!;
      for (const e of entries) {
        const m = call === 'phys' ? await device.mapPhys(e.phys, e.length, DmaDirection.TO_DEVICE) : await device.mapSingle(e.phys, e.length, DmaDirection.TO_DEVICE);
        if (call === 'phys') await device.unmapPhys(m.dmaAddress, e.length, DmaDirection.TO_DEVICE);
        else await device.unmapSingle(m.dmaAddress, e.length, DmaDirection.TO_DEVICE);
      }
    },
    teardown: () => r!.system.close(),
  };
}

// A strict IOMMU rig: 32 pages, physically consecutive (mergeable) or every other page (scattered),
// or 32 x 512 B at odd offsets for an untrusted device (each one bounced through swiotlb).
function iommuRig(layout: 'mergeable' | 'scattered' | 'untrusted'): Rig {
  const system = DmaSystem.create({ engine: { workers: 1 }, iommu: 'strict' });
  const ram = system.ram[1]!;
  const spanBytes = layout === 'scattered' ? 2 * SEGMENTS * SEGMENT : SEGMENTS * SEGMENT;
  const span = ram.allocate(spanBytes, SEGMENT);
  ram.view(span).fill(0x3c);
  const entries = Array.from({ length: SEGMENTS }, (_, i) =>
    layout === 'untrusted' ? { phys: span.phys + i * SEGMENT + 64, length: 512 } : { phys: span.phys + i * SEGMENT * (layout === 'scattered' ? 2 : 1), length: SEGMENT });
  return { system, device: system.device(NVME_NEAR, { untrusted: layout === 'untrusted' }), entries, spans: [span] };
}

function iommuCase(name: string, layout: 'mergeable' | 'scattered' | 'untrusted'): BenchCase {
  let r: Rig | undefined;
  return {
    name,
    measure: 'segmentsPerSecond',
    unitsPerOp: SEGMENTS,
    ...(layout === 'untrusted' ? {} : { baseline: 'map/direct/32x4KiB' }),
    setup: () => { r = iommuRig(layout); },
    runAsync: async () => {
      const sg = await r!.device.mapSg(r!.entries, DmaDirection.TO_DEVICE);
      await r!.device.unmapSg(sg, DmaDirection.TO_DEVICE);
    },
    teardown: () => r!.system.close(),
  };
}

export function iommuCases(): BenchCase[] {
  let iovad: IovaDomain | undefined;
  let iovadNoCache: IovaDomain | undefined;
  let api: Rig | undefined;
  return [
    iommuCase('map/iommu/32x4KiB', 'mergeable'),
    iommuCase('map/iommu/32x4KiB-scattered', 'scattered'),
    iommuCase('map/iommu-untrusted/32x512B', 'untrusted'),
    {
      // dma_iova_try_alloc + 32 dma_iova_link + dma_iova_sync + dma_iova_destroy: 32 pages per op.
      name: 'map/iova-api/32x4KiB',
      measure: 'segmentsPerSecond',
      unitsPerOp: SEGMENTS,
      baseline: 'map/iommu/32x4KiB-scattered',
      setup: () => { api = iommuRig('scattered'); },
      runAsync: async () => {
        const { device, entries } = api!;
        const state = device.iovaTryAlloc(0, SEGMENTS * SEGMENT);
        for (let i = 0; i < SEGMENTS; i++) await device.iovaLink(state, entries[i]!.phys, i * SEGMENT, SEGMENT, DmaDirection.TO_DEVICE);
        device.iovaSync(state, 0, SEGMENTS * SEGMENT);
        await device.iovaDestroy(state, SEGMENTS * SEGMENT, DmaDirection.TO_DEVICE);
      },
      teardown: () => api!.system.close(),
    },
    {
      // alloc_iova_fast + free_iova_fast of one page, 4 KiB granule, 32-bit limit: one op is 32 pairs.
      name: 'map/iova-alloc/1-page',
      measure: 'opsPerSecond',
      unitsPerOp: 32,
      setup: () => { iovad = new IovaDomain({ granule: 4096, startPfn: 1 }); },
      run: () => {
        const d = iovad!;
        for (let i = 0; i < 32; i++) d.freeIovaFast(d.allocIovaFast(1, 0xfffff, true), 1);
      },
    },
    {
      // The same with the rcache off: every pair walks and edits the tree.
      name: 'map/iova-alloc/1-page-no-rcache',
      measure: 'opsPerSecond',
      unitsPerOp: 32,
      baseline: 'map/iova-alloc/1-page',
      setup: () => { iovadNoCache = new IovaDomain({ granule: 4096, startPfn: 1, rcache: false }); },
      run: () => {
        const d = iovadNoCache!;
        for (let i = 0; i < 32; i++) d.freeIovaFast(d.allocIovaFast(1, 0xfffff, true), 1);
      },
    },
  ];
}

export function mapperCases(): BenchCase[] {
  let inline: { r: Rig; table: SgTable; at: number } | undefined;
  let synced: { r: Rig; sg: MappedSg } | undefined;
  return [
    mapUnmapCase('map/direct/32x4KiB', NVME_NEAR, 'ram', 'reject', 'segmentsPerSecond'),
    mapUnmapCase('map/p2p-bus/32x4KiB', NVME_NEAR, 'bar', 'reject', 'segmentsPerSecond'),
    mapUnmapCase('map/bounce/32x4KiB', NVME_FAR, 'bar', 'bounce', 'bytesPerSecond', { baseline: 'map/bounce/inline-copy/32x4KiB' }),
    // The same with dma-debug on: the ratio to the case above is what the tracker costs.
    mapUnmapCase('map/direct/32x4KiB/debug', NVME_NEAR, 'ram', 'reject', 'segmentsPerSecond', { baseline: 'map/direct/32x4KiB' }, true),
    mapUnmapCase('map/bounce/32x4KiB/debug', NVME_FAR, 'bar', 'bounce', 'bytesPerSecond', { baseline: 'map/bounce/32x4KiB' }, true),
    singleCase('map/phys/32x4KiB', 'phys'),
    singleCase('map/single/32x4KiB', 'single', { baseline: 'map/phys/32x4KiB' }),
    {
      // The same 128 KiB, BAR -> swiotlb pool, copied inline by the kernel: what a bounce costs
      // at least. The destination advances through the pool as the pool's next-fit search makes
      // consecutive mappings do, so both sides write memory that is equally cold.
      name: 'map/bounce/inline-copy/32x4KiB',
      measure: 'bytesPerSecond',
      unitsPerOp: SEGMENTS * SEGMENT,
      setup: () => {
        const r = rig(NVME_FAR, 'bar', 'bounce');
        const table = new SgTable(r.system.fabric, SEGMENTS);
        inline = { r, table, at: 0 };
      },
      run: () => {
        const { r, table } = inline!;
        const pool = r.system.fabric.region('swiotlb');
        table.clear();
        r.spans.forEach((span, i) => table.push(pool.offset + inline!.at + i * SEGMENT, span.offset, SEGMENT));
        r.system.fabric.kernels.copySg(table);
        inline!.at = (inline!.at + SEGMENTS * SEGMENT) % pool.size;
      },
      teardown: () => { inline!.table.release(); return inline!.r.system.close(); },
    },
    {
      // syncSgForDevice() of a live bounced list (the 32 x 4 KiB BAR list, BIDIRECTIONAL): each sync
      // finds the 32 mappings by address and copies the originals into their slots again.
      name: 'map/bounce/sync/32x4KiB',
      measure: 'bytesPerSecond',
      unitsPerOp: SEGMENTS * SEGMENT,
      setup: async () => {
        const r = rig(NVME_FAR, 'bar', 'bounce');
        synced = { r, sg: await r.device.mapSg(r.entries, DmaDirection.BIDIRECTIONAL) };
      },
      runAsync: () => synced!.r.device.syncSgForDevice(synced!.sg, DmaDirection.BIDIRECTIONAL),
      teardown: async () => {
        await synced!.r.device.unmapSg(synced!.sg, DmaDirection.BIDIRECTIONAL);
        await synced!.r.system.close();
      },
    },
    ...iommuCases(),
  ];
}
