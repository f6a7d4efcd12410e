// iommu-dma: the DMA API behind a translating IOMMU, as drivers/iommu/dma-iommu.c does it.
// A list gets one IOVA range with its entries laid out in order (granule aligned, keeping their
// in-granule offsets, padded at segment boundaries) and merged by __finalise_sg()'s rules; BUS_ADDR
// P2P entries keep their bus address outside the IOVA; untrusted devices map entry by entry and
// bounce through swiotlb whatever is not granule aligned. Bounce slots use the bounce machinery of
// bounce.ts, so they have its states ('mapping', 'live', 'unmapping', 'free').
import { DmaMappingError, InvalidArgumentError, MappingStateError, P2PNotSupportedError, AddressError } from '../../errors.js';
import { allocateBounce, allocateBounceWaiting, copyRecords, notLive, releaseBounce } from '../bounce.js';
import { dmaMaskText } from '../../trace/index.js';
import type { BounceRecord, DmaContext } from '../context.js';
import { syncSegments, unmapSegments, type MappingDevice } from '../direct.js';
import { DMA_ATTR_MMIO, DMA_ATTR_SKIP_CPU_SYNC, DmaDirection, type StreamingDirection } from '../direction.js';
import { isPromise, type DmaMapOps, type MaybePromise, type SegmentRef, type SyncTarget } from '../ops.js';
import type { BounceReason, MappedSegment, MappingKind, SgEntry } from '../types.js';
import type { IommuDomain, IovaMapping, Pci32bitState } from './domain.js';
import { IOMMU_MMIO, IOMMU_READ, IOMMU_WRITE } from './page-table.js';

/** What iommu-dma needs to know of a device beyond dma-direct's view. */
export interface IommuMappingDevice extends MappingDevice {
  readonly segmentBoundaryMask: number;
  readonly maxSegmentSize: number;
  /** pdev->untrusted: behind an external-facing port, or given as a device option. */
  readonly untrusted: boolean;
  readonly iommuDomain: IommuDomain | undefined;
  readonly iommuState: Pci32bitState | undefined;
}

const UINT32 = 2 ** 32;

function domainOf(device: MappingDevice): IommuDomain {
  return (device as IommuMappingDevice).iommuDomain!;
}

// models dma_info_to_prot()
export function dmaInfoToProt(direction: StreamingDirection): number {
  return direction === DmaDirection.BIDIRECTIONAL ? IOMMU_READ | IOMMU_WRITE : direction === DmaDirection.TO_DEVICE ? IOMMU_READ : IOMMU_WRITE;
}

/** How one entry reaches the device under the IOMMU (decided before anything is taken). */
interface Placed {
  phys: number;
  length: number;
  origOffset: number;
  kind: MappingKind;
  reason: BounceReason | undefined;
  provider: string | undefined;
  /** For 'bus-address': the peer's bus address. */
  busAddress: number;
  /** Set once a bounce slot is taken: the slot's address replaces phys in the IOMMU mapping. */
  record: BounceRecord | undefined;
  mmio: boolean;
  /** Layout (map_sg): offset inside the first granule, IOVA length (padding included), dma length. */
  ioOff: number;
  ioLen: number;
  dmaLen: number;
}

