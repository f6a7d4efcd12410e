// The two-step IOVA API of Linux 6.16 (dma_iova_try_alloc(), dma_iova_link(), dma_iova_sync(),
// dma_iova_unlink(), dma_iova_destroy(), dma_iova_free(), dma_use_iova()): the caller allocates one
// IOVA range, links physical ranges into it at offsets it chooses, syncs, and tears it down. The
// rules the kernel documents (and partly WARNs about) are checked here and refused with a code.
import { DmaMappingError, InvalidArgumentError, IovaRuleError, IovaStateError } from '../../errors.js';
import { describe } from '../../fabric/input.js';
import { copyRecords, releaseBounce } from '../bounce.js';
import type { BounceRecord, DmaContext } from '../context.js';
import { unmapSegments } from '../direct.js';
import { DMA_ATTR_MMIO, type StreamingDirection } from '../direction.js';
import { dmaInfoToProt, domainOf, takeBounce, zeroPadding, type IommuMappingDevice } from './dma-iommu.js';
import { IOMMU_MMIO, IOMMU_NOSYNC } from './page-table.js';

/** 'unallocated': try-alloc said no (use the streaming API); 'allocated': links may be made; 'destroyed': freed. */
export type IovaStateName = 'unallocated' | 'allocated' | 'destroyed';

/** One linked range: where in the IOVA state, what physical range, and the bounce slots it took. */
export interface IovaLink {
  readonly offset: number;
  readonly size: number;
  readonly phys: number;
  readonly bounces: readonly BounceRecord[];
}

/** struct dma_iova_state: the IOVA range of one transaction and what is linked into it. */
export class IovaState {
  /** The IOVA of offset 0 (the try-alloc phys's in-granule offset included); 0 when unallocated. */
  readonly addr: number;
  /** Bytes asked for; 0 when unallocated (dma_use_iova() is false then). */
  readonly size: number;
  readonly deviceId: number;
  #state: IovaStateName;
  /** Linked ranges, by offset. */
  readonly links: IovaLink[] = [];
  /** DMA_IOVA_USE_SWIOTLB: some link bounced, so unlink takes the slow path. */
  useSwiotlb = false;
  /** A link or unlink still copying: other calls on this state are refused meanwhile. */
  busy = false;

  constructor(deviceId: number, addr: number, size: number) {
    genuine.add(this);
    this.deviceId = deviceId;
    this.addr = addr;
    this.size = size;
    this.#state = size > 0 ? 'allocated' : 'unallocated';
  }

  /** Where the state is in its life. */
  get state(): IovaStateName {
    return this.#state;
  }

  /** @internal */
  markDestroyed(): void {
    this.#state = 'destroyed';
  }
}

// The states iovaTryAlloc() made: anything else (a copy, a Proxy, a look-alike) is refused with a code.
const genuine = new WeakSet<object>();


