// Restricted DMA pools as a system option: the device tree's `restricted-dma-pool` nodes, each a
// stretch of memory of its own and the devices whose `memory-region` names it. A device with one
// gets its own swiotlb view (the kernel's dev->dma_io_tlb_mem): every streaming map bounces
// through that pool (force_bounce), and its coherent allocations come from it (swiotlb_alloc()).
import { InvalidArgumentError } from '../errors.js';
import { parseSize, type Size } from '../size.js';

/** One restricted-dma-pool node and the devices (BDFs) it serves. */
export interface RestrictedPoolDefinition {
  /** The node's name, e.g. "restricted_dma_reserved". */
  readonly name: string;
  /** Physical (= DMA) base, page aligned; must not overlap any other region. */
  readonly phys: number;
  /** Bytes, a whole number of 4 KiB pages (the pool takes size >> 11 slots). */
  readonly size: Size;
  /** The endpoints whose memory-region names this node. */
  readonly devices: readonly string[];
  /** Other properties of the node (the kernel refuses `reusable`, `no-map`, ...). */
  readonly properties?: readonly string[];
}

/** A checked snapshot of the definitions. */
export interface RestrictedPoolPlan {
  readonly name: string;
  readonly phys: number;
  readonly size: number;
  readonly devices: readonly string[];
  readonly properties: readonly string[];
}

/**
 * Reads the definitions once and checks their shape (the pool model checks the node itself).
 * Throws InvalidArgumentError naming `restrictedPools[i]...` for a bad one, and when a device is
 * named by two pools.
 */
export function restrictedPoolPlans(given: unknown): RestrictedPoolPlan[] {
  if (given === undefined) return [];
  if (!Array.isArray(given) || given.length > 64) throw new InvalidArgumentError('restrictedPools must be an array of at most 64 { name, phys, size, devices }', { argument: 'restrictedPools' });
  const claimed = new Map<string, string>();
  const plans: RestrictedPoolPlan[] = [];
  for (let i = 0; i < given.length; i++) {
    const at = `restrictedPools[${i}]`;
    const d: unknown = given[i];
    if (d === null || typeof d !== 'object') throw new InvalidArgumentError(`${at} must be { name, phys, size, devices }`, { argument: at });
    const { name, phys, size, devices, properties = [] } = { ...(d as Record<string, unknown>) } as { name?: unknown; phys?: unknown; size?: unknown; devices?: unknown; properties?: unknown };
    if (typeof name !== 'string' || name === '') throw new InvalidArgumentError(`${at}.name must be a non-empty string`, { argument: `${at}.name` });
    if (typeof phys !== 'number' || !Number.isSafeInteger(phys) || phys < 0 || phys % 4096 !== 0) throw new InvalidArgumentError(`${at}.phys must be a page-aligned address`, { argument: `${at}.phys` });
    const bytes = parseSize(size as Size, `${at}.size`);
    if (bytes < 4096 || bytes % 4096 !== 0) throw new InvalidArgumentError(`${at}.size must be a whole number of 4 KiB pages`, { argument: `${at}.size` });
    if (!Array.isArray(devices) || devices.length === 0) throw new InvalidArgumentError(`${at}.devices must list the BDFs the pool serves`, { argument: `${at}.devices` });
    const bdfs = [...devices];
    for (const bdf of bdfs) {
      if (typeof bdf !== 'string') throw new InvalidArgumentError(`${at}.devices must hold BDF strings`, { argument: `${at}.devices` });
      const other = claimed.get(bdf);
      if (other !== undefined) throw new InvalidArgumentError(`${bdf} is in two restricted pools (${other} and ${name}): a device has one memory-region`, { argument: `${at}.devices` });
      claimed.set(bdf, name);
    }
    if (!Array.isArray(properties)) throw new InvalidArgumentError(`${at}.properties must be an array of property names`, { argument: `${at}.properties` });
    plans.push({ name, phys, size: bytes, devices: bdfs as string[], properties: [...properties] as string[] });
  }
  return plans;
}