// models the per-entry decision of iommu_dma_map_sg() (pci_p2pdma_state()) and of a driver's
// classification before dma_map_phys(); `p2p` false is the untrusted per-entry path, which
// (like iommu_dma_map_sg_swiotlb()) maps BAR pages through the IOMMU whatever their route.
function place(ctx: DmaContext, device: IommuMappingDevice, entry: SgEntry, attrs: number, p2p: boolean): Placed {
  const { phys, length } = entry;
  const region = ctx.fabric.regionAt(phys, length);
  if (region.kind === 'bounce') throw new AddressError(`phys 0x${phys.toString(16)} is inside the swiotlb pool, which is not memory a driver maps`, { address: phys, length });
  const origOffset = region.offset + (phys - region.phys);
  const placed: Placed = { phys, length, origOffset, kind: 'iommu', reason: undefined, provider: undefined, busAddress: 0, record: undefined, mmio: (attrs & DMA_ATTR_MMIO) !== 0, ioOff: 0, ioLen: 0, dmaLen: 0 };
  if (region.kind === 'ram') return placed;
  const bar = ctx.barOfRegion.get(region)!;
  placed.provider = bar.device.bdf;
  placed.kind = 'host-bridge';
  const routeResult = ctx.p2pdma.route(bar.device, device.pci);
  const route = routeResult.type;
  if (!p2p) {
    if (device.p2pPolicy === 'bounce' && route === 'NOT_SUPPORTED' && !placed.mmio) {
      placed.kind = 'bounced';
      placed.reason = 'p2p-not-supported';
    }
    return placed;
  }
  if (route === 'BUS_ADDR') {
    placed.kind = 'bus-address';
    placed.busAddress = bar.busAddress + (phys - bar.phys);
    return placed;
  }
  if (route === 'THRU_HOST_BRIDGE') return placed;
  if (device.p2pPolicy === 'bounce') {
    placed.kind = 'bounced';
    placed.reason = placed.mmio ? 'mmio-p2p-not-supported' : 'p2p-not-supported';
    return placed;
  }
  const reasons = routeResult.reasons;
  throw new P2PNotSupportedError(
    `${device.pci.bdf}: peer-to-peer DMA to ${placed.provider} BAR memory at 0x${phys.toString(16)} is NOT_SUPPORTED (${reasons.join('; ') || 'no route'}); iommu_dma_map_sg() fails with -EREMOTEIO`,
    { errno: 'EREMOTEIO', address: phys, length, provider: placed.provider, reasons },
  );
}

/** Takes a bounce slot aligned to the granule (alloc_align_mask = granule - 1): the record, or its promise while the device waits for space. */
function takeBounce(ctx: DmaContext, device: IommuMappingDevice, placed: Placed, direction: StreamingDirection, signal: AbortSignal | undefined): MaybePromise<BounceRecord> {
  const g = domainOf(device).granule;
  if (device.owner.minAlignMask > g - 1) throw new DmaMappingError(`${device.pci.bdf}: Unsupported alignment constraint (min_align_mask 0x${device.owner.minAlignMask.toString(16)} above the IOVA granule)`, { errno: 'EIO', address: placed.phys, length: placed.length });
  // models trace_swiotlb_bounced() in iommu_dma_map_swiotlb(): before the slot is taken, the original's physical address.
  const tracer = ctx.tracer;
  if (tracer !== undefined) tracer.emit({ type: 'bounced', ts: tracer.now(), cpu: device.owner.cpu, device: device.pci.bdf, dmaMask: dmaMaskText(device.dmaBits), devAddr: placed.phys, size: placed.length, force: device.forceBounce ? 'FORCE' : 'NORMAL' });
  return device.owner.waitForSpace === false
    ? allocateBounce(ctx, device.owner, placed.phys, placed.origOffset, placed.length, direction, g - 1)
    : allocateBounceWaiting(ctx, device.owner, placed.phys, placed.origOffset, placed.length, direction, signal, g - 1);
}

// models the padding memset of iommu_dma_map_swiotlb(): an untrusted device sees zeros, not stale data.
function zeroPadding(ctx: DmaContext, record: BounceRecord, g: number): void {
  // A pool is contiguous in the fabric, so the padding's offsets follow from the data's.
  const start = Math.floor(record.tlbAddr / g) * g;
  const end = Math.ceil((record.tlbAddr + record.size) / g) * g;
  // The kernel's fill, not the typed array's: fill() on shared memory took ~1 us a granule here.
  const kernels = ctx.fabric.kernels;
  kernels.fill(record.slotOffset - (record.tlbAddr - start), 0n, record.tlbAddr - start);
  kernels.fill(record.slotOffset + record.size, 0n, end - record.tlbAddr - record.size);
}

function mappingError(device: MappingDevice, phys: number, length: number, errno: 'ENOMEM' | 'EINVAL' | 'EIO', why: string): DmaMappingError {
  return new DmaMappingError(`${device.pci.bdf}: iommu-dma cannot map 0x${phys.toString(16)}+${length}: ${why}`, { errno, address: phys, length });
}

