export { Fabric, GUARD_SIZE, MAX_FABRIC_SIZE, PAGE_SIZE, WASM_PAGE } from './fabric.js';
export type { FabricHandle, FabricOptions, RegionDefinition } from './fabric.js';
export { Region, REGION_KINDS } from './region.js';
export type { RegionKind, Span } from './region.js';
export { RangeAllocator } from './allocator.js';
export type { AllocatorStats, PhysAllocator } from './allocator.js';
export { FabricKernels, CRC32C_TABLE_SIZE } from './kernels.js';
export { SgTable, SgList } from './sg-table.js';