function checkRange(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${describe(value)}`, { argument: name });
  return value;
}

function checkState(given: unknown, device: IommuMappingDevice, call: string): IovaState {
  if (given === null || typeof given !== 'object' || !genuine.has(given)) throw new InvalidArgumentError(`${call}: state must be the IovaState iovaTryAlloc() returned`, { argument: 'state' });
  const state = given as IovaState;
  if (state.deviceId !== device.owner.id) throw new InvalidArgumentError(`${call}: this IovaState belongs to another device`, { argument: 'state' });
  if (state.state !== 'allocated') throw new IovaStateError(`${call}: the IOVA state is ${state.state}${state.state === 'unallocated' ? ' (iovaTryAlloc() failed: use the streaming API)' : ''}`, { state: state.state });
  if (state.busy) throw new IovaStateError(`${call}: another link or unlink of this IOVA state is still in flight`, { state: 'busy' });
  return state;
}

function rule(rule: string, message: string): IovaRuleError {
  return new IovaRuleError(message, { rule });
}

// models dma_iova_try_alloc(): false (here an 'unallocated' state) without a translating IOMMU.
export function iovaTryAlloc(device: IommuMappingDevice, phys: unknown, size: unknown): IovaState {
  const p = checkRange('phys', phys, 0);
  const s = checkRange('size', size, 1);
  const domain = device.iommuDomain;
  if (!domain) return new IovaState(device.owner.id, 0, 0);
  const g = domain.granule;
  const off = p % g;
  const iova = domain.allocIova(Math.ceil((s + off) / g) * g, device.dmaLimit, device.iommuState!, device.pci.bdf, device.owner.cpu);
  if (!iova) return new IovaState(device.owner.id, 0, 0);
  return new IovaState(device.owner.id, iova + off, s);
}

// models dma_iova_link() and iommu_dma_iova_link_swiotlb()
export async function iovaLink(ctx: DmaContext, device: IommuMappingDevice, given: unknown, phys: unknown, offset: unknown, size: unknown, direction: StreamingDirection, attrs: number): Promise<void> {
  const state = checkState(given, device, 'iovaLink');
  const p = checkRange('phys', phys, 0);
  const off = checkRange('offset', offset, 0);
  const len = checkRange('size', size, 1);
  const domain = domainOf(device);
  const g = domain.granule;
  const pad = p % g;
  ctx.fabric.regionAt(p, len);
  if (off + len > state.size) throw rule('link-in-range', `iovaLink: offset ${off} + size ${len} is past the IOVA state's ${state.size} bytes`);
  if (pad && off > 0) throw rule('link-start-aligned', `iovaLink: only the first link (offset 0) may start inside a granule; phys 0x${p.toString(16)} at offset ${off} would be a -EIO WARN in dma_iova_link()`);
  if (off === 0 && pad !== state.addr % g) throw rule('link-first-offset', `iovaLink: the first link's phys must have the in-granule offset iovaTryAlloc() was given (0x${(state.addr % g).toString(16)}), got 0x${pad.toString(16)}`);
  if (off > 0 && (state.addr + off) % g !== 0) throw rule('link-start-boundary', `iovaLink: a link after the first must start on the merge boundary (dma_get_merge_boundary() = 0x${(g - 1).toString(16)}): IOVA 0x${(state.addr + off).toString(16)} is not`);
  // Links stay sorted by offset and only the last may end off the boundary, so the neighbours of
  // the new one are all it must be checked against (O(log n) per link, not a scan).
  const at = insertionPoint(state.links, off);
  const before = state.links[at - 1];
  const after = state.links[at];
  for (const l of [before, after]) {
    if (l && off < l.offset + l.size && l.offset < off + len) throw rule('link-no-overlap', `iovaLink: [${off}, ${off + len}) overlaps the link at [${l.offset}, ${l.offset + l.size})`);
  }
  if (before && (before.phys + before.size) % g !== 0) throw rule('link-only-last-unaligned', `iovaLink: the link at offset ${before.offset} does not end on the merge boundary, so it must be the last; nothing may be linked after it`);
  if (after && (p + len) % g !== 0) throw rule('link-only-last-unaligned', `iovaLink: every range but the last must end on the merge boundary; this one ends at 0x${(p + len).toString(16)} with a link after it`);
  const mmio = (attrs & DMA_ATTR_MMIO) !== 0;
  const prot = dmaInfoToProt(direction) | (mmio ? IOMMU_MMIO : 0) | IOMMU_NOSYNC;
  const addr = state.addr + off;
  const cpu = device.owner.cpu;
  const unaligned = pad !== 0 || (p + len) % g !== 0;
  if (!(device.untrusted && unaligned)) {
    if (!domain.map(addr - pad, p - pad, Math.ceil((len + pad) / g) * g, prot)) throw new DmaMappingError(`iovaLink: the IOMMU refused to map IOVA 0x${(addr - pad).toString(16)}`, { errno: 'EINVAL', address: p, length: len });
    state.links.splice(at, 0, { offset: off, size: len, phys: p, bounces: [] });
    return;
  }
  if (mmio) throw new DmaMappingError(`iovaLink: ${device.pci.bdf} is untrusted and MMIO cannot be bounced through swiotlb`, { errno: 'EPERM', address: p, length: len });
  // The unaligned head and tail go through swiotlb; the aligned middle is linked directly.
  state.busy = true;
  const bounces: BounceRecord[] = [];
  const mapped: [number, number][] = [];
  try {
    const parts: { at: number; phys: number; size: number; bounce: boolean }[] = [];
    let done = 0;
    if (pad) {
      const head = Math.min(len, g - pad);
      parts.push({ at: addr, phys: p, size: head, bounce: true });
      done = head;
    }
    if (done < len) {
      const endPad = (p + len) % g;
      const middle = len - done - endPad;
      if (middle > 0) parts.push({ at: addr + done, phys: p + done, size: middle, bounce: false });
      if (endPad) parts.push({ at: addr + len - endPad, phys: p + len - endPad, size: endPad, bounce: true });
    }
    for (const part of parts) {
      let target = part.phys;
      if (part.bounce) {
        const region = ctx.fabric.regionAt(part.phys, part.size);
        const record = await takeBounce(ctx, device, { phys: part.phys, length: part.size, origOffset: region.offset + (part.phys - region.phys), kind: 'bounced', reason: 'untrusted', provider: undefined, busAddress: 0, record: undefined, mmio: false, ioOff: 0, ioLen: 0, dmaLen: 0 }, direction, undefined);
        bounces.push(record);
        await copyRecords(ctx, [record], true);
        zeroPadding(ctx, record, g);
        target = record.tlbAddr;
      }
      const start = part.at - (part.at % g);
      const size = Math.ceil((part.size + part.at % g) / g) * g;
      if (target % g !== part.at % g || !domain.map(start, target - (part.at % g), size, prot)) {
        throw new DmaMappingError(`iovaLink: the IOMMU cannot map IOVA 0x${start.toString(16)} onto 0x${(target - (part.at % g)).toString(16)} (not granule aligned: the device's min_align_mask must keep the in-granule offset)`, { errno: 'EINVAL', address: part.phys, length: part.size });
      }
      mapped.push([start, size]);
    }
  } catch (error) {
    for (const [start, size] of mapped) domain.unmap(start, size, cpu, false);
    for (const r of bounces) releaseBounce(ctx, r);
    state.busy = false;
    throw error;
  }
  for (const r of bounces) r.state = 'live';
  state.useSwiotlb ||= bounces.length > 0;
  state.links.splice(insertionPoint(state.links, off), 0, { offset: off, size: len, phys: p, bounces });
  state.busy = false;
}