/** Takes the slots of every entry placed 'bounced', copying in; on failure releases them and rethrows. */
async function bounceAll(ctx: DmaContext, device: IommuMappingDevice, placed: readonly Placed[], direction: StreamingDirection, signal: AbortSignal | undefined, zero: boolean): Promise<BounceRecord[]> {
  const records: BounceRecord[] = [];
  try {
    // No await for what is there at once: each one costs a turn, and this runs per entry on the untrusted path.
    for (const p of placed) {
      if (p.kind !== 'bounced') continue;
      const taken = takeBounce(ctx, device, p, direction, signal);
      records.push(p.record = isPromise(taken) ? await taken : taken);
    }
    const copied = records.length > 0 ? copyRecords(ctx, records, true) : undefined;
    if (copied !== undefined) await copied;
  } catch (error) {
    for (const r of records) releaseBounce(ctx, r);
    throw error;
  }
  if (zero) for (const r of records) zeroPadding(ctx, r, domainOf(device).granule);
  return records;
}

// models __iommu_dma_map(): one range, its IOVA aligned out to the granule.
function iommuDmaMap(device: IommuMappingDevice, phys: number, size: number, prot: number): { iova: number; mapping: IovaMapping } {
  const domain = domainOf(device);
  const g = domain.granule;
  // "Unsupported alignment constraint": the IOVA allocator cannot keep more low bits than the granule's.
  if (device.owner.minAlignMask > g - 1) throw mappingError(device, phys, size, 'EIO', `Unsupported alignment constraint (min_align_mask 0x${device.owner.minAlignMask.toString(16)} above the IOVA granule)`);
  const off = modPow2(phys, g);
  const aligned = Math.ceil((size + off) / g) * g;
  const iova = domain.allocIova(aligned, device.dmaLimit, device.iommuState!, device.pci.bdf, device.owner.cpu);
  if (!iova) throw mappingError(device, phys, size, 'ENOMEM', 'no IOVA space left below the device limit');
  if (!domain.map(iova, phys - off, aligned, prot)) {
    domain.freeIova(iova, aligned, false, device.owner.cpu);
    throw mappingError(device, phys, size, 'EINVAL', 'the IOMMU refused the mapping');
  }
  const mapping: IovaMapping = { pfn: iova / g, pages: aligned / g, deviceId: device.owner.id, call: 'single', state: 'mapping' };
  domain.mappings.set(mapping.pfn, mapping);
  return { iova: iova + off, mapping };
}

// models iommu_dma_map_phys() / iommu_dma_map_page()
async function mapPhys(ctx: DmaContext, dev: MappingDevice, entry: SgEntry, direction: StreamingDirection, attrs: number, signal: AbortSignal | undefined, p2p = true): Promise<MappedSegment> {
  const device = dev as IommuMappingDevice;
  const g = domainOf(device).granule;
  const p = place(ctx, device, entry, attrs, p2p);
  if (p.kind === 'bus-address') return segmentOf(p, p.busAddress, p.length);
  const unaligned = modPow2(p.phys, g) !== 0 || modPow2(p.length, g) !== 0;
  if (device.untrusted && unaligned && p.kind !== 'bounced') {
    if (p.mmio) throw mappingError(device, p.phys, p.length, 'EIO', 'an untrusted device cannot have unaligned MMIO bounced (DMA_ATTR_MMIO is never bounced)');
    p.kind = 'bounced';
    p.reason = 'untrusted';
  }
  const records = await bounceAll(ctx, device, [p], direction, signal, device.untrusted);
  const record = records[0];
  let mapped;
  try {
    mapped = iommuDmaMap(device, record ? record.tlbAddr : p.phys, p.length, dmaInfoToProt(direction) | (p.mmio || p.kind === 'host-bridge' ? IOMMU_MMIO : 0));
  } catch (error) {
    if (record) releaseBounce(ctx, record);
    throw error;
  }
  mapped.mapping.state = 'live';
  if (record) record.state = 'live';
  return segmentOf(p, mapped.iova, p.length);
}

// One shape for every segment, as dma-direct's (reason and provider undefined when they do not apply).
function segmentOf(p: Placed, dmaAddress: number, length: number): MappedSegment {
  return { phys: p.phys, length, dmaAddress, kind: p.kind, reason: p.reason, provider: p.provider } as MappedSegment;
}

