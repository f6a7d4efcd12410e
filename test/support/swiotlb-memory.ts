// A page allocator for dynamic swiotlb tests: a buddy-like arena that hands out naturally aligned
// power-of-two blocks (as alloc_pages() does), can be told to fail, checks every free against
// what it gave, and logs every call. Two instances built alike answer the same calls alike, so a
// reference model can own one and the model under test the other.
import { makeRng, type Rng } from './random.js';

const PAGE = 4096;

export interface MemoryCall {
  readonly op: 'alloc' | 'free';
  readonly bytes: number;
  readonly transient: boolean;
  readonly phys: number | undefined;
  readonly physLimit?: number;
}

export interface FakePoolMemoryOptions {
  /** First and one-past-last byte of the arena. */
  readonly lo: number;
  readonly hi: number;
  /** Chance that a transient allocation fails (GFP_NOWAIT). Default 0. */
  readonly transientFailRate?: number;
  /** Chance that a growth allocation fails (GFP_KERNEL, per size tried). Default 0. */
  readonly growthFailRate?: number;
  /** Allocations of this many bytes or more fail (a fragmented machine). Default: none. */
  readonly failFrom?: number;
  /** Seed of the failure dice. */
  readonly seed?: number;
  /** Ignore physLimit and hand out the lowest block (to exercise the model's give-back). Default false. */
  readonly ignoreLimit?: boolean;
}

export class FakePoolMemory {
  readonly calls: MemoryCall[] = [];
  /** Live blocks: phys -> bytes asked for. */
  readonly live = new Map<number, number>();
  private readonly rng: Rng;

  constructor(private readonly options: FakePoolMemoryOptions) {
    this.rng = makeRng(options.seed ?? 1);
  }

  readonly alloc = (bytes: number, request: { readonly transient: boolean; readonly physLimit: number }): { phys: number } | undefined => {
    const { transient, physLimit } = request;
    const rate = transient ? this.options.transientFailRate ?? 0 : this.options.growthFailRate ?? 0;
    const roll = this.rng.next(); // rolled on every call, so two instances stay in step
    let phys: number | undefined;
    if (roll >= rate && !(this.options.failFrom !== undefined && bytes >= this.options.failFrom)) phys = this.place(bytes, this.options.ignoreLimit ? Number.MAX_SAFE_INTEGER : physLimit);
    if (phys !== undefined) this.live.set(phys, bytes);
    this.calls.push({ op: 'alloc', bytes, transient, phys, physLimit });
    return phys === undefined ? undefined : { phys };
  };

  readonly free = (phys: number, bytes: number, request: { readonly transient: boolean }): void => {
    if (this.live.get(phys) !== bytes) throw new Error(`fake memory: free(0x${phys.toString(16)}, ${bytes}) of nothing given (live: ${this.live.get(phys)})`);
    this.live.delete(phys);
    this.calls.push({ op: 'free', bytes, transient: request.transient, phys });
  };

  /** Bytes handed out and not given back. */
  get outstanding(): number {
    let sum = 0;
    for (const bytes of this.live.values()) sum += bytes;
    return sum;
  }

  /** The lowest naturally aligned free block of the power of two pages that holds `bytes`, ending at or below `limit`. */
  private place(bytes: number, limit: number): number | undefined {
    let block = PAGE;
    while (block < bytes) block *= 2;
    const taken = [...this.live].map(([phys, b]) => [phys, phys + roundBlock(b)] as const).sort((a, b) => a[0] - b[0]);
    for (let phys = Math.ceil(this.options.lo / block) * block; phys + block <= this.options.hi; phys += block) {
      if (phys + bytes - 1 > limit) return undefined;
      if (!taken.some(([s, e]) => phys < e && s < phys + block)) return phys;
    }
    return undefined;
  }
}

function roundBlock(bytes: number): number {
  let block = PAGE;
  while (block < bytes) block *= 2;
  return block;
}