// models dma_iova_sync(): the linked range becomes visible to the device.
export function iovaSync(device: IommuMappingDevice, given: unknown, offset: unknown, size: unknown): void {
  const state = checkState(given, device, 'iovaSync');
  const off = checkRange('offset', offset, 0);
  const len = checkRange('size', size, 1);
  if (off + len > state.size) throw rule('sync-in-range', `iovaSync: offset ${off} + size ${len} is past the IOVA state's ${state.size} bytes`);
  const domain = domainOf(device);
  const g = domain.granule;
  const addr = state.addr + off;
  const start = addr - (addr % g);
  domain.table.clearFlag(start, Math.ceil((len + addr % g) / g) * g, IOMMU_NOSYNC);
}

/** The index of the first link at or after `offset` (links are sorted by offset). */
function insertionPoint(links: readonly IovaLink[], offset: number): number {
  let lo = 0;
  let hi = links.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (links[mid]!.offset < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Where in `state.links` the links making up [offset, offset + size) exactly start, and how many; a rule error otherwise. */
function linksCovering(state: IovaState, offset: number, size: number, call: string): { first: number; count: number } {
  const links = state.links;
  const first = insertionPoint(links, offset);
  let at = offset;
  let i = first;
  while (i < links.length && at < offset + size && links[i]!.offset === at) at += links[i++]!.size;
  if (at !== offset + size) throw rule(`${call}-whole-links`, `${call}: [${offset}, ${offset + size}) must be made of whole linked ranges`);
  return { first, count: i - first };
}

// models __iommu_dma_iova_unlink(): the bounce slots first (iommu_dma_iova_unlink_range_slow()), then the page table.
async function unlink(ctx: DmaContext, device: IommuMappingDevice, state: IovaState, offset: number, size: number, direction: StreamingDirection, attrs: number, freeIova: boolean): Promise<void> {
  const { first, count } = linksCovering(state, offset, size, freeIova ? 'destroy' : 'unlink');
  const domain = domainOf(device);
  const g = domain.granule;
  const bounces: BounceRecord[] = [];
  for (let i = first; i < first + count; i++) bounces.push(...state.links[i]!.bounces);
  state.busy = true;
  try {
    if (bounces.length > 0) await unmapSegments(ctx, device, bounces.map((r) => ({ dmaAddress: r.tlbAddr, length: r.size })), direction, attrs);
  } finally {
    state.busy = false;
  }
  const addr = state.addr + offset;
  const start = addr - (addr % g);
  const aligned = Math.ceil((size + addr % g) / g) * g;
  domain.unmap(start, aligned, device.owner.cpu, false, freeIova);
  state.links.splice(first, count);
  // dma_iova_destroy() frees through the flush queue in lazy mode (iotlb_gather.queued).
  if (freeIova) freeAll(device, state, true);
}

// models iommu_dma_free_iova() of the whole state: queued (destroy in lazy mode) or at once (dma_iova_free(), a NULL gather).
function freeAll(device: IommuMappingDevice, state: IovaState, queued: boolean): void {
  const domain = domainOf(device);
  const g = domain.granule;
  const pad = state.addr % g;
  domain.freeIova(state.addr - pad, Math.ceil((state.size + pad) / g) * g, queued && domain.type === 'lazy', device.owner.cpu);
  state.markDestroyed();
}

// models dma_iova_unlink()
export async function iovaUnlink(ctx: DmaContext, device: IommuMappingDevice, given: unknown, offset: unknown, size: unknown, direction: StreamingDirection, attrs: number): Promise<void> {
  const state = checkState(given, device, 'iovaUnlink');
  await unlink(ctx, device, state, checkRange('offset', offset, 0), checkRange('size', size, 1), direction, attrs, false);
}

// models dma_iova_destroy(): unlinks [0, mappedLen) (which must be every link) and frees the IOVA.
export async function iovaDestroy(ctx: DmaContext, device: IommuMappingDevice, given: unknown, mappedLen: unknown, direction: StreamingDirection, attrs: number): Promise<void> {
  const state = checkState(given, device, 'iovaDestroy');
  const len = checkRange('mappedLen', mappedLen, 0);
  if (len === 0) return iovaFree(device, state);
  const total = state.links.reduce((n, l) => n + l.size, 0);
  if (total !== len) throw rule('destroy-covers-links', `iovaDestroy: the ${len} bytes to unlink must be every linked byte (${total} are linked), from offset 0`);
  await unlink(ctx, device, state, 0, len, direction, attrs, true);
}

// models dma_iova_free(): every link must have been undone.
export function iovaFree(device: IommuMappingDevice, given: unknown): void {
  const state = checkState(given, device, 'iovaFree');
  if (state.links.length > 0) throw rule('free-after-unlink', `iovaFree: ${state.links.length} linked range(s) remain; unlink them first or use iovaDestroy()`);
  freeAll(device, state, false);
}

// models dma_use_iova()
export function useIova(state: unknown): boolean {
  return state !== null && typeof state === 'object' && genuine.has(state) && (state as IovaState).size > 0;
}