/** x mod a power of two, without fmod for values above 2^31 (exact: both are integers below 2^53). */
function modPow2(x: number, g: number): number {
  return x < 2 ** 31 ? x & (g - 1) : x - Math.floor(x / g) * g;
}

/** (mask - len + 1) & mask for a boundary mask 2^k - 1 (k up to 53; all ones beyond). */
function padLength(mask: number, len: number): number {
  if (mask >= 2 ** 53 - 1) return 0;
  const r = len <= mask ? len : len % (mask + 1);
  return r === 0 ? 0 : mask + 1 - r;
}

/** dma_addr & seg_mask is non-zero. */
// models the merge test of __finalise_sg(): the entry joins the current segment when there is one,
// the entry starts at offset 0, the IOVA is not on a segment boundary, and max_len - cur_len >=
// s_length in unsigned int (a negative difference wraps to 2^32 + it).
function mergesInto(curLen: number, off: number, dmaAddr: number, mask: number, maxLen: number, sLength: number): boolean {
  const room = maxLen - curLen;
  return curLen !== 0 && off === 0 && offBoundary(dmaAddr, mask) && (room < 0 ? room + UINT32 : room) >= sLength;
}

function offBoundary(addr: number, mask: number): boolean {
  return mask >= 2 ** 53 - 1 ? addr !== 0 : addr <= mask ? addr !== 0 : addr % (mask + 1) !== 0;
}

// models iommu_dma_map_sg()
async function mapSg(ctx: DmaContext, dev: MappingDevice, entries: readonly SgEntry[], direction: StreamingDirection, attrs: number, signal: AbortSignal | undefined): Promise<MappedSegment[]> {
  const device = dev as IommuMappingDevice;
  if (device.untrusted) return mapSgSwiotlb(ctx, device, entries, direction, attrs, signal);
  const fast = mapSgRam(ctx, device, entries, direction, attrs);
  if (fast) return fast;
  const domain = domainOf(device);
  const g = domain.granule;
  const n = entries.length;
  const placed: Placed[] = new Array(n);
  // (the layout fields of each Placed are filled below)
  let bounced = 0;
  for (let i = 0; i < n; i++) if ((placed[i] = place(ctx, device, entries[i]!, attrs, true)).kind === 'bounced') bounced++;
  const records = bounced > 0 ? await bounceAll(ctx, device, placed, direction, signal, false) : [];
  // The layout pass: each entry's IOVA offset and its (possibly padded) IOVA length.
  const mask = device.segmentBoundaryMask;
  let iovaLen = 0;
  let prev: Placed | undefined;
  for (let i = 0; i < n; i++) {
    const p = placed[i]!;
    if (p.kind === 'bus-address') {
      // The kernel's quirk: sg_dma_len(s) = sg->length, the list head's current length.
      const head = placed[0]!;
      p.dmaLen = i === 0 || head.kind === 'bus-address' ? head.length : head.ioLen;
      continue;
    }
    const phys = p.record ? p.record.tlbAddr : p.phys;
    const off = modPow2(phys, g);
    const sLen = Math.ceil((p.length + off) / g) * g;
    const pad = padLength(mask, iovaLen);
    if (pad && pad < sLen - 1) {
      prev!.ioLen += pad;
      iovaLen += pad;
    }
    p.ioOff = off;
    p.ioLen = sLen;
    p.dmaLen = p.length;
    iovaLen += sLen;
    prev = p;
  }
  let iova = 0;
  if (iovaLen > 0) {
    iova = domain.allocIova(iovaLen, device.dmaLimit, device.iommuState!, device.pci.bdf, device.owner.cpu);
    if (!iova) {
      for (const r of records) releaseBounce(ctx, r);
      throw mappingError(device, entries[0]!.phys, iovaLen, 'ENOMEM', `no IOVA space left for ${iovaLen} bytes below the device limit`);
    }
    // models iommu_map_sg(): each entry's granules, padding included, at its place in the range.
    const prot = dmaInfoToProt(direction);
    let at = iova;
    for (let i = 0; i < n; i++) {
      const p = placed[i]!;
      if (p.kind === 'bus-address') continue;
      const phys = (p.record ? p.record.tlbAddr : p.phys) - p.ioOff;
      if (!domain.map(at, phys, p.ioLen, prot | (p.kind === 'host-bridge' || p.mmio ? IOMMU_MMIO : 0))) {
        domain.unmap(iova, at - iova, device.owner.cpu, false);
        domain.freeIova(iova, iovaLen, false, device.owner.cpu);
        for (const r of records) releaseBounce(ctx, r);
        throw mappingError(device, p.phys, p.length, 'EINVAL', 'the IOMMU refused the mapping');
      }
      at += p.ioLen;
    }
    domain.mappings.set(iova / g, { pfn: iova / g, pages: iovaLen / g, deviceId: device.owner.id, call: 'sg', state: 'live' });
  }
  for (const r of records) r.state = 'live';
  return finaliseSg(device, placed, iova);
}

