// The tracepoints around the dispatch, as kernel/dma/mapping.c places them: each map is traced
// after the implementation returns (also when it failed: dma_addr=ffffffffffffffff, or
// dma_map_sg_err with the errno), each unmap and sync once it is done. A system without a tracer
// never wraps its ops, so tracing off costs nothing per call.
import { TRACE_MAPPING_ERROR, type DmaTracer } from '../trace/index.js';
import type { DmaContext } from './context.js';
import type { MappingDevice } from './direct.js';
import type { DmaMapOps, SegmentRef } from './ops.js';
import type { MappedSegment, SgEntry } from './types.js';

const ERRNO: Readonly<Record<string, number>> = { EIO: 5, ENOMEM: 12, EINVAL: 22, EREMOTEIO: 121 };

/** The negative errno a failed map reports, or undefined for a failure that is no mapping error (aborted, closed, bad input). */
export function mapErrno(error: unknown): number | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const { code, errno } = error as { code?: unknown; errno?: unknown };
  if (typeof errno === 'string' && ERRNO[errno] !== undefined) return -ERRNO[errno]!;
  // dma_direct_map_sg(): a segment swiotlb could not take is DMA_MAPPING_ERROR, so -EIO.
  if (code === 'ERR_SWIOTLB_FULL') return -ERRNO.EIO!;
  return undefined;
}

/** `inner` with the dma:* tracepoints around each entry. */
export function tracedOps(inner: DmaMapOps, tracer: DmaTracer): DmaMapOps {
  // The physical addresses of each live SG mapping, by device and first DMA address:
  // dma_unmap_sg prints them, and an unmap names only DMA addresses.
  const sgPhys = new Map<string, number[][]>();
  const key = (device: MappingDevice, dmaAddress: number) => `${device.owner.id}:${dmaAddress}`;
  const wait = async () => {
    const blocked = tracer.blocked;
    if (blocked !== undefined) await blocked;
  };
  return {
    name: inner.name,
    // models trace_dma_map_phys() in dma_map_phys()
    async mapPhys(ctx: DmaContext, device, entry, direction, attrs, signal) {
      await wait();
      let segment: MappedSegment;
      try {
        segment = await inner.mapPhys(ctx, device, entry, direction, attrs, signal);
      } catch (error) {
        if (mapErrno(error) !== undefined) tracer.emit({ type: 'map', name: '', ts: tracer.now(), cpu: device.owner.cpu, device: device.pci.bdf, dir: direction, dmaAddr: TRACE_MAPPING_ERROR, size: entry.length, physAddr: entry.phys, attrs });
        throw error;
      }
      tracer.emit({ type: 'map', name: '', ts: tracer.now(), cpu: device.owner.cpu, device: device.pci.bdf, dir: direction, dmaAddr: segment.dmaAddress, size: entry.length, physAddr: entry.phys, attrs });
      return segment;
    },
    // models trace_dma_unmap_phys() in dma_unmap_phys()
    async unmapPhys(ctx, device, ref, direction, attrs) {
      await wait();
      await inner.unmapPhys(ctx, device, ref, direction, attrs);
      tracer.emit({ type: 'unmap', name: '', ts: tracer.now(), cpu: device.owner.cpu, device: device.pci.bdf, dir: direction, dmaAddr: ref.dmaAddress, size: ref.length, attrs });
    },
    // models trace_dma_map_sg() / trace_dma_map_sg_err() in __dma_map_sg_attrs()
    async mapSg(ctx, device, entries: readonly SgEntry[], direction, attrs, signal) {
      await wait();
      const physAddrs = entries.map((e) => e.phys);
      let segments: MappedSegment[];
      try {
        segments = await inner.mapSg(ctx, device, entries, direction, attrs, signal);
      } catch (error) {
        const err = mapErrno(error);
        if (err !== undefined) tracer.emit({ type: 'map_sg_err', ts: tracer.now(), cpu: device.owner.cpu, device: device.pci.bdf, dir: direction, physAddrs, err, attrs });
        throw error;
      }
      const dmaAddrs = segments.map((s) => s.dmaAddress);
      if (segments.length > 0) {
        const k = key(device, dmaAddrs[0]!);
        const live = sgPhys.get(k);
        if (live) live.push(physAddrs);
        else sgPhys.set(k, [physAddrs]);
      }
      tracer.emit({
        type: 'map_sg', ts: tracer.now(), cpu: device.owner.cpu, device: device.pci.bdf, dir: direction, nents: entries.length, ents: segments.length,
        truncated: false, dmaAddrs, sizes: segments.map((s) => s.length), physAddrs, attrs,
      });
      return segments;
    },
    // models trace_dma_unmap_sg() in dma_unmap_sg_attrs() (traced once the unmap is accepted)
    async unmapSg(ctx, device, refs: readonly SegmentRef[], direction, attrs) {
      await wait();
      await inner.unmapSg(ctx, device, refs, direction, attrs);
      const first = refs[0];
      const k = first === undefined ? undefined : key(device, first.dmaAddress);
      const live = k !== undefined ? sgPhys.get(k) : undefined;
      const physAddrs = live?.pop() ?? refs.map((r) => r.dmaAddress);
      if (live !== undefined && live.length === 0) sgPhys.delete(k!);
      tracer.emit({ type: 'unmap_sg', ts: tracer.now(), cpu: device.owner.cpu, device: device.pci.bdf, dir: direction, physAddrs, attrs });
    },
    // models trace_dma_sync_single_for_cpu() / _for_device()
    async syncSingle(ctx, device, ref, direction, target) {
      await wait();
      await inner.syncSingle(ctx, device, ref, direction, target);
      tracer.emit({ type: 'sync_single', target, ts: tracer.now(), cpu: device.owner.cpu, device: device.pci.bdf, dir: direction, dmaAddr: ref.dmaAddress, size: ref.length });
    },
    // models trace_dma_sync_sg_for_cpu() / _for_device()
    async syncSg(ctx, device, refs, direction, target) {
      await wait();
      await inner.syncSg(ctx, device, refs, direction, target);
      tracer.emit({ type: 'sync_sg', target, ts: tracer.now(), cpu: device.owner.cpu, device: device.pci.bdf, dir: direction, dmaAddrs: refs.map((r) => r.dmaAddress), sizes: refs.map((r) => r.length) });
    },
  };
}
