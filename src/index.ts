/// <reference types="node" preserve="true" />
// The public API of dma-bounce: re-exports only. The declarations use Node's types (and piscina's,
// which need them too): TypeScript users install @types/node, an optional peer dependency.
export * from './errors.js';
export { parseSize, formatSize } from './size.js';
export type { Size } from './size.js';
export * from './fabric/index.js';
export { kernelModule, instantiateKernels, KERNELS_WASM_URL } from './kernels/module.js';
export type { KernelExports } from './kernels/module.js';
export * from './engine/index.js';
export * from './pci/index.js';
export * from './dma/index.js';
export * from './trace/index.js';
export * from './replay/index.js';
