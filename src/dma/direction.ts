// DMA directions and attributes, with the kernel's values (include/linux/dma-direction.h,
// include/linux/dma-mapping.h).
import { InvalidArgumentError } from '../errors.js';

export const DmaDirection = {
  BIDIRECTIONAL: 0,
  TO_DEVICE: 1,
  FROM_DEVICE: 2,
  /** Invalid for streaming mappings. */
  NONE: 3,
} as const;
export type DmaDirection = (typeof DmaDirection)[keyof typeof DmaDirection];
export type StreamingDirection = Exclude<DmaDirection, 3>;

/** Skip the unmap-time copy-back and cache maintenance (the map-time copy-in still happens). */
export const DMA_ATTR_SKIP_CPU_SYNC = 1 << 5;
const KNOWN_ATTRS = DMA_ATTR_SKIP_CPU_SYNC;

const NAMES = ['BIDIRECTIONAL', 'TO_DEVICE', 'FROM_DEVICE', 'NONE'] as const;

/** The direction's kernel name ('TO_DEVICE', ...). */
export function directionName(direction: number): string {
  return NAMES[direction] ?? `invalid(${direction})`;
}

/** Throws ERR_INVALID_ARGUMENT unless `direction` is BIDIRECTIONAL, TO_DEVICE or FROM_DEVICE (models valid_dma_direction()). */
export function checkDirection(direction: unknown): asserts direction is StreamingDirection {
  if (direction !== 0 && direction !== 1 && direction !== 2) {
    throw new InvalidArgumentError(`direction ${String(direction)} is not BIDIRECTIONAL (0), TO_DEVICE (1) or FROM_DEVICE (2)`, { argument: 'direction' });
  }
}

/** Throws ERR_INVALID_ARGUMENT for attributes other than DMA_ATTR_SKIP_CPU_SYNC. */
export function checkAttrs(attrs: unknown): asserts attrs is number {
  if (typeof attrs !== 'number' || (attrs >>> 0) !== attrs || (attrs & ~KNOWN_ATTRS) !== 0) {
    throw new InvalidArgumentError(`attrs ${String(attrs)} has bits other than DMA_ATTR_SKIP_CPU_SYNC`, { argument: 'attrs' });
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
