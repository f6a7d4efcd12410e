// DMA directions and attributes, with the kernel's values (include/linux/dma-direction.h,
// include/linux/dma-mapping.h).
import { InvalidArgumentError } from '../errors.js';
import { describe } from '../fabric/input.js';

export const DmaDirection = {
  BIDIRECTIONAL: 0,
  TO_DEVICE: 1,
  FROM_DEVICE: 2,
  /** Invalid for streaming mappings. */
  NONE: 3,
} as const;
export type DmaDirection = (typeof DmaDirection)[keyof typeof DmaDirection];
export type StreamingDirection = Exclude<DmaDirection, 3>;

// The DMA_ATTR_* bits of include/linux/dma-mapping.h, with the kernel's values. The model acts on
// SKIP_CPU_SYNC and MMIO; the others are accepted (a replayed trace carries them) and change nothing.
/** The device may reorder writes (PCIe relaxed ordering). */
export const DMA_ATTR_WEAK_ORDERING = 1 << 1;
/** Coherent allocations: write-combined mapping. */
export const DMA_ATTR_WRITE_COMBINE = 1 << 2;
/** Coherent allocations: no kernel virtual mapping. */
export const DMA_ATTR_NO_KERNEL_MAPPING = 1 << 4;
/** Skip the unmap-time copy-back and cache maintenance (the map-time copy-in still happens). */
export const DMA_ATTR_SKIP_CPU_SYNC = 1 << 5;
/** Coherent allocations: physically contiguous. */
export const DMA_ATTR_FORCE_CONTIGUOUS = 1 << 6;
/** Coherent allocations: single pages are enough. */
export const DMA_ATTR_ALLOC_SINGLE_PAGES = 1 << 7;
/** Do not warn when the mapping fails. */
export const DMA_ATTR_NO_WARN = 1 << 8;
/** The mapping is for privileged accesses only. */
export const DMA_ATTR_PRIVILEGED = 1 << 9;
/** The range is device memory (MMIO), not RAM: no CPU sync, never swiotlb (Linux 6.18). */
export const DMA_ATTR_MMIO = 1 << 10;

/** Every attribute bit with its kernel name, in the kernel's table order (what a trace prints). */
export const DMA_ATTR_NAMES: readonly (readonly [bit: number, name: string])[] = [
  [DMA_ATTR_WEAK_ORDERING, 'WEAK_ORDERING'],
  [DMA_ATTR_WRITE_COMBINE, 'WRITE_COMBINE'],
  [DMA_ATTR_NO_KERNEL_MAPPING, 'NO_KERNEL_MAPPING'],
  [DMA_ATTR_SKIP_CPU_SYNC, 'SKIP_CPU_SYNC'],
  [DMA_ATTR_FORCE_CONTIGUOUS, 'FORCE_CONTIGUOUS'],
  [DMA_ATTR_ALLOC_SINGLE_PAGES, 'ALLOC_SINGLE_PAGES'],
  [DMA_ATTR_NO_WARN, 'NO_WARN'],
  [DMA_ATTR_PRIVILEGED, 'PRIVILEGED'],
  [DMA_ATTR_MMIO, 'MMIO'],
];
const KNOWN_ATTRS = DMA_ATTR_NAMES.reduce((mask, [bit]) => mask | bit, 0);

const NAMES = ['BIDIRECTIONAL', 'TO_DEVICE', 'FROM_DEVICE', 'NONE'] as const;

/** The direction's kernel name ('TO_DEVICE', ...). */
export function directionName(direction: number): string {
  return NAMES[direction] ?? `invalid(${direction})`;
}

/** Throws ERR_INVALID_ARGUMENT unless `direction` is BIDIRECTIONAL, TO_DEVICE or FROM_DEVICE (models valid_dma_direction()). */
export function checkDirection(direction: unknown): asserts direction is StreamingDirection {
  if (direction !== 0 && direction !== 1 && direction !== 2) {
    throw new InvalidArgumentError(`direction ${describe(direction)} is not BIDIRECTIONAL (0), TO_DEVICE (1) or FROM_DEVICE (2)`, { argument: 'direction' });
  }
}

/** Throws ERR_INVALID_ARGUMENT unless `attrs` is a combination of the DMA_ATTR_* bits. */
export function checkAttrs(attrs: unknown): asserts attrs is number {
  if (typeof attrs !== 'number' || (attrs >>> 0) !== attrs || (attrs & ~KNOWN_ATTRS) !== 0) {
    throw new InvalidArgumentError(`attrs ${describe(attrs)} has bits that are no DMA_ATTR_* attribute`, { argument: 'attrs' });
  }
}

/** Whether the device may write the memory (FROM_DEVICE or BIDIRECTIONAL). */
export function deviceWrites(direction: StreamingDirection): boolean {
  return direction !== DmaDirection.TO_DEVICE;
}

/** Whether the device reads the memory (TO_DEVICE or BIDIRECTIONAL). */
export function deviceReads(direction: StreamingDirection): boolean {
  return direction !== DmaDirection.FROM_DEVICE;
}