// Layout scratch for mapSgRam(): filled and used with no await in between, so one set serves every call.
let scratchOff = new Float64Array(64);
let scratchLen = new Float64Array(64);

/**
 * The same map_sg as below for the common list: host RAM only, no MMIO. It keeps the layout in
 * scratch arrays instead of a record per entry; undefined when the list has anything else.
 */
function mapSgRam(ctx: DmaContext, device: IommuMappingDevice, entries: readonly SgEntry[], direction: StreamingDirection, attrs: number): MappedSegment[] | undefined {
  if (attrs & DMA_ATTR_MMIO) return undefined;
  const n = entries.length;
  if (scratchOff.length < n) {
    scratchOff = new Float64Array(n);
    scratchLen = new Float64Array(n);
  }
  const offs = scratchOff;
  const lens = scratchLen;
  const domain = domainOf(device);
  const g = domain.granule;
  const mask = device.segmentBoundaryMask;
  const fabric = ctx.fabric;
  let iovaLen = 0;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    if (fabric.regionAt(e.phys, e.length).kind !== 'ram') return undefined;
    const off = modPow2(e.phys, g);
    const sLen = Math.ceil((e.length + off) / g) * g;
    const pad = padLength(mask, iovaLen);
    if (pad && pad < sLen - 1) {
      lens[i - 1] = lens[i - 1]! + pad;
      iovaLen += pad;
    }
    offs[i] = off;
    lens[i] = sLen;
    iovaLen += sLen;
  }
  const iova = domain.allocIova(iovaLen, device.dmaLimit, device.iommuState!, device.pci.bdf, device.owner.cpu);
  if (!iova) throw mappingError(device, entries[0]!.phys, iovaLen, 'ENOMEM', `no IOVA space left for ${iovaLen} bytes below the device limit`);
  const prot = dmaInfoToProt(direction);
  let at = iova;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    if (!domain.map(at, e.phys - offs[i]!, lens[i]!, prot)) {
      domain.unmap(iova, at - iova, device.owner.cpu, false);
      domain.freeIova(iova, iovaLen, false, device.owner.cpu);
      throw mappingError(device, e.phys, e.length, 'EINVAL', 'the IOMMU refused the mapping');
    }
    at += lens[i]!;
  }
  domain.mappings.set(iova / g, { pfn: iova / g, pages: iovaLen / g, deviceId: device.owner.id, call: 'sg', state: 'live' });
  // __finalise_sg(), as finaliseSg() below.
  const out: MappedSegment[] = [];
  const maxLen = device.maxSegmentSize;
  let dmaAddr = iova;
  let curLen = 0;
  let curPhys = 0;
  let curAddr = 0;
  let open = false;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    const sLength = e.length;
    const off = offs[i]!;
    if (mergesInto(curLen, off, dmaAddr, mask, maxLen, sLength)) {
      curLen += sLength;
      if (curLen >= UINT32) curLen -= UINT32;
    } else {
      if (open) out.push(ramSegment(curPhys, curAddr, curLen));
      open = true;
      curPhys = e.phys;
      curLen = sLength;
      curAddr = dmaAddr + off;
    }
    dmaAddr += lens[i]!;
    if (sLength + off < lens[i]!) {
      out.push(ramSegment(curPhys, curAddr, curLen));
      open = false;
      curLen = 0;
    }
  }
  if (open) out.push(ramSegment(curPhys, curAddr, curLen));
  return out;
}

