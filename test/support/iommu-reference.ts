// A second, independent reading of the iommu-dma map_sg rules (iommu_dma_map_sg(), __finalise_sg()),
// in BigInt so that the unsigned 32-bit and 64-bit arithmetic is the kernel's and not a float's:
// where each entry lands in the IOVA range, how long the range is, and the segments __finalise_sg()
// makes. The tests compare the library's layout with this one, address for address.
export interface RefEntry {
  readonly phys: number;
  readonly length: number;
  /** A BUS_ADDR P2P entry: its bus address (no IOVA). */
  readonly bus?: number;
}

export interface RefLayout {
  /** Bytes of IOVA the list needs (padding included). */
  readonly iovaLength: number;
  /** Each entry's first byte's DMA address relative to the IOVA start (undefined for bus entries). */
  readonly entryOffsets: readonly (number | undefined)[];
  /** The merged segments: [address relative to the IOVA start or absolute bus address, length, isBus]. */
  readonly segments: readonly (readonly [number, number, boolean])[];
}

const U32 = (1n << 32n) - 1n;

export function referenceLayout(entries: readonly RefEntry[], granule: number, boundaryMask: number, maxSegmentSize: number): RefLayout {
  const g = BigInt(granule);
  const mask = BigInt(boundaryMask);
  const offsets: bigint[] = [];
  const iovaLens: bigint[] = [];
  let total = 0n;
  let prev = -1;
  // Positions: each memory entry at the running total, granule-aligned out; pad the previous entry
  // when the next would cross a (mask + 1) boundary.
  for (const [i, e] of entries.entries()) {
    if (e.bus !== undefined) { offsets.push(-1n); iovaLens.push(0n); continue; }
    const off = BigInt(e.phys) % g;
    const len = ((BigInt(e.length) + off + g - 1n) / g) * g;
    const pad = (mask - total + 1n) & mask;
    if (pad !== 0n && pad < len - 1n) {
      iovaLens[prev] = iovaLens[prev]! + pad;
      total += pad;
    }
    offsets.push(total);
    iovaLens.push(len);
    total += len;
    prev = i;
  }
  // Merging, as the kernel's rules say, with the absolute IOVA for the boundary test taken as
  // relative: the allocation is aligned to a power of two at least its size, so the low bits agree
  // whenever mask + 1 <= that power; tests keep to such masks.
  const segments: [number, number, boolean][] = [];
  let curLen = 0n;
  let open = false;
  for (const [i, e] of entries.entries()) {
    if (e.bus !== undefined) {
      const head = entries[0]!;
      const quirk = i === 0 ? e.length : head.bus !== undefined ? head.length : Number(iovaLensAt(entries, granule, boundaryMask, i));
      segments.push([e.bus, quirk, true]);
      curLen = 0n;
      open = false;
      continue;
    }
    const off = BigInt(e.phys) % g;
    const at = offsets[i]!;
    const len = BigInt(e.length);
    const onBoundary = mask >= (1n << 53n) - 1n ? false : at % (mask + 1n) === 0n;
    if (open && curLen !== 0n && off === 0n && !onBoundary && ((BigInt(maxSegmentSize) - curLen) & U32) >= len) {
      curLen = (curLen + len) & U32;
      segments[segments.length - 1]![1] = Number(curLen);
    } else {
      segments.push([Number(at + off), Number(len), false]);
      curLen = len;
      open = true;
    }
    if (len + off < iovaLens[i]!) { curLen = 0n; open = false; }
  }
  return { iovaLength: Number(total), entryOffsets: offsets.map((o, i) => (o < 0n ? undefined : Number(o + BigInt(entries[i]!.phys) % g))), segments };
}

// Entry 0's length as the layout loop has it when it reaches entry `upTo` (aligned, plus padding so far).
function iovaLensAt(entries: readonly RefEntry[], granule: number, boundaryMask: number, upTo: number): bigint {
  const partial = referencePositions(entries.slice(0, upTo), granule, boundaryMask);
  return partial[0]!;
}

function referencePositions(entries: readonly RefEntry[], granule: number, boundaryMask: number): bigint[] {
  const g = BigInt(granule);
  const mask = BigInt(boundaryMask);
  const lens: bigint[] = [];
  let total = 0n;
  let prev = -1;
  for (const [i, e] of entries.entries()) {
    if (e.bus !== undefined) { lens.push(0n); continue; }
    const off = BigInt(e.phys) % g;
    const len = ((BigInt(e.length) + off + g - 1n) / g) * g;
    const pad = (mask - total + 1n) & mask;
    if (pad !== 0n && pad < len - 1n) { lens[prev] = lens[prev]! + pad; total += pad; }
    lens.push(len);
    total += len;
    prev = i;
  }
  return lens;
}
