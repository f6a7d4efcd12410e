// A simulated device doing DMA by DMA address, checking reachability the way the fabric would:
// a BAR's bus address only from a peer whose route is BUS_ADDR, a BAR's CPU address only
// through a host bridge that allows it, host RAM and bounce slots only inside the device's
// DMA limit, and a bounce slot only while it is mapped for this device and live (not while its
// copy-in is still running, nor once its unmap has begun). Anything else is a DeviceFaultError,
// never a silent access. Behind a translating IOMMU every address but a peer's bus address goes
// through the domain's page table first: an IOVA that is not mapped, or mapped without the
// permission the access needs, is an IOMMU fault (IommuFaultError, logged on system.iommu).
import { DeviceFaultError, InvalidArgumentError, IommuFaultError } from '../errors.js';
import type { IommuDomain } from './iommu/domain.js';
import { IOMMU_NOSYNC, IOMMU_READ, IOMMU_WRITE } from './iommu/page-table.js';
import { hostBridgeRouteAllowed, mapType, type PciDevice } from '../pci/index.js';
import type { DmaContext } from './context.js';

export interface DmaTarget {
  /** Fabric offset of the first byte. */
  readonly offset: number;
  readonly via: 'ram' | 'swiotlb' | 'bus-address' | 'host-bridge';
}

/** Which way the device moves bytes: 'read' from memory (DMA_TO_DEVICE data) or 'write' to it. */
export type DmaAccess = 'read' | 'write';

export class DeviceDma {
  readonly #ctx: DmaContext;
  readonly #pci: PciDevice;
  readonly #deviceId: number;
  readonly #dmaLimit: number;
  // Per BAR owner: [route is BUS_ADDR, host bridge routes P2P]; the topology never changes.
  readonly #reach = new Map<PciDevice, readonly [boolean, boolean]>();

  readonly #domain: IommuDomain | undefined;

  constructor(ctx: DmaContext, pci: PciDevice, deviceId: number, dmaLimit: number, domain?: IommuDomain) {
    this.#domain = domain;
    this.#ctx = ctx;
    this.#pci = pci;
    this.#deviceId = deviceId;
    this.#dmaLimit = dmaLimit;
  }

