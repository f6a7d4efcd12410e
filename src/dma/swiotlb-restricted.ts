// Restricted DMA pools (CONFIG_DMA_RESTRICTED_POOL, v5.15): a device-tree reserved-memory node
// with compatible = "restricted-dma-pool" becomes an io_tlb_mem of its own, shared by the devices
// whose memory-region names it. It has one pool of one area; every streaming map of those devices
// bounces through it (force_bounce), and their coherent allocations come from it (for_alloc,
// swiotlb_alloc()). It never grows.
import { InvalidArgumentError } from '../errors.js';
import { parseSize, type Size } from '../size.js';
import { IO_TLB_SHIFT, MEM_RESTRICTED, hex } from './swiotlb-internal.js';
import { SwiotlbMem, type SwiotlbMemOptions } from './swiotlb-mem.js';

/** A reserved-memory node as the device tree gives it. */
export interface RestrictedDmaPoolNode {
  /** The node's name (debugfs shows the pool's counters under it), e.g. "restricted_dma_reserved". */
  readonly name: string;
  /** Physical (= DMA) base of the region, page aligned. */
  readonly base: number;
  /** Bytes; the pool takes size >> 11 slots (any whole number of 2 KiB slots, at least one). */
  readonly size: Size;
  /**
   * Other properties of the node, by name. `reusable`, `linux,cma-default`, `linux,dma-default`
   * and `no-map` make the kernel refuse the node (rmem_swiotlb_setup() returns -EINVAL).
   */
  readonly properties?: readonly string[];
}

const REFUSED_PROPERTIES = ['reusable', 'linux,cma-default', 'linux,dma-default', 'no-map'];
const MAX_RESTRICTED_BYTES = 2 ** 32;

/**
 * Builds the io_tlb_mem of a restricted-dma-pool node: one pool of size >> 11 slots in one area,
 * `forceBounce` and `forAlloc` set, not dynamic. Give the same mem to every device the node
 * serves. Throws InvalidArgumentError (ERR_INVALID_ARGUMENT, field `argument`; `property` for a
 * property the kernel refuses) for a bad node, InvalidSizeError (ERR_INVALID_SIZE) for a size that
 * is not a size; builds nothing then.
 */
// models rmem_swiotlb_setup() and rmem_swiotlb_device_init()
export function createRestrictedDmaPool(node: RestrictedDmaPoolNode): SwiotlbMem {
  if (typeof node !== 'object' || node === null) {
    throw new InvalidArgumentError('restricted-dma-pool: the node must be an object', { argument: 'node' });
  }
  const { name, base, size, properties = [] } = node;
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError('restricted-dma-pool: name must be a non-empty string', { argument: 'name' });
  }
  if (!Array.isArray(properties)) {
    throw new InvalidArgumentError('restricted-dma-pool: properties must be an array of property names', { argument: 'properties' });
  }
  const names: unknown[] = [...properties]; // read once
  if (names.some((p) => typeof p !== 'string')) {
    throw new InvalidArgumentError('restricted-dma-pool: properties must be an array of property names', { argument: 'properties' });
  }
  const refused = (names as string[]).find((p) => REFUSED_PROPERTIES.includes(p));
  if (refused !== undefined) {
    throw new InvalidArgumentError(`restricted-dma-pool ${name}: the kernel refuses a node with "${refused}"`, { argument: 'properties', property: refused });
  }
  const bytes = parseSize(size, 'size');
  const slots = Math.floor(bytes / 2 ** IO_TLB_SHIFT); // nslabs = rmem->size >> IO_TLB_SHIFT
  if (slots < 1 || bytes > MAX_RESTRICTED_BYTES) {
    throw new InvalidArgumentError(`restricted-dma-pool ${name}: size must be 2KiB..4GiB, got ${bytes}`, { argument: 'size', value: bytes });
  }
  if (!Number.isSafeInteger(base) || base < 0 || base % 4096 !== 0) {
    throw new InvalidArgumentError(`restricted-dma-pool ${name}: base must be a page-aligned address, got 0x${hex(base)}`, { argument: 'base', value: base });
  }
  return new SwiotlbMem({ base, [MEM_RESTRICTED]: { name, slots } } as SwiotlbMemOptions);
}
