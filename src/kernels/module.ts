// The kernels' WebAssembly module: compiled once per thread, instantiated over any shared memory.
import { readFileSync } from 'node:fs';

/** The raw exports of build/kernels.wasm. Addresses are fabric offsets; u32 results come back signed. */
export interface KernelExports {
  copy(dst: number, src: number, len: number): void;
  checkSg(table: number, count: number, lo: number, hi: number): number;
  checkList(list: number, count: number, lo: number, hi: number): number;
  /** Bytes copied, or -1 - i when entry i leaves [lo, hi) (entries before it were copied). */
  copySg(table: number, count: number, lo: number, hi: number): number;
  /** Bytes copied (the smaller total), or -1 - 2i / -2 - 2i when destination / source entry i leaves [lo, hi) (the bytes before it copied). */
  copySgLists(dstList: number, dstCount: number, srcList: number, srcCount: number, lo: number, hi: number): number;
  fill(dst: number, pattern: bigint, len: number): void;
  compare(a: number, b: number, len: number): number;
  crc32cInitTable(table: number): void;
  crc32c(table: number, ptr: number, len: number, seed: number): number;
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
