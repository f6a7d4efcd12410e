// The DMA layer: re-exports only.
export * from './swiotlb.js';
