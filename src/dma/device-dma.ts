// A simulated device doing DMA by DMA address, checking reachability the way the fabric would:
// a BAR's bus address only from a peer whose route is BUS_ADDR, a BAR's CPU address only
// through a host bridge that allows it, host RAM and bounce slots only inside the device's
// DMA limit, and a bounce slot only while it is mapped for this device and live (not while its
// copy-in is still running, nor once its unmap has begun). Anything else is a DeviceFaultError,
// never a silent access.
import { DeviceFaultError, InvalidArgumentError } from '../errors.js';
import { hostBridgeRouteAllowed, mapType, type PciDevice } from '../pci/index.js';
import type { DmaContext } from './context.js';

export interface DmaTarget {
  /** Fabric offset of the first byte. */
  readonly offset: number;
  readonly via: 'ram' | 'swiotlb' | 'bus-address' | 'host-bridge';
}

export class DeviceDma {
  readonly #ctx: DmaContext;
  readonly #pci: PciDevice;
  readonly #deviceId: number;
  readonly #dmaLimit: number;
  // Per BAR owner: [route is BUS_ADDR, host bridge routes P2P]; the topology never changes.
  readonly #reach = new Map<PciDevice, readonly [boolean, boolean]>();

  constructor(ctx: DmaContext, pci: PciDevice, deviceId: number, dmaLimit: number) {
    this.#ctx = ctx;
    this.#pci = pci;
    this.#deviceId = deviceId;
    this.#dmaLimit = dmaLimit;
  }

  /**
   * Where [dmaAddress, dmaAddress + length) lands, or a DeviceFaultError (ERR_DEVICE_FAULT)
   * saying why the device cannot reach it.
   */
  resolve(dmaAddress: number, length: number): DmaTarget {
    if (!Number.isSafeInteger(dmaAddress) || dmaAddress < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new InvalidArgumentError('dmaAddress and length must be non-negative integers', { argument: 'dmaAddress' });
    }
    const ctx = this.#ctx;
    const fault = (why: string) => new DeviceFaultError(`${this.#pci.bdf}: DMA to 0x${dmaAddress.toString(16)}+${length} faults: ${why}`, { device: this.#pci.bdf, dmaAddress, length });
    const inLimit = dmaAddress + Math.max(length, 1) - 1 <= this.#dmaLimit;

    // Any access touching a pool (dynamic pools live inside host RAM) is a swiotlb access: it must
    // stay inside one live mapping of this device.
    if (ctx.pool.overlaps(dmaAddress, length)) {
      if (!inLimit) throw fault('beyond the device DMA mask');
      const record = ctx.bounced.containing(dmaAddress, length);
      if (record === undefined || record.deviceId !== this.#deviceId) throw fault('swiotlb slot not mapped for this device');
      if (record.state !== 'live') throw fault(`swiotlb mapping is not live (${record.state === 'mapping' ? 'its map has not resolved' : 'it is being unmapped'})`);
      return { offset: record.slotOffset + (dmaAddress - record.tlbAddr), via: 'swiotlb' };
    }
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
    const { offset } = this.resolve(dmaAddress, length);
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
    const { offset } = this.resolve(dmaAddress, length);
    this.#ctx.fabric.bytes.set(bytes, offset);
  }
}

// The intrinsic %TypedArray%.prototype.length getter, immune to own or prototype overrides.
const lengthGetter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, 'length')!.get!;
function typedArrayLength(array: Uint8Array): number {
  return lengthGetter.call(array) as number;
}