function ramSegment(phys: number, dmaAddress: number, length: number): MappedSegment {
  return { phys, length, dmaAddress, kind: 'iommu', reason: undefined, provider: undefined } as MappedSegment;
}

// models __finalise_sg(): merges into the current segment an entry that starts at offset 0 right
// after the previous one's end, off a segment boundary, within max_seg_size (unsigned int arithmetic).
function finaliseSg(device: IommuMappingDevice, placed: readonly Placed[], dmaAddr: number): MappedSegment[] {
  const out: MappedSegment[] = [];
  const mask = device.segmentBoundaryMask;
  // Lengths stay plain integers (no >>> 0 or % on the stored values): a segment's fields keep the
  // representation dma-direct's segments have, so V8 never deprecates their shared hidden class.
  const maxLen = device.maxSegmentSize;
  let curLen = 0;
  let cur: Placed | undefined;
  let curAddr = 0;
  for (let i = 0; i < placed.length; i++) {
    const p = placed[i]!;
    const sLength = p.dmaLen;
    if (p.kind === 'bus-address') {
      if (cur) out.push(segmentOf(cur, curAddr, curLen));
      cur = undefined;
      out.push(segmentOf(p, p.busAddress, sLength));
      curLen = 0;
      continue;
    }
    const off = p.ioOff;
    if (mergesInto(curLen, off, dmaAddr, mask, maxLen, sLength)) {
      curLen += sLength;
      if (curLen >= UINT32) curLen -= UINT32;
    } else {
      if (cur) out.push(segmentOf(cur, curAddr, curLen));
      cur = p;
      curLen = sLength;
      curAddr = dmaAddr + off;
    }
    dmaAddr += p.ioLen;
    if (sLength + off < p.ioLen) {
      out.push(segmentOf(cur!, curAddr, curLen));
      cur = undefined;
      curLen = 0;
    }
  }
  if (cur) out.push(segmentOf(cur, curAddr, curLen));
  return out;
}

// models iommu_dma_map_sg_swiotlb(): entry by entry, unwinding with SKIP_CPU_SYNC and -EIO on failure.
async function mapSgSwiotlb(ctx: DmaContext, device: IommuMappingDevice, entries: readonly SgEntry[], direction: StreamingDirection, attrs: number, signal: AbortSignal | undefined): Promise<MappedSegment[]> {
  // Validate every entry before taking anything, as the other paths do.
  for (const e of entries) ctx.fabric.regionAt(e.phys, e.length);
  const out: MappedSegment[] = [];
  try {
    for (const e of entries) out.push(await mapPhys(ctx, device, e, direction, attrs, signal, false));
  } catch (error) {
    for (const s of out) await unmapPhys(ctx, device, s, direction, attrs | DMA_ATTR_SKIP_CPU_SYNC);
    if (error instanceof DmaMappingError && (error as { errno?: unknown }).errno !== 'EIO') {
      const { address, length } = error as DmaMappingError;
      throw new DmaMappingError(`${error.message} (iommu_dma_map_sg_swiotlb() returns -EIO)`, { errno: 'EIO', address, length, cause: error });
    }
    throw error;
  }
  return out;
}

/** The live mapping of this device that starts on the page of `dmaAddress` and spans `bytes` from there. */
function liveMapping(domain: IommuDomain, device: IommuMappingDevice, dmaAddress: number, bytes: number, call: 'single' | 'sg'): IovaMapping {
  const g = domain.granule;
  const pfn = Math.floor(dmaAddress / g);
  const pages = Math.ceil((bytes + (dmaAddress - pfn * g)) / g);
  const m = domain.mappingAt(pfn);
  if (!m || m.deviceId !== device.owner.id || m.pages !== pages || m.call !== call) {
    throw new InvalidArgumentError(`dma address 0x${dmaAddress.toString(16)}+${bytes} is not a live iommu-dma ${call === 'sg' ? 'scatterlist' : 'single'} mapping of ${device.pci.bdf}`, { argument: 'dmaAddress' });
  }
  if (m.state !== 'live') {
    throw new MappingStateError(`dma address 0x${dmaAddress.toString(16)} names an IOVA mapping that is not live (${m.state})`, { dmaAddress, length: bytes, state: m.state });
  }
  return m;
}

