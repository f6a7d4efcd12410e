// Where a capture's physical addresses land in the model. A real machine's RAM can sit anywhere
// in 64 bits; the model's fabric holds at most 4 GiB. Every 4 KiB page the capture touches gets a
// page of model RAM: pages below 4 GiB in a region below 4 GiB, pages above it in a region above,
// each in address order. So offsets within pages, 32-bit reachability and overlaps (the same
// page, the same model page) survive, and a range over neighbouring pages stays contiguous.
import { TraceReplayError } from '../errors.js';

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
  readonly #pages = new Set<number>();

  /** `identity`: ranges kept at their own address (BAR memory), not given RAM. */
  constructor(private readonly identity: readonly IdentityRange[] = []) {}

  /** Notes [phys, phys + size); a size of 0 counts as one byte. Ignores negative (unknown) addresses. */
  add(phys: number, size: number): void {
    if (!(phys >= 0) || !Number.isFinite(phys)) return;
    if (this.identity.length > 0 && inside(this.identity, phys)) return;
    const first = Math.floor(phys / REPLAY_PAGE);
    const last = Math.floor((phys + Math.max(size, 1) - 1) / REPLAY_PAGE);
    for (let p = first; p <= last; p++) this.#pages.add(p);
  }

  get pages(): number {
    return this.#pages.size;
  }

  /** The plan: low pages at `lowBase` (below 4 GiB), high pages at `highBase`. */
  plan(lowBase: number, highBase: number, budget: number): AddressPlan {
    return new AddressPlan([...this.#pages].sort((a, b) => a - b), lowBase, highBase, budget, this.identity);
  }
}

/** Capture page → model address. */
export class AddressPlan {
  readonly lowBytes: number;
  readonly highBytes: number;
  readonly lowBase: number;
  readonly highBase: number;
  readonly #model = new Map<number, number>();

  /** Throws TraceReplayError (ERR_TRACE_REPLAY) when the pages need more than `budget` bytes or the low ones do not fit below 4 GiB. */
  constructor(sortedPages: readonly number[], lowBase: number, highBase: number, budget: number, private readonly identity: readonly IdentityRange[] = []) {
    let low = 0;
    let high = 0;
    for (const page of sortedPages) {
      if (page < LOW_LIMIT_PAGE) this.#model.set(page, lowBase + REPLAY_PAGE * low++);
      else this.#model.set(page, highBase + REPLAY_PAGE * high++);
    }
    this.lowBytes = low * REPLAY_PAGE;
    this.highBytes = high * REPLAY_PAGE;
    this.lowBase = lowBase;
    this.highBase = highBase;
    if (this.lowBytes + this.highBytes > budget) {
      throw new TraceReplayError(`the capture touches ${sortedPages.length} distinct 4 KiB pages (${this.lowBytes + this.highBytes} bytes), more than the ${budget} bytes of RAM the model's 4 GiB fabric has room for next to the pool and the BARs`, { reason: 'memory' });
    }
    if (lowBase + this.lowBytes > 2 ** 32) {
      throw new TraceReplayError(`the capture's ${this.lowBytes} bytes below 4 GiB do not fit between 0x${lowBase.toString(16)} and 4 GiB in the model`, { reason: 'memory' });
    }
  }

  /** The model address of capture address `phys`, or -1 for an address the first pass never saw. */
  translate(phys: number): number {
    if (!(phys >= 0)) return -1;
    if (this.identity.length > 0 && inside(this.identity, phys)) return phys;
    const page = Math.floor(phys / REPLAY_PAGE);
    const base = this.#model.get(page);
    return base === undefined ? -1 : base + (phys - page * REPLAY_PAGE);
  }
}
