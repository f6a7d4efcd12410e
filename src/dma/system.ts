// DmaSystem: the facade. Builds a fabric from a topology (host RAM below and above 4 GiB,
// the swiotlb pool in low memory, backing memory for p2pmem BARs), starts the copy engine,
// and hands out DmaDevices by BDF.
import { CopyEngine, type EngineOptions } from '../engine/index.js';
import { InvalidArgumentError, InvalidStateError, SystemClosedError, UnknownDeviceError } from '../errors.js';
import { Fabric, WASM_PAGE, type Region, type Span } from '../fabric/index.js';
import { buildTopology, loadTopologyJson, Topology, type PciBar, type TopologySpec } from '../pci/index.js';
import { parseSize, type Size } from '../size.js';
import type { DmaContext } from './context.js';
import { providerAllocator } from './bar-memory.js';
import { DmaDebug, type DmaDebugOptions } from './debug.js';
import { BounceRecords } from './bounce-records.js';
import { DEFAULT_TOPOLOGY } from './default-topology.js';
import { SystemLifecycle, type SystemState } from './lifecycle.js';
import { DmaDevice, type DmaDeviceOptions } from './mapping.js';
import { SwiotlbPool } from './swiotlb.js';
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
  /** The swiotlb pool: size (default 64 MiB), physical base (default 64 MiB, below 4 GiB), areas (default 1). */
  readonly swiotlb?: { readonly size?: Size; readonly phys?: number; readonly areas?: number };
  /** Bytes of backing memory per p2pmem BAR, from the BAR's start (default 64 MiB; the rest of a larger BAR has none). */
  readonly barBacking?: Size;
  /** Options for the copy engine the bounce copies use. */
  readonly engine?: EngineOptions;
  /** dma-debug (CONFIG_DMA_API_DEBUG): true, or its options; default off. See docs/dma-debug.md. */
  readonly debug?: boolean | DmaDebugOptions;
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
const DEFAULT_SWIOTLB = { size: '64MiB', phys: 0x0400_0000, areas: 1 } as const;
const SCRATCH = 16 * 2 ** 20;

export class DmaSystem {
  readonly fabric: Fabric;
  readonly topology: Topology;
  readonly engine: CopyEngine;
  readonly swiotlb: SwiotlbPool;
  /** The dma-debug tracker; undefined when the system was created without `debug`. */
  readonly debug: DmaDebug | undefined;
  /** The tracer; undefined when the system was created without `trace`. */
  readonly tracer: DmaTracer | undefined;
  readonly #ctx: DmaContext;
  readonly #ram: Region[];
  // Held weakly: a device the caller dropped must not pin memory for the system's lifetime
  // (dma-debug keeps what it needs for leak reports itself).
  readonly #devices = new Set<WeakRef<DmaDevice>>();
  readonly #forget = new FinalizationRegistry<WeakRef<DmaDevice>>((ref) => this.#devices.delete(ref));
  readonly #lifecycle = new SystemLifecycle();
  #closing: Promise<void> | undefined;

  /**
   * Builds the system. Throws ERR_TOPOLOGY / ERR_LSPCI_PARSE for a bad topology, ERR_INVALID_SIZE /
   * ERR_INVALID_ARGUMENT / ERR_REGION_CONFLICT for bad memory definitions, ERR_INVALID_ARGUMENT for a
   * bad `trace` (see DmaTracer); nothing is left running then.
   */
  static create(options: SystemOptions = {}): DmaSystem {
    return new DmaSystem(options);
  }