/** The live bounce records behind [dmaAddress, +length) of a domain, checked (not live: ERR_MAPPING_STATE). */
const NO_RECORDS: readonly BounceRecord[] = [];

function bounceRecordsIn(ctx: DmaContext, domain: IommuDomain, dmaAddress: number, length: number): readonly BounceRecord[] {
  if (ctx.bounced.size === 0) return NO_RECORDS;
  const out = new Set<BounceRecord>();
  const g = domain.granule;
  for (let a = Math.floor(dmaAddress / g) * g; a < dmaAddress + length; a += g) {
    const t = domain.table.translate(a);
    if (!t || !ctx.pool.isSwiotlbBuffer(t.phys)) continue;
    // Any slot of an allocation (its padding slots too) names the mapping.
    const info = ctx.pool.mappingContaining(t.phys) ?? ctx.pool.mappingContaining(t.phys + g - 1);
    const record = info ? ctx.bounced.get(info.tlbAddr) : undefined;
    if (record && !out.has(record)) {
      if (record.state !== 'live') throw notLive(record, a, g);
      out.add(record);
    }
  }
  return [...out];
}

async function releaseRecords(ctx: DmaContext, device: MappingDevice, records: readonly BounceRecord[], direction: StreamingDirection, attrs: number): Promise<void> {
  if (records.length > 0) await unmapSegments(ctx, device, records.map((r) => ({ dmaAddress: r.tlbAddr, length: r.size })), direction, attrs);
}

// models iommu_dma_unmap_phys() / iommu_dma_unmap_page(): the IOVA first, then the swiotlb slot.
async function unmapPhys(ctx: DmaContext, dev: MappingDevice, ref: SegmentRef, direction: StreamingDirection, attrs: number): Promise<void> {
  const device = dev as IommuMappingDevice;
  const domain = domainOf(device);
  if (isBusAddress(ctx, ref.dmaAddress)) return;
  const mapping = liveMapping(domain, device, ref.dmaAddress, ref.length, 'single');
  const records = bounceRecordsIn(ctx, domain, ref.dmaAddress, ref.length);
  freeIova(domain, device, mapping);
  if (records.length > 0) await releaseRecords(ctx, device, records, direction, attrs);
}

// The IOVA half of an unmap, on a mapping already checked: __iommu_dma_unmap() (the IOTLB flush
// or the flush queue, then the IOVA freed).
function freeIova(domain: IommuDomain, device: IommuMappingDevice, mapping: IovaMapping): void {
  mapping.state = 'unmapping';
  const g = domain.granule;
  domain.unmap(mapping.pfn * g, mapping.pages * g, device.owner.cpu);
  domain.mappings.delete(mapping.pfn);
  mapping.state = 'free';
}

/** A BUS_ADDR segment's address: inside a host bridge's bus window, where no IOVA is ever placed (the windows are reserved). */
function isBusAddress(ctx: DmaContext, dmaAddress: number): boolean {
  let windows = busWindows.get(ctx);
  if (!windows) {
    windows = [];
    for (const bar of ctx.barRegions.keys()) {
      const hb = bar.device.hostBridge;
      windows.push(hb.mmioBase - hb.busOffset, hb.mmioBase - hb.busOffset + hb.mmioSize);
    }
    busWindows.set(ctx, windows);
  }
  for (let i = 0; i < windows.length; i += 2) if (dmaAddress >= windows[i]! && dmaAddress < windows[i + 1]!) return true;
  return false;
}

// The topology never changes: each context's bus windows are collected once.
const busWindows = new WeakMap<DmaContext, number[]>();

