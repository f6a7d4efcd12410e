// kernel/copy/* and kernel/sg/*: the WebAssembly kernels against the best JS ways of moving
// the same bytes in the same shared memory.
import { SgTable, formatSize } from '../../src/index.js';
import { copyBuffers, type CopyBuffers } from './buffers.js';
import { NativeWay, type NativeCopier } from '../native/addon.js';
import type { BenchCase } from '../runner.js';

const JS_METHODS = ['buffer-copy', 'copy-within', 'set-subarray'] as const;
const NATIVE_METHODS = ['native-memcpy', 'native-sse'] as const;
// Tables of segments up to this long also get kernel/sg/native-sse-straight/*.
const SHORT_SEGMENT = 256;
const HUGE_COPY = 64 * 2 ** 20;
const COPY_SIZES = [256, 4096, 65536, 2 ** 20, HUGE_COPY];
// Scatter-gather tables: 1024 segments of 256 B and of 4 KiB (the contract's cases; at 4 KiB each
// side spans 4 MiB, past the 1 MiB L2), 1024 of 64 B (where the per-segment cost is all there
// is), 1024 of 64 KiB (64 MiB a side: DRAM), and 64 of 4 KiB (256 KiB a side, inside the L2),
// which shows the per-segment cost when the cache hierarchy is not the limit.
const SG_CASES = [
  { size: 64, segments: 1024, label: '64B', huge: false },
  { size: 256, segments: 1024, label: '256B', huge: false },
  { size: 4096, segments: 1024, label: '4KiB', huge: false },
  { size: 65536, segments: 1024, label: '64KiB', huge: true },
  { size: 4096, segments: 64, label: '4KiBx64', huge: false },
];

export interface KernelSuiteOptions {
  /** Leave out the 64 MiB copies and the 1024 x 64 KiB table (for --quick). */
  readonly skipHuge?: boolean;
  /**
   * The native addon (bench --native): each scatter-gather table is also copied by glibc's memcpy
   * (kernel/sg/native-memcpy/*) and by the 16-byte loop (kernel/sg/native-sse/*), the same
   * segments at the same slots of the same memory, in the wasm case's rounds; the 64 B and 256 B
   * tables also by straight-line 16-byte moves (kernel/sg/native-sse-straight/*, the 16-byte
   * ceiling, with its ratio against native-memcpy).
   */
  readonly native?: NativeCopier;
  /** The memory to copy in (default: a fabric of its own, copyBuffers()). */
  readonly buffers?: CopyBuffers;
}

/** The kernel cases over one fabric the suite creates. */
export function kernelCases(options: KernelSuiteOptions = {}): BenchCase[] {
  const { fabric, src, dst } = options.buffers ?? copyBuffers();
  const u8 = fabric.bytes;
  const buf = Buffer.from(fabric.buffer);
  const k = fabric.kernels;

  const cases: BenchCase[] = [];
  for (const size of COPY_SIZES) {
    if (options.skipHuge && size > 2 ** 20) continue;
    const label = formatSize(size);
    const name = (method: string) => `kernel/copy/${method}/${label}`;
    const common = { measure: 'bytesPerSecond' as const, unitsPerOp: size };
    // Against the best JS way; a 64 MiB copy against Buffer.copy alone, which is what its target names.
    const baseline = size === HUGE_COPY ? name('buffer-copy') : JS_METHODS.map(name);
    cases.push(
      { ...common, name: name('wasm'), baseline, run: () => k.copy(dst, src, size) },
      { ...common, name: name('buffer-copy'), run: () => { buf.copy(buf, dst, src, src + size); } },
      { ...common, name: name('copy-within'), run: () => { u8.copyWithin(dst, src, src + size); } },
      { ...common, name: name('set-subarray'), run: () => u8.set(u8.subarray(src, src + size), dst) },
    );
  }

  // Scatter-gather: segments at shuffled slots, so neither side is one contiguous run.
  for (const { size, segments: count, label, huge } of SG_CASES) {
    if (options.skipHuge && huge) continue;
    const srcSlots = shuffled(count, size);
    const dstSlots = shuffled(count, size + 1);
    const table = new SgTable(fabric, count);
    const segments: [number, number][] = [];
    for (let i = 0; i < count; i++) {
      const s = src + srcSlots[i]! * size;
      const d = dst + dstSlots[i]! * size;
      table.push(d, s, size);
      segments.push([d, s]);
    }
    const flat = Int32Array.from(segments.flat());
    const name = (method: string) => `kernel/sg/${method}/${label}`;
    const common = { measure: 'bytesPerSecond' as const, unitsPerOp: size * count };
    cases.push(
      { ...common, name: name('wasm'), baseline: JS_METHODS.map(name), ceiling: NATIVE_METHODS.map(name), run: () => { k.copySg(table); } },
      { ...common, name: name('buffer-copy'), run: () => { for (let i = 0; i < flat.length; i += 2) buf.copy(buf, flat[i]!, flat[i + 1]!, flat[i + 1]! + size); } },
      { ...common, name: name('copy-within'), run: () => { for (let i = 0; i < flat.length; i += 2) u8.copyWithin(flat[i]!, flat[i + 1]!, flat[i + 1]! + size); } },
      { ...common, name: name('set-subarray'), run: () => { for (let i = 0; i < flat.length; i += 2) u8.set(u8.subarray(flat[i + 1]!, flat[i + 1]! + size), flat[i]!); } },
    );
    const native = options.native;
    if (native) {
      const triples = Uint32Array.from(segments.flatMap(([d, s]) => [d, s, size]));
      cases.push(
        { ...common, name: name('native-memcpy'), run: () => native.copySg(u8, triples, count, NativeWay.memcpy) },
        { ...common, name: name('native-sse'), run: () => native.copySg(u8, triples, count, NativeWay.sse16) },
      );
      // Short segments: the fastest 16-byte way natively (the kernel's straight-line moves), against
      // glibc's memcpy, so that the AGAINST NATIVE column shows the ceiling WebAssembly SIMD has.
      if (size <= SHORT_SEGMENT) {
        cases.push({ ...common, name: name('native-sse-straight'), ceiling: name('native-memcpy'), run: () => native.copySg(u8, triples, count, NativeWay.sse16Straight) });
      }
    }
  }
  return cases;
}

// A deterministic permutation of n slots (benchmarks must be repeatable).
function shuffled(n: number, seed: number): number[] {
  const slots = Array.from({ length: n }, (_, i) => i);
  let s = seed >>> 0 || 1;
  for (let i = n - 1; i > 0; i--) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    const j = s % (i + 1);
    [slots[i], slots[j]] = [slots[j]!, slots[i]!];
  }
  return slots;
}
