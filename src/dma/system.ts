// DmaSystem: the facade. Builds a fabric from a topology (host RAM below and above 4 GiB,
// the swiotlb pool in low memory, backing memory for p2pmem BARs), starts the copy engine,
// and hands out DmaDevices by BDF.
import { CopyEngine, type EngineOptions } from '../engine/index.js';
import { InvalidArgumentError, InvalidStateError, SystemClosedError, UnknownDeviceError } from '../errors.js';
import { describe } from '../fabric/input.js';
import { Fabric, WASM_PAGE, type Region, type Span } from '../fabric/index.js';
import { buildTopology, loadTopologyJson, Topology, type PciBar, type TopologySpec } from '../pci/index.js';
import { parseSize, type Size } from '../size.js';
import type { BounceRecord, DmaContext } from './context.js';
import { providerAllocator } from './bar-memory.js';
import { DmaDebug, type DmaDebugOptions } from './debug.js';
import { BounceRecords } from './bounce-records.js';
import { DEFAULT_TOPOLOGY } from './default-topology.js';
import { SystemLifecycle, type SystemState } from './lifecycle.js';
import { P2pdmaProviders } from './p2pdma-state.js';
import { DmaDevice, type DmaDeviceOptions } from './mapping.js';
import { restrictedPoolPlans, type RestrictedPoolDefinition } from './restricted.js';
import { SwiotlbMem } from './swiotlb-mem.js';
import { createRestrictedDmaPool } from './swiotlb-restricted.js';
import { Iommu, iommuSettings, type IommuMode, type IommuOptions } from './iommu/iommu.js';
import type { AllocPoolMemory, FreePoolMemory } from './swiotlb-pool-memory.js';
import { DmaTracer, type TraceSpec } from '../trace/index.js';

export interface RamDefinition {
  readonly name: string;
  readonly phys: number;
  readonly size: Size;
}

export interface SystemOptions {
  /** A Topology, its JSON description (object or text); default: the embedded DEFAULT_TOPOLOGY. */
  readonly topology?: Topology | TopologySpec | string;
  /** Host RAM regions; default 64 MiB at 256 MiB (below 4 GiB) and 128 MiB at 4 GiB. */
  readonly ram?: readonly RamDefinition[];
  /**
   * The swiotlb: the default pool's size (default 64 MiB), physical base (default 64 MiB, below
   * 4 GiB) and areas (default 1); `dynamic: true` models CONFIG_SWIOTLB_DYNAMIC (pools added from
   * host RAM when the pools are full, and transient pools for the mapping that found them full).
   */
  readonly swiotlb?: { readonly size?: Size; readonly phys?: number; readonly areas?: number; readonly dynamic?: boolean };
  /**
   * Restricted DMA pools (the device tree's restricted-dma-pool nodes): each its own memory and
   * the devices it serves; those devices bounce every streaming map through it and take their
   * coherent allocations from it. See docs/swiotlb.md.
   */
  readonly restrictedPools?: readonly RestrictedPoolDefinition[];
  /** Bytes of backing memory per p2pmem BAR, from the BAR's start (default 64 MiB; the rest of a larger BAR has none). */
  readonly barBacking?: Size;
  /** Options for the copy engine the bounce copies use. */
  readonly engine?: EngineOptions;
  /** dma-debug (CONFIG_DMA_API_DEBUG): true, or its options; default off. See docs/dma-debug.md. */
  readonly debug?: boolean | DmaDebugOptions;
  /** The IOMMU: 'off' (default: dma-direct only), 'strict', 'lazy', 'identity', or its options. See docs/iommu.md. */
  readonly iommu?: IommuMode | IommuOptions;
  /**
   * The kernel's DMA and swiotlb tracepoints: a callback (line, event), a writable stream, 'iterator'
   * (read system.tracer.lines()), or { sink, format, style, ... }. Default off. See docs/tracing.md.
   */
  readonly trace?: TraceSpec;
}

export const DEFAULT_RAM: readonly RamDefinition[] = [
  { name: 'ram-low', phys: 0x1000_0000, size: '64MiB' },
  { name: 'ram-high', phys: 0x1_0000_0000, size: '128MiB' },
];
const DEFAULT_SWIOTLB = { size: '64MiB', phys: 0x0400_0000, areas: 1, dynamic: false } as const;
const SCRATCH = 16 * 2 ** 20;