  private constructor(given: SystemOptions) {
    if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new InvalidArgumentError('options must be an object', { argument: 'options' });
    // Each option is read once, here; everything below works on the copy.
    const options: SystemOptions = { ...given };
    const topology = toTopology(options.topology);
    const ram = options.ram ?? DEFAULT_RAM;
    if (!Array.isArray(ram) || ram.length === 0) throw new InvalidArgumentError('ram must be a non-empty array', { argument: 'ram' });
    const pool = { ...DEFAULT_SWIOTLB, ...options.swiotlb };
    const poolSize = parseSize(pool.size, 'swiotlb.size');
    const debug = options.debug === undefined || options.debug === false ? undefined : new DmaDebug(options.debug === true ? {} : options.debug);
    const backing = parseSize(options.barBacking ?? '64MiB', 'barBacking');
    const providers = topology.providers();
    const bars = providers.map((p) => p.bar);
    const ramSizes = ram.map((r) => parseSize(r.size, `ram ${r.name} size`));
    const barSizes = bars.map((bar) => Math.min(bar.size, backing));
    const pages = (n: number) => Math.ceil(n / WASM_PAGE) * WASM_PAGE;
    const total = WASM_PAGE + SCRATCH + pages(poolSize) + ramSizes.reduce((a, n) => a + pages(n), 0) + barSizes.reduce((a, n) => a + pages(n), 0);
    if (total > 2 ** 32) throw new InvalidArgumentError(`the regions need ${total} bytes but a fabric holds at most 4 GiB`, { argument: 'ram' });
    const tracer = options.trace === undefined ? undefined : new DmaTracer(options.trace);

    const fabric = new Fabric({ size: total, scratch: SCRATCH });
    this.#ram = ram.map((r, i) => fabric.addRegion({ name: r.name, kind: 'ram', phys: r.phys, size: ramSizes[i]! }));
    const poolRegion = fabric.addRegion({ name: 'swiotlb', kind: 'bounce', phys: pool.phys, size: poolSize });
    // The kernel's pool is resident memory; touch every page now so bounces never pay the
    // first-touch faults of the lazily committed shared buffer.
    poolRegion.view({ offset: poolRegion.offset, length: poolRegion.size }).fill(0);
    const barRegions = new Map<PciBar, Region>();
    // A p2pmem BAR's bytes are allocated through its provider alone (one owner: see bar-memory.ts).
    providers.forEach((provider, i) => {
      const bar = provider.bar;
      const allocator = providerAllocator(provider, barSizes[i]!);
      barRegions.set(bar, fabric.addRegion({ name: `${bar.device.bdf}/bar${bar.index}`, kind: 'bar', phys: bar.phys, size: barSizes[i]!, busOffset: -bar.busOffset, allocator }));
    });
    this.swiotlb = new SwiotlbPool({ base: pool.phys, size: poolSize, areas: pool.areas });
    this.fabric = fabric;
    this.topology = topology;
    this.debug = debug;
    this.tracer = tracer;
    this.engine = CopyEngine.create(fabric, options.engine);
    this.#ctx = { fabric, topology, engine: this.engine, pool: this.swiotlb, poolRegion, bounced: new BounceRecords(this.swiotlb), barRegions, barOfRegion: new Map([...barRegions].map(([bar, region]) => [region, bar])), debug, lifecycle: this.#lifecycle, tracer };
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
    const device = this.topology.findDevice(bdf);
    if (!device) throw new UnknownDeviceError(`no device ${bdf}`, { bdf });
    for (const [bar, region] of this.#ctx.barRegions) if (bar.device === device && bar.index === index) return region;
    throw new InvalidArgumentError(`${bdf} BAR ${index} has no backing memory (only p2pmem BARs do)`, { argument: 'index' });
  }

  /** Allocates a buffer in host RAM: below 4 GiB when `low`, else in the first region that fits. */
  allocRam(size: Size, options: { readonly low?: boolean; readonly alignment?: number } = {}): Span {
    const length = parseSize(size, 'size');
    const candidates = this.#ram.filter((r) => !options.low || r.physEnd <= 2 ** 32);
    let last: unknown;
    for (const region of candidates) {
      try {
        return region.allocate(length, options.alignment ?? 64);
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
    for (const record of this.#ctx.bounced.values()) {
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
    const device = new DmaDevice(this.#ctx, pci, options);
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
    await this.engine.close();
    this.#lifecycle.markClosed();
    this.tracer?.end();
    if (leak !== undefined) throw leak;
  }
}

function ignore(): void {}

function toTopology(source: SystemOptions['topology']): Topology {
  if (source === undefined) return buildTopology(DEFAULT_TOPOLOGY);
  if (source instanceof Topology) return source;
  if (typeof source === 'string') return loadTopologyJson(source);
  return buildTopology(source);
}
