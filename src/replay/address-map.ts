// Where a capture's physical addresses land in the model. A real machine's RAM can sit anywhere
// in 64 bits; the model's fabric holds at most 4 GiB. Every 4 KiB page the capture touches gets a
// page of model RAM: pages below 4 GiB in a region below 4 GiB, pages above it in a region above,
// each in address order with the untouched gaps left out. So offsets within pages, 32-bit
// reachability and overlaps (the same page, the same model page) survive, and a range over
// neighbouring pages stays contiguous.
import { TraceReplayError } from '../errors.js';

/** The granule capture addresses are given model memory in (a 4 KiB page). */
export const REPLAY_PAGE = 4096;
const LOW_LIMIT_PAGE = 2 ** 32 / REPLAY_PAGE;

/** A physical range replayed at the same address: the backing memory of a topology's p2pmem BAR, as the model places it. */
export interface IdentityRange {
  readonly phys: number;
  readonly size: number;
}

function inside(ranges: readonly IdentityRange[], phys: number): boolean {
  for (const r of ranges) if (phys >= r.phys && phys < r.phys + r.size) return true;
  return false;
}

/** Collects the pages of every range a capture names (the first pass over the capture). */
export class PageCollector {
  // First page -> the furthest last page of a range starting there: one entry per distinct start.
  readonly #ranges = new Map<number, number>();

  /** `identity`: ranges kept at their own address (BAR memory), not given RAM. */
  constructor(private readonly identity: readonly IdentityRange[] = []) {}

  /** Notes [phys, phys + size); a size of 0 counts as one byte. Returns false for what it passes over: negative (unknown) addresses and identity ranges. */
  add(phys: number, size: number): boolean {
    if (!(phys >= 0) || !Number.isFinite(phys)) return false;
    if (this.identity.length > 0 && inside(this.identity, phys)) return false;
    const first = Math.floor(phys / REPLAY_PAGE);
    const last = Math.floor((phys + Math.max(size, 1) - 1) / REPLAY_PAGE);
    const known = this.#ranges.get(first);
    if (known === undefined || last > known) this.#ranges.set(first, last);
    return true;
  }

  /** Whether `phys` is in an identity range (replayed as itself). */
  isIdentity(phys: number): boolean {
    return this.identity.length > 0 && inside(this.identity, phys);
  }

  /** The touched pages as sorted, disjoint, non-adjacent runs [first, last]. */
  runs(): { starts: Float64Array; ends: Float64Array } {
    const starts = Float64Array.from(this.#ranges.keys()).sort();
    const outStarts: number[] = [];
    const outEnds: number[] = [];
    for (const start of starts) {
      const end = this.#ranges.get(start)!;
      const n = outEnds.length;
      if (n > 0 && start <= outEnds[n - 1]! + 1) {
        if (end > outEnds[n - 1]!) outEnds[n - 1] = end;
      } else {
        outStarts.push(start);
        outEnds.push(end);
      }
    }
    return { starts: Float64Array.from(outStarts), ends: Float64Array.from(outEnds) };
  }

  /** Distinct pages touched. */
  get pages(): number {
    const { starts, ends } = this.runs();
    let n = 0;
    for (let i = 0; i < starts.length; i++) n += ends[i]! - starts[i]! + 1;
    return n;
  }

  /** The plan: low pages at `lowBase` (below 4 GiB), high pages at `highBase`. Throws as AddressPlan does. */
  plan(lowBase: number, highBase: number, budget: number): AddressPlan {
    const { starts, ends } = this.runs();
    return new AddressPlan(starts, ends, lowBase, highBase, budget, this.identity);
  }

  /** The plan for device memory: every page, low or high, packed from `base` (a BAR's backing memory) within `budget` bytes. */
  planAt(base: number, budget: number): AddressPlan {
    const { starts, ends } = this.runs();
    return new AddressPlan(starts, ends, base, base, budget, this.identity, true);
  }
}

/** Capture page → model address, by binary search over the runs of touched pages. */
export class AddressPlan {
  readonly lowBytes: number;
  readonly highBytes: number;
  readonly lowBase: number;
  readonly highBase: number;
  readonly #starts: Float64Array;
  readonly #ends: Float64Array;
  readonly #model: Float64Array;

  /**
   * `starts`/`ends`: sorted disjoint runs of pages. Throws TraceReplayError (ERR_TRACE_REPLAY) when
   * the pages need more than `budget` bytes or the low ones do not fit below 4 GiB.
   */
  constructor(starts: Float64Array, ends: Float64Array, lowBase: number, highBase: number, budget: number, private readonly identity: readonly IdentityRange[] = [], packed = false) {
    // A run across the 4 GiB line is split there, so each side keeps its reachability (unless `packed`: one region for all).
    const s: number[] = [];
    const e: number[] = [];
    for (let i = 0; i < starts.length; i++) {
      const a = starts[i]!;
      const b = ends[i]!;
      if (!packed && a < LOW_LIMIT_PAGE && b >= LOW_LIMIT_PAGE) {
        s.push(a, LOW_LIMIT_PAGE);
        e.push(LOW_LIMIT_PAGE - 1, b);
      } else {
        s.push(a);
        e.push(b);
      }
    }
    this.#starts = Float64Array.from(s);
    this.#ends = Float64Array.from(e);
    this.#model = new Float64Array(s.length);
    let low = 0;
    let high = 0;
    for (let i = 0; i < s.length; i++) {
      const pages = e[i]! - s[i]! + 1;
      if (packed || s[i]! < LOW_LIMIT_PAGE) {
        this.#model[i] = lowBase + low * REPLAY_PAGE;
        low += pages;
      } else {
        this.#model[i] = highBase + high * REPLAY_PAGE;
        high += pages;
      }
    }
    this.lowBytes = low * REPLAY_PAGE;
    this.highBytes = high * REPLAY_PAGE;
    this.lowBase = lowBase;
    this.highBase = highBase;
    if (this.lowBytes + this.highBytes > budget) {
      throw new TraceReplayError(`the capture touches ${low + high} distinct 4 KiB pages (${this.lowBytes + this.highBytes} bytes), more than the ${budget} bytes the model has room for there (its fabric holds 4 GiB: RAM, the pool and the BARs' backing)`, { reason: 'memory' });
    }
    if (!packed && lowBase + this.lowBytes > 2 ** 32) {
      throw new TraceReplayError(`the capture's ${this.lowBytes} bytes below 4 GiB do not fit between 0x${lowBase.toString(16)} and 4 GiB in the model`, { reason: 'memory' });
    }
  }

  /** Whether `phys` is in an identity range (replayed as itself). */
  isIdentity(phys: number): boolean {
    return this.identity.length > 0 && inside(this.identity, phys);
  }

  /** The model address of capture address `phys`, or -1 for an address the first pass never saw. */
  translate(phys: number): number {
    if (!(phys >= 0)) return -1;
    if (this.identity.length > 0 && inside(this.identity, phys)) return phys;
    const page = Math.floor(phys / REPLAY_PAGE);
    const starts = this.#starts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= page) lo = mid + 1;
      else hi = mid - 1;
    }
    if (hi < 0 || page > this.#ends[hi]!) return -1;
    return this.#model[hi]! + (phys - starts[hi]! * REPLAY_PAGE);
  }
}