export class DmaSystem {
  readonly fabric: Fabric;
  readonly topology: Topology;
  readonly engine: CopyEngine;
  /** The swiotlb io_tlb_mem (its default pool, and the pools a dynamic swiotlb adds). */
  readonly swiotlb: SwiotlbMem;
  /** The dma-debug tracker; undefined when the system was created without `debug`. */
  readonly debug: DmaDebug | undefined;
  /** The IOMMU (its domains, faults, flush queues); undefined when the system has none (`iommu` 'off'). */
  readonly iommu: Iommu | undefined;
  /** The tracer; undefined when the system was created without `trace`. */
  readonly tracer: DmaTracer | undefined;
  readonly #ctx: DmaContext;
  readonly #ram: Region[];
  // Held weakly: a device the caller dropped must not pin memory for the system's lifetime
  // (dma-debug keeps what it needs for leak reports itself).
  readonly #devices = new Set<WeakRef<DmaDevice>>();
  readonly #forget = new FinalizationRegistry<WeakRef<DmaDevice>>((ref) => this.#devices.delete(ref));
  readonly #lifecycle = new SystemLifecycle();
  /** Restricted DMA pools by name, and the view each device of one sees. */
  readonly #restricted = new Map<string, DmaContext>();
  readonly #viewOf = new Map<string, DmaContext>();
  #closing: Promise<void> | undefined;

  /**
   * Builds the system. Throws ERR_TOPOLOGY / ERR_LSPCI_PARSE for a bad topology, ERR_INVALID_SIZE /
   * ERR_INVALID_ARGUMENT / ERR_REGION_CONFLICT for bad memory definitions, a bad `iommu` option or a
   * bad `trace` (see DmaTracer); nothing is left running then.
   */
  static create(options: SystemOptions = {}): DmaSystem {
    return new DmaSystem(options);
  }