  /**
   * Where [dmaAddress, dmaAddress + length) lands (behind an IOMMU: where its first byte lands,
   * the whole range checked), or a DeviceFaultError (ERR_DEVICE_FAULT) saying why the device
   * cannot reach it, or an IommuFaultError (ERR_IOMMU_FAULT) for an IOVA the domain refuses
   * `access` to (recorded in system.iommu.faults).
   */
  resolve(dmaAddress: number, length: number, access: DmaAccess = 'read'): DmaTarget {
    if (!Number.isSafeInteger(dmaAddress) || dmaAddress < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new InvalidArgumentError('dmaAddress and length must be non-negative integers', { argument: 'dmaAddress' });
    }
    if (this.#domain && !this.#isPeerBusAddress(dmaAddress)) return this.#translated(dmaAddress, length, access)[0]!.target;
    return this.#resolvePhysical(dmaAddress, length, dmaAddress, length);
  }

  // The fabric's own checks on a bus address (no IOMMU) or a translated physical range.
  #resolvePhysical(dmaAddress: number, length: number, shownAddress: number, shownLength: number): DmaTarget {
    const ctx = this.#ctx;
    const fault = (why: string) => new DeviceFaultError(`${this.#pci.bdf}: DMA to 0x${shownAddress.toString(16)}+${shownLength} faults: ${why}`, { device: this.#pci.bdf, dmaAddress: shownAddress, length: shownLength });
    const inLimit = this.#domain !== undefined || dmaAddress + Math.max(length, 1) - 1 <= this.#dmaLimit;

    // Any access touching a pool (dynamic pools live inside host RAM) is a swiotlb access: it must
    // stay inside one live mapping of this device.
    if (ctx.pool.overlaps(dmaAddress, length)) {
      if (!inLimit) throw fault('beyond the device DMA mask');
      const coherent = this.#coherentHolding(dmaAddress, length);
      if (coherent !== undefined) return { offset: coherent, via: 'swiotlb' };
      const record = this.#domain ? this.#allocationHolding(dmaAddress, length) : ctx.bounced.containing(dmaAddress, length);
      if (record === undefined || record.deviceId !== this.#deviceId) throw fault('swiotlb slot not mapped for this device');
      if (record.state !== 'live') throw fault(`swiotlb mapping is not live (${record.state === 'mapping' ? 'its map has not resolved' : 'it is being unmapped'})`);
      return { offset: record.slotOffset + (dmaAddress - record.tlbAddr), via: 'swiotlb' };
    }
    if (ctx.systemPool !== ctx.pool && ctx.systemPool.overlaps(dmaAddress, length)) throw fault('swiotlb slot not mapped for this device (the system pool; this device has a restricted DMA pool)');
    for (const region of ctx.fabric.regions) {
      if (region.kind === 'ram' && region.containsPhys(dmaAddress, length)) {
        if (!inLimit) throw fault('beyond the device DMA mask');
        return { offset: region.physToOffset(dmaAddress, length), via: 'ram' };
      }
    }
    for (const [bar, region] of ctx.barRegions) {
      const busStart = bar.busAddress;
      if (dmaAddress >= busStart && dmaAddress + length <= busStart + region.size) {
        if (!this.#reachOf(bar.device)[0]) throw fault(`bus address of ${bar.device.bdf} BAR ${bar.index}, but the route is not BUS_ADDR`);
        if (!inLimit) throw fault('beyond the device DMA mask');
        return { offset: region.offset + (dmaAddress - busStart), via: 'bus-address' };
      }
      if (region.containsPhys(dmaAddress, length)) {
        if (!this.#reachOf(bar.device)[1]) throw fault(`CPU address of ${bar.device.bdf} BAR ${bar.index}, but the host bridge does not route peer-to-peer`);
        if (!inLimit) throw fault('beyond the device DMA mask');
        return { offset: region.physToOffset(dmaAddress, length), via: 'host-bridge' };
      }
    }
    throw fault('no memory answers at this address');
  }

  // A coherent allocation of this device in its restricted pool: the fabric offset of the range, or undefined.
  #coherentHolding(phys: number, length: number): number | undefined {
    const ctx = this.#ctx;
    if (ctx.coherent.size === 0) return undefined;
    const info = ctx.pool.mappingContaining(phys);
    if (info === undefined || info.kind !== 'alloc') return undefined;
    const record = ctx.coherent.get(info.tlbAddr);
    if (record === undefined || record.deviceId !== this.#deviceId || phys + length > info.tlbAddr + record.size) return undefined;
    return ctx.poolRegion.physToOffset(phys, length);
  }

  // Through the IOMMU a device sees whole granules of a bounce allocation, its (zeroed) padding too.
  #allocationHolding(phys: number, length: number) {
    const info = this.#ctx.pool.mappingContaining(phys);
    const pool = this.#ctx.pool.findPool(phys);
    if (!info || !pool) return undefined;
    const start = pool.base + info.index * 2048;
    if (phys + length > start + info.nslots * 2048) return undefined;
    return this.#ctx.bounced.get(info.tlbAddr);
  }

  // A peer's BAR bus address goes switch to switch and never reaches the IOMMU (IOVAs avoid the windows).
  #isPeerBusAddress(dmaAddress: number): boolean {
    for (const bar of this.#ctx.barRegions.keys()) {
      const hb = bar.device.hostBridge;
      const lo = hb.mmioBase - hb.busOffset;
      if (dmaAddress >= lo && dmaAddress < lo + hb.mmioSize) return true;
    }
    return false;
  }

  // Page by page through the domain: the physical pieces of the range, each checked as memory.
  #translated(dmaAddress: number, length: number, access: DmaAccess): { target: DmaTarget; length: number }[] {
    const domain = this.#domain!;
    const g = domain.granule;
    const need = access === 'read' ? IOMMU_READ : IOMMU_WRITE;
    if (dmaAddress + Math.max(length, 1) - 1 > this.#dmaLimit) {
      throw new DeviceFaultError(`${this.#pci.bdf}: DMA to 0x${dmaAddress.toString(16)}+${length} faults: beyond the device DMA mask`, { device: this.#pci.bdf, dmaAddress, length });
    }
    const pieces: { phys: number; length: number }[] = [];
    const end = dmaAddress + Math.max(length, 1);
    for (let a = dmaAddress; a < end;) {
      const next = Math.min(Math.floor(a / g) * g + g, end);
      const t = domain.translate(a);
      const reason = !t || t.prot & IOMMU_NOSYNC ? 'not-present' : (t.prot & need) === 0 ? 'permission' : undefined;
      if (reason) {
        const f = this.#ctx.iommu!.reportFault(this.#pci, domain, a, access, reason);
        throw new IommuFaultError(`${f.message} (${this.#pci.bdf} ${access} of 0x${dmaAddress.toString(16)}+${length}: ${reason === 'not-present' ? 'IOVA not mapped' : `mapped without IOMMU_${access === 'read' ? 'READ' : 'WRITE'}`})`, { device: f.device, address: a, access, reason, log: f.message });
      }
      // Physically adjacent pages merge, except in the pool: two bounce allocations may sit side by side.
      const last = pieces[pieces.length - 1];
      if (last && last.phys + last.length === t!.phys && !this.#ctx.pool.isSwiotlbBuffer(t!.phys)) last.length += next - a;
      else pieces.push({ phys: t!.phys, length: next - a });
      a = next;
    }
    if (length === 0) pieces[0]!.length = 0;
    return pieces.map((p) => ({ target: this.#resolvePhysical(p.phys, p.length, dmaAddress, length), length: p.length }));
  }

  #reachOf(provider: PciDevice): readonly [boolean, boolean] {
    let reach = this.#reach.get(provider);
    if (!reach) {
      reach = [mapType(provider, this.#pci).type === 'BUS_ADDR', hostBridgeRouteAllowed(provider, this.#pci)];
      this.#reach.set(provider, reach);
    }
    return reach;
  }

  /** The device reads `length` bytes at a DMA address (a copy). Throws ERR_INVALID_ARGUMENT / ERR_DEVICE_FAULT. */
  read(dmaAddress: number, length: number): Uint8Array {
    if (this.#domain && Number.isSafeInteger(dmaAddress) && dmaAddress >= 0 && Number.isSafeInteger(length) && length > 0 && !this.#isPeerBusAddress(dmaAddress)) {
      const targets = this.#translated(dmaAddress, length, 'read');
      const out = new Uint8Array(length);
      let at = 0;
      for (const { target: t, length: n } of targets) {
        out.set(this.#ctx.fabric.bytes.subarray(t.offset, t.offset + n), at);
        at += n;
      }
      return out;
    }
    const { offset } = this.resolve(dmaAddress, length, 'read');
    return this.#ctx.fabric.bytes.slice(offset, offset + length);
  }

  /**
   * The device writes `bytes` at a DMA address. The length is the array's own (an own `length`
   * property on the object cannot make the check and the write see different sizes). Throws
   * ERR_INVALID_ARGUMENT / ERR_DEVICE_FAULT, writing nothing.
   */
  write(dmaAddress: number, bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('bytes must be a Uint8Array', { argument: 'bytes' });
    const length = typedArrayLength(bytes);
    if (this.#domain && Number.isSafeInteger(dmaAddress) && dmaAddress >= 0 && length > 0 && !this.#isPeerBusAddress(dmaAddress)) {
      // Every piece is checked before the first byte is written.
      const targets = this.#translated(dmaAddress, length, 'write');
      let at = 0;
      for (const { target: t, length: n } of targets) {
        this.#ctx.fabric.bytes.set(bytes.subarray(at, at + n), t.offset);
        at += n;
      }
      return;
    }
    const { offset } = this.resolve(dmaAddress, length, 'write');
    this.#ctx.fabric.bytes.set(bytes, offset);
  }
}

// The intrinsic %TypedArray%.prototype.length getter, immune to own or prototype overrides.
const lengthGetter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, 'length')!.get!;
function typedArrayLength(array: Uint8Array): number {
  return lengthGetter.call(array) as number;
}
