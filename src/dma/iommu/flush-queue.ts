// The lazy-mode flush queue of drivers/iommu/dma-iommu.c: an unmapped IOVA range is not freed
// at once. It waits in the CPU's queue (256 entries, one kept free) stamped with the flush
// counter, and is freed only after an IOTLB flush that started later: on the 10 ms timer, or when
// the CPU's queue is full. Until that flush the IOTLB may still translate the old range.
import type { IommuClock } from './clock.js';

/** Entries per CPU queue (IOVA_DEFAULT_FQ_SIZE); a queue holds one fewer. */
export const IOVA_DEFAULT_FQ_SIZE = 256;
/** ms from the first queued entry to the timer flush (IOVA_DEFAULT_FQ_TIMEOUT). */
export const IOVA_DEFAULT_FQ_TIMEOUT = 10;

interface FqEntry {
  pfn: number;
  pages: number;
  counter: number;
}

class FqRing {
  head = 0;
  tail = 0;
  readonly entries: FqEntry[] = Array.from({ length: IOVA_DEFAULT_FQ_SIZE }, () => ({ pfn: 0, pages: 0, counter: 0 }));
  readonly mask = IOVA_DEFAULT_FQ_SIZE - 1;

  get length(): number {
    return (this.tail - this.head) & this.mask;
  }

  full(): boolean {
    return ((this.tail + 1) & this.mask) === this.head;
  }
}

export interface FlushQueueHooks {
  /** flush_iotlb_all(): stale translations end here. */
  flushIotlbAll(): void;
  /** free_iova_fast() on `cpu`. */
  freeIova(pfn: number, pages: number, cpu: number): void;
}

export class FlushQueue {
  #startCnt = 0;
  #finishCnt = 0;
  #timer: unknown;
  #timerCpu = 0;
  /** Flushes so far (timer, full queue or flushNow()). */
  flushes = 0;
  readonly #rings = new Map<number, FqRing>();
  readonly #hooks: FlushQueueHooks;
  readonly #clock: IommuClock;

  constructor(hooks: FlushQueueHooks, clock: IommuClock) {
    this.#hooks = hooks;
    this.#clock = clock;
  }

  /** Entries waiting in every CPU queue. */
  get pending(): number {
    let n = 0;
    for (const ring of this.#rings.values()) n += ring.length;
    return n;
  }

  // models queue_iova()
  queueIova(pfn: number, pages: number, cpu: number): void {
    let ring = this.#rings.get(cpu);
    if (!ring) {
      ring = new FqRing();
      this.#rings.set(cpu, ring);
    }
    this.#ringFree(ring, cpu);
    if (ring.full()) {
      this.#flushIotlb();
      this.#ringFree(ring, cpu);
    }
    const entry = ring.entries[ring.tail]!;
    ring.tail = (ring.tail + 1) & ring.mask;
    entry.pfn = pfn;
    entry.pages = pages;
    entry.counter = this.#startCnt;
    if (this.#timer === undefined) {
      this.#timerCpu = cpu;
      this.#timer = this.#clock.schedule(IOVA_DEFAULT_FQ_TIMEOUT, () => this.#timeout());
    }
  }

  /** What the timer does, now (fq_flush_timeout()): flush the IOTLB and free every queued range. */
  flushNow(): void {
    if (this.#timer !== undefined) this.#clock.cancel(this.#timer);
    this.#timeout();
  }

  /** Cancels the timer (iommu_dma_free_fq()); queued ranges are dropped with the domain. */
  close(): void {
    if (this.#timer !== undefined) this.#clock.cancel(this.#timer);
    this.#timer = undefined;
  }

  // models fq_flush_timeout()
  #timeout(): void {
    this.#timer = undefined;
    this.#flushIotlb();
    for (const ring of this.#rings.values()) this.#ringFree(ring, this.#timerCpu);
  }

  // models fq_flush_iotlb()
  #flushIotlb(): void {
    this.#startCnt++;
    this.#hooks.flushIotlbAll();
    this.flushes++;
    this.#finishCnt++;
  }

  // models fq_ring_free_locked(): frees the entries queued before the last finished flush.
  #ringFree(ring: FqRing, cpu: number): void {
    const counter = this.#finishCnt;
    while (ring.head !== ring.tail) {
      const entry = ring.entries[ring.head]!;
      if (entry.counter >= counter) break;
      this.#hooks.freeIova(entry.pfn, entry.pages, cpu);
      ring.head = (ring.head + 1) & ring.mask;
    }
  }
}
