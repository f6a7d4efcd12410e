// The kernels' WebAssembly module: compiled once per thread, instantiated over any shared memory.
import { readFileSync } from 'node:fs';

/** The raw exports of build/kernels.wasm. Addresses are fabric offsets; u32 results come back signed. */
export interface KernelExports {
  /** memmove(dst, src, len), unchecked. */
  copy(dst: number, src: number, len: number): void;
  /** Index of the first table entry whose source or destination leaves [lo, hi), or -1. */
  checkSg(table: number, count: number, lo: number, hi: number): number;
  /** Index of the first list entry that leaves [lo, hi), or -1. */
  checkList(list: number, count: number, lo: number, hi: number): number;
  /** Bytes copied, or -1 - i when entry i leaves [lo, hi) (entries before it were copied). */
  copySg(table: number, count: number, lo: number, hi: number): number;
  /** Bytes copied (the smaller total), or -1 - 2i / -2 - 2i when destination / source entry i leaves [lo, hi) (the bytes before it copied). */
  copySgLists(dstList: number, dstCount: number, srcList: number, srcCount: number, lo: number, hi: number): number;
  /** Fills len bytes at dst with the 8-byte little-endian pattern, unchecked. */
  fill(dst: number, pattern: bigint, len: number): void;
  /** Offset of the first differing byte of a and b, or -1. */
  compare(a: number, b: number, len: number): number;
  /** Writes the CRC32C slicing-by-8 table (CRC32C_TABLE_SIZE bytes) at `table`. */
  crc32cInitTable(table: number): void;
  /** CRC32C of len bytes at ptr, chained from `seed` (signed: use `>>> 0`). */
  crc32c(table: number, ptr: number, len: number, seed: number): number;
  /** memmove(dst, src, len) returning the CRC32C of the source bytes (signed: use `>>> 0`). */
  copyCrc32c(table: number, dst: number, src: number, len: number, seed: number): number;
}

/** Where the build puts the kernels: dist/build/, beside the compiled dist/src/. */
export const KERNELS_WASM_URL = new URL('../../build/kernels.wasm', import.meta.url);

let cached: WebAssembly.Module | undefined;

/** The compiled kernels module, compiled on first use and cached (hand it to workers rather than recompiling). */
export function kernelModule(): WebAssembly.Module {
  cached ??= new WebAssembly.Module(readFileSync(KERNELS_WASM_URL));
  return cached;
}

/** Instantiates the kernels over `memory` (must be a shared WebAssembly.Memory). Cheap: no data segments. */
export function instantiateKernels(memory: WebAssembly.Memory, module: WebAssembly.Module = kernelModule()): KernelExports {
  return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
}