  private constructor(given: SystemOptions) {
    if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new InvalidArgumentError('options must be an object', { argument: 'options' });
    // Each option is read once, here; everything below works on the copies.
    const options: SystemOptions = { ...given };
    for (const key of Object.keys(options)) if (!SYSTEM_KEYS.has(key)) throw new InvalidArgumentError(`unknown system option "${key}" (known: ${[...SYSTEM_KEYS].join(', ')})`, { argument: key });
    const topology = toTopology(options.topology);
    const ram = ramDefinitions(options.ram ?? DEFAULT_RAM);
    const swiotlb = options.swiotlb;
    if (swiotlb !== undefined && (swiotlb === null || typeof swiotlb !== 'object' || Array.isArray(swiotlb))) throw new InvalidArgumentError('swiotlb must be an object { size, phys, areas }', { argument: 'swiotlb' });
    const pool = { ...DEFAULT_SWIOTLB, ...swiotlb };
    const poolSize = parseSize(pool.size, 'swiotlb.size');
    if (typeof pool.phys !== 'number' || !Number.isSafeInteger(pool.phys) || pool.phys < 0) throw new InvalidArgumentError('swiotlb.phys must be a non-negative safe integer', { argument: 'swiotlb.phys' });
    const iommu = iommuSettings(options.iommu);
    const debug = options.debug === undefined || options.debug === false ? undefined : new DmaDebug(options.debug === true ? {} : options.debug);
    const backing = parseSize(options.barBacking ?? '64MiB', 'barBacking');
    const providers = topology.providers();
    const bars = providers.map((p) => p.bar);
    const ramSizes = ram.map((r) => r.size);
    const restricted = restrictedPoolPlans(options.restrictedPools);
    for (const plan of restricted) {
      for (const bdf of plan.devices) {
        const pci = topology.findDevice(bdf);
        if (!pci) throw new UnknownDeviceError(`restricted pool ${plan.name}: no device ${bdf} in the topology`, { bdf });
        if (pci.isBridge) throw new InvalidArgumentError(`restricted pool ${plan.name}: ${bdf} is a bridge, not an endpoint`, { argument: 'restrictedPools' });
      }
    }
    const barSizes = bars.map((bar) => Math.min(bar.size, backing));
    const pages = (n: number) => Math.ceil(n / WASM_PAGE) * WASM_PAGE;
    const total = WASM_PAGE + SCRATCH + pages(poolSize) + ramSizes.reduce((a, n) => a + pages(n), 0) + barSizes.reduce((a, n) => a + pages(n), 0) + restricted.reduce((a, r) => a + pages(r.size), 0);
    if (total > 2 ** 32) throw new InvalidArgumentError(`the regions need ${total} bytes but a fabric holds at most 4 GiB`, { argument: 'ram' });
    const tracer = options.trace === undefined ? undefined : new DmaTracer(options.trace);

    const fabric = new Fabric({ size: total, scratch: SCRATCH });
    this.#ram = ram.map((r, i) => fabric.addRegion({ name: r.name, kind: 'ram', phys: r.phys, size: ramSizes[i]! }));
    const poolRegion = fabric.addRegion({ name: 'swiotlb', kind: 'bounce', phys: pool.phys, size: poolSize });
    // The kernel's pool is resident memory; touch every page now so bounces never pay the
    // first-touch faults of the lazily committed shared buffer. With the kernel's fill: a typed
    // array's fill() on shared memory ran at ~4 GB/s here, a twentieth of the same fill() on
    // unshared memory.
    fabric.kernels.fill(poolRegion.offset, 0n, poolRegion.size);
    const barRegions = new Map<PciBar, Region>();
    // A p2pmem BAR's bytes are allocated through its provider alone (one owner: see bar-memory.ts).
    providers.forEach((provider, i) => {
      const bar = provider.bar;
      const allocator = providerAllocator(provider, barSizes[i]!);
      barRegions.set(bar, fabric.addRegion({ name: `${bar.device.bdf}/bar${bar.index}`, kind: 'bar', phys: bar.phys, size: barSizes[i]!, busOffset: -bar.busOffset, allocator }));
    });
    if (typeof pool.dynamic !== 'boolean') throw new InvalidArgumentError('swiotlb.dynamic must be a boolean', { argument: 'swiotlb.dynamic' });
    // Each restricted pool: its region (resident, like the default pool), its mem, and its devices.
    const views = restricted.map((plan) => {
      const mem = createRestrictedDmaPool({ name: plan.name, base: plan.phys, size: plan.size, properties: plan.properties });
      const region = fabric.addRegion({ name: `restricted:${plan.name}`, kind: 'bounce', phys: plan.phys, size: plan.size });
      fabric.kernels.fill(region.offset, 0n, region.size);
      return { plan, mem, region };
    });
    this.swiotlb = new SwiotlbMem({ base: pool.phys, size: poolSize, areas: pool.areas, ...(pool.dynamic ? { dynamic: poolMemory(this.#ram) } : {}) });
    this.fabric = fabric;
    this.topology = topology;
    this.debug = debug;
    this.tracer = tracer;
    this.engine = CopyEngine.create(fabric, options.engine);
    this.iommu = iommu.mode === 'off' ? undefined : new Iommu(iommu);
    this.#ctx = { fabric, topology, engine: this.engine, pool: this.swiotlb, poolRegion, bounced: new BounceRecords(this.swiotlb), barRegions, barOfRegion: new Map([...barRegions].map(([bar, region]) => [region, bar])), p2pdma: new P2pdmaProviders(barRegions), debug, lifecycle: this.#lifecycle, iommu: this.iommu, tracer, ram: this.#ram, coherent: new Map(), systemPool: this.swiotlb };
    // A device of a restricted pool sees that pool as its swiotlb (the kernel's dev->dma_io_tlb_mem).
    for (const { plan, mem, region } of views) {
      const view: DmaContext = { ...this.#ctx, pool: mem, poolRegion: region, bounced: new BounceRecords(mem), coherent: new Map() };
      this.#restricted.set(plan.name, view);
      for (const bdf of plan.devices) this.#viewOf.set(bdf, view);
    }
    tracer?.start();
  }

  /** 'open', 'closing' (close() waits for the calls in flight) or 'closed'. */
  get state(): SystemState {
    return this.#lifecycle.state;
  }

  /** Host RAM regions, in the order given. */
  get ram(): readonly Region[] {
    return this.#ram;
  }

  /**
   * The fabric region backing a BAR (`bdf`, BAR index). Its allocate() and free() go through the
   * BAR's p2pmem provider, so they never hand out bytes the provider handed out (alignment at most
   * one page). Throws ERR_UNKNOWN_DEVICE / ERR_INVALID_ARGUMENT.
   */
  barMemory(bdf: string, index: number): Region {
    if (typeof bdf !== 'string') throw new InvalidArgumentError(`bdf must be a string such as "0000:03:00.0", got ${typeof bdf}`, { argument: 'bdf' });
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > 5) throw new InvalidArgumentError(`BAR index ${describe(index)} must be an integer in 0..5`, { argument: 'index' });
    const device = this.topology.findDevice(bdf);
    if (!device) throw new UnknownDeviceError(`no device ${bdf}`, { bdf });
    for (const [bar, region] of this.#ctx.barRegions) if (bar.device === device && bar.index === index) return region;
    throw new InvalidArgumentError(`${bdf} BAR ${index} has no backing memory (only p2pmem BARs do)`, { argument: 'index' });
  }

  /**
   * Allocates a buffer in host RAM: below 4 GiB when `low`, else in the first region that fits,
   * aligned to `alignment` (a power of two, default 64). Throws ERR_INVALID_SIZE /
   * ERR_INVALID_ARGUMENT for bad arguments, ERR_ALLOC_EXHAUSTED when no region has room.
   */
  allocRam(size: Size, options: { readonly low?: boolean; readonly alignment?: number } = {}): Span {
    const length = parseSize(size, 'size');
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object { low, alignment }', { argument: 'options' });
    const { low = false, alignment = 64 } = options;
    if (typeof low !== 'boolean') throw new InvalidArgumentError('low must be a boolean', { argument: 'low' });
    if (typeof alignment !== 'number' || !Number.isSafeInteger(alignment) || alignment < 1 || (alignment & (alignment - 1)) !== 0 || alignment > 2 ** 30) {
      throw new InvalidArgumentError(`alignment ${describe(alignment)} must be a power of two up to 1 GiB`, { argument: 'alignment' });
    }
    const candidates = this.#ram.filter((r) => !low || r.physEnd <= 2 ** 32);
    let last: unknown;
    for (const region of candidates) {
      try {
        return region.allocate(length, alignment);
      } catch (error) {
        last = error;
      }
    }
    throw last ?? new InvalidArgumentError('no host RAM region below 4 GiB', { argument: 'low' });
  }

  /**
   * Frees a buffer from allocRam(). Throws ERR_INVALID_STATE, freeing nothing, while a bounce
   * mapping of it is held (its unmap would copy back into freed memory), and the region's errors
   * (ERR_FOREIGN_SPAN, ERR_DOUBLE_FREE, ERR_INVALID_ARGUMENT) for what is not a live buffer.
   */
  freeRam(span: Span): void {
    if (span === null || typeof span !== 'object' || !this.#ram.includes(span.region)) {
      throw new InvalidArgumentError('freeRam: expected a span that allocRam() returned', { argument: 'span' });
    }
    const { phys, length } = span;
    // Memory the system took from RAM for itself is not the caller's to free.
    const coherent = [this.#ctx, ...this.#restricted.values()].some((view) => view.coherent.has(phys));
    if (coherent || this.swiotlb.overlaps(phys, length)) {
      throw new InvalidStateError(`freeRam: 0x${phys.toString(16)} is ${coherent ? 'a coherent allocation (freeCoherent() gives it back)' : 'swiotlb pool memory'}, not a buffer from allocRam()`, { address: phys });
    }
    for (const record of this.#bounceRecords()) {
      if (record.origPhys < phys + length && phys < record.origPhys + record.size) {
        throw new InvalidStateError(`freeRam: 0x${phys.toString(16)}+${length} is the original of a ${record.state} swiotlb mapping at 0x${record.tlbAddr.toString(16)}; unmap it first`, { address: record.origPhys, state: record.state });
      }
    }
    span.region.free(span);
  }

  /**
   * The DMA API of the endpoint `bdf`, with per-device properties. Throws ERR_UNKNOWN_DEVICE for
   * a BDF not in the topology, ERR_INVALID_ARGUMENT for a bridge or bad options.
   */
  device(bdf: string, options: DmaDeviceOptions = {}): DmaDevice {
    if (this.#lifecycle.state !== 'open') throw new SystemClosedError(`the DMA system is ${this.#lifecycle.state}: no new devices`);
    if (typeof bdf !== 'string') throw new InvalidArgumentError(`bdf must be a string such as "0000:03:00.0", got ${typeof bdf}`, { argument: 'bdf' });
    const pci = this.topology.findDevice(bdf);
    if (!pci) throw new UnknownDeviceError(`no device ${bdf} in the topology`, { bdf });
    if (pci.isBridge) throw new InvalidArgumentError(`${bdf} is a bridge, not an endpoint`, { argument: 'bdf' });
    const device = new DmaDevice(this.#viewOf.get(pci.bdf) ?? this.#ctx, pci, options);
    const ref = new WeakRef(device);
    this.#devices.add(ref);
    this.#forget.register(device, ref);
    return device;
  }

  /**
   * Closes the system: new calls are refused with ERR_SYSTEM_CLOSED, maps waiting for swiotlb
   * space reject with ERR_SYSTEM_CLOSED, and once every call in flight has settled (with its
   * result or its error) every device is released and the copy engine stops. With dma-debug on,
   * each device with live mappings makes a DMA_DEBUG_LEAK report; in 'throw' mode the first one is
   * thrown once the system is fully closed, by the first close() only: every later or concurrent
   * call resolves when closing is done.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing.then(ignore, ignore);
    this.#closing = this.#close();
    return this.#closing;
  }

  /** A restricted DMA pool by name (its counters: `.stats()`), or undefined. */
  restrictedPool(name: string): SwiotlbMem | undefined {
    return this.#restricted.get(name)?.pool;
  }

  // Every bounce mapping of the system: its own pools' and each restricted pool's.
  *#bounceRecords(): IterableIterator<BounceRecord> {
    yield* this.#ctx.bounced.values();
    for (const view of this.#restricted.values()) yield* view.bounced.values();
  }

  /** `await using system = DmaSystem.create()` closes it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    // Calls waiting for a slow trace reader go on (and are then refused or finish), so close() never waits on the reader.
    this.tracer?.release();
    await this.#lifecycle.close();
    let leak: unknown;
    for (const ref of this.#devices) {
      try {
        ref.deref()?.release();
      } catch (error) {
        leak ??= error;
      }
    }
    this.iommu?.close();
    await this.engine.close();
    // Gives back the pools a dynamic swiotlb added; leaked mappings keep theirs (as in the kernel).
    if (this.swiotlb.stats().mappings === 0) await this.swiotlb.close();
    this.#lifecycle.markClosed();
    this.tracer?.end();
    if (leak !== undefined) throw leak;
  }
}

// The page allocator a dynamic swiotlb takes new pools from (the kernel's alloc_pages()): host
// RAM below the limit, whole pages; the bytes stay in their RAM region's fabric memory.
function poolMemory(ram: readonly Region[]): { allocPoolMemory: AllocPoolMemory; freePoolMemory: FreePoolMemory } {
  const taken = new Map<number, Span>();
  return {
    allocPoolMemory(bytes, { physLimit }) {
      for (const region of ram) {
        if (region.phys + bytes - 1 > physLimit) continue;
        let span: Span;
        try {
          span = region.allocate(bytes, 4096);
        } catch {
          continue;
        }
        if (span.phys + bytes - 1 > physLimit) {
          region.free(span);
          continue;
        }
        taken.set(span.phys, span);
        return { phys: span.phys };
      }
      return undefined;
    },
    freePoolMemory(phys) {
      const span = taken.get(phys);
      if (span) {
        taken.delete(phys);
        span.region.free(span);
      }
    },
  };
}

const SYSTEM_KEYS: ReadonlySet<string> = new Set(['topology', 'ram', 'swiotlb', 'restrictedPools', 'barBacking', 'engine', 'debug', 'iommu', 'trace']);

// A snapshot of the RAM definitions: each read once and checked.
function ramDefinitions(given: unknown): { name: string; phys: number; size: number }[] {
  if (!Array.isArray(given) || given.length === 0 || given.length > 64) throw new InvalidArgumentError('ram must be an array of 1..64 { name, phys, size }', { argument: 'ram' });
  const out: { name: string; phys: number; size: number }[] = [];
  for (let i = 0; i < given.length; i++) {
    const r: unknown = given[i];
    if (r === null || typeof r !== 'object') throw new InvalidArgumentError(`ram[${i}] must be { name, phys, size }`, { argument: 'ram' });
    const { name, phys, size } = r as { name?: unknown; phys?: unknown; size?: unknown };
    if (typeof name !== 'string' || name === '') throw new InvalidArgumentError(`ram[${i}].name must be a non-empty string`, { argument: 'ram' });
    if (typeof phys !== 'number' || !Number.isSafeInteger(phys) || phys < 0) throw new InvalidArgumentError(`ram[${i}].phys must be a non-negative safe integer`, { argument: 'ram' });
    out.push({ name, phys, size: parseSize(size as Size, `ram ${name} size`) });
  }
  return out;
}

function ignore(): void {}

function toTopology(source: SystemOptions['topology']): Topology {
  if (source === undefined) return buildTopology(DEFAULT_TOPOLOGY);
  if (source instanceof Topology) return source;
  if (typeof source === 'string') return loadTopologyJson(source);
  return buildTopology(source);
}
