// The bytes behind a p2pmem BAR have one owner: the BAR's p2pmem provider (the kernel's genpool,
// pci_alloc_p2pmem()). The fabric region that backs the BAR allocates through it, so
// `system.barMemory(...).allocate()` and `provider.allocate()` can never hand out the same bytes.
import { AllocationError, InvalidArgumentError } from '../errors.js';
import { describe } from '../fabric/input.js';
import type { AllocatorStats, PhysAllocator } from '../fabric/index.js';
import { P2PMEM_PAGE_SIZE, type P2pmemProvider } from '../pci/index.js';

/** A PhysAllocator over a p2pmem provider, limited to the part of the BAR that has backing memory. */
export function providerAllocator(provider: P2pmemProvider, backed: number): PhysAllocator {
  const base = provider.bar.phys;
  const sizes = new Map<number, number>();
  return {
    allocate(length: number, alignment = 1): number {
      if (!Number.isSafeInteger(alignment) || alignment < 1 || (alignment & (alignment - 1)) !== 0 || alignment > P2PMEM_PAGE_SIZE) {
        throw new InvalidArgumentError(`alignment ${describe(alignment)} must be a power of two up to ${P2PMEM_PAGE_SIZE} (p2pmem hands out whole pages)`, { argument: 'alignment' });
      }
      if (!Number.isSafeInteger(length) || length < 1) throw new InvalidArgumentError(`size ${describe(length)} must be at least 1 byte`, { argument: 'size' });
      let taken;
      try {
        taken = provider.allocate(length);
      } catch (error) {
        // The region's callers get the region's code; the provider's error stays as the cause.
        if ((error as { reason?: unknown }).reason === 'exhausted') throw new AllocationError(`BAR memory of ${provider.bdf}: ${(error as Error).message}`, { requested: length, alignment, free: provider.available, cause: error });
        throw error;
      }
      if (taken.phys + length > base + backed) {
        provider.free(taken);
        throw new AllocationError(`BAR memory of ${provider.bdf}: no ${length} bytes free inside the ${backed} bytes with backing memory`, { requested: length, alignment, free: provider.available });
      }
      sizes.set(taken.phys, taken.size);
      return taken.phys;
    },
    free(phys: number): void {
      const size = sizes.get(phys);
      provider.free({ phys, size: size ?? 0 });
      sizes.delete(phys);
    },
    stats(): AllocatorStats {
      // Allocation is first fit from the BAR's start, so the backed part fills first.
      const free = Math.min(provider.available, backed);
      return { size: backed, used: backed - free, free, allocations: provider.allocations, largestFree: Math.min(provider.largestFree, free) };
    },
  };
}