// models iommu_dma_unmap_sg(): one range from the first non-bus segment to the end of the last.
async function unmapSg(ctx: DmaContext, dev: MappingDevice, refs: readonly SegmentRef[], direction: StreamingDirection, attrs: number): Promise<void> {
  const device = dev as IommuMappingDevice;
  if (device.untrusted) {
    // models iommu_dma_unmap_sg_swiotlb(): each segment unmapped as unmap_phys does it. Every
    // segment, and its bounce slots, is checked before the first is unmapped, so that a refused call
    // changes nothing; the slots are then released together, in one turn rather than one a segment.
    const domain = domainOf(device);
    const mappings = new Set<IovaMapping>();
    const records: BounceRecord[] = [];
    for (const r of refs) {
      if (isBusAddress(ctx, r.dmaAddress)) continue;
      const mapping = liveMapping(domain, device, r.dmaAddress, r.length, 'single');
      if (mappings.has(mapping)) throw new InvalidArgumentError(`dma address 0x${r.dmaAddress.toString(16)} names an iommu-dma mapping a segment before it already named`, { argument: 'segments' });
      mappings.add(mapping);
      for (const record of bounceRecordsIn(ctx, domain, r.dmaAddress, r.length)) records.push(record);
    }
    for (const mapping of mappings) freeIova(domain, device, mapping);
    if (records.length > 0) await releaseRecords(ctx, device, records, direction, attrs);
    return;
  }
  const domain = domainOf(device);
  let start = -1;
  let end = 0;
  for (const r of refs) {
    if (isBusAddress(ctx, r.dmaAddress)) continue;
    if (start < 0) start = r.dmaAddress;
    end = r.dmaAddress + r.length;
  }
  if (start < 0) return;
  const mapping = liveMapping(domain, device, start, end - start, 'sg');
  const records = bounceRecordsIn(ctx, domain, start, end - start);
  freeIova(domain, device, mapping);
  if (records.length > 0) await releaseRecords(ctx, device, records, direction, attrs);
}

/** The pool parts of an IOVA range, as physical ranges a sync can copy. */
function poolParts(ctx: DmaContext, domain: IommuDomain, dmaAddress: number, length: number): SegmentRef[] {
  if (ctx.bounced.size === 0) return [];
  const out: SegmentRef[] = [];
  const g = domain.granule;
  for (let a = dmaAddress; a < dmaAddress + length;) {
    const next = Math.min(Math.floor(a / g) * g + g, dmaAddress + length);
    const t = domain.table.translate(a);
    if (t && ctx.pool.isSwiotlbBuffer(t.phys)) {
      const last = out[out.length - 1];
      if (last && last.dmaAddress + last.length === t.phys) out[out.length - 1] = { dmaAddress: last.dmaAddress, length: last.length + (next - a) };
      else out.push({ dmaAddress: t.phys, length: next - a });
    }
    a = next;
  }
  return out;
}

// models iommu_dma_sync_single_for_cpu() / _for_device(): only swiotlb memory needs a copy here.
async function syncRefs(ctx: DmaContext, dev: MappingDevice, refs: readonly SegmentRef[], direction: StreamingDirection, target: SyncTarget): Promise<void> {
  const device = dev as IommuMappingDevice;
  const domain = domainOf(device);
  const parts: SegmentRef[] = [];
  for (const r of refs) {
    if (isBusAddress(ctx, r.dmaAddress)) continue;
    const t = domain.table.translate(r.dmaAddress);
    if (!t) throw new InvalidArgumentError(`dma address 0x${r.dmaAddress.toString(16)} is not mapped in ${device.pci.bdf}'s IOMMU domain`, { argument: 'dmaAddress' });
    parts.push(...poolParts(ctx, domain, r.dmaAddress, r.length));
  }
  if (parts.length > 0) await syncSegments(ctx, device, parts, direction, target);
}

/** iommu-dma (drivers/iommu/dma-iommu.c) as a DmaMapOps. */
export const iommuOps: DmaMapOps = {
  name: 'iommu',
  mapPhys: (ctx, device, entry, direction, attrs, signal) => mapPhys(ctx, device, entry, direction, attrs, signal),
  unmapPhys,
  mapSg,
  unmapSg,
  // models iommu_dma_sync_single_for_cpu() / _for_device()
  syncSingle: (ctx, device, ref, direction, target) => syncRefs(ctx, device, [ref], direction, target),
  // models iommu_dma_sync_sg_for_cpu() / _for_device()
  syncSg: syncRefs,
};

export { mapPhys as iommuMapPhys, takeBounce, zeroPadding, liveMapping, domainOf };
