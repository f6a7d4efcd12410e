// Replays a capture through the model: a first pass learns which physical pages, devices and
// masks the capture names; each run then streams the capture again and makes every map, unmap
// and sync call of every device, in order, on a DmaSystem built for the run's configuration.
import { InvalidArgumentError, TraceReplayError } from '../errors.js';
import { DmaSystem, mapErrno, type DmaDevice, type IommuMode, type MappedSegment, type MappedSg, type SgEntry, type StreamingDirection } from '../dma/index.js';
import { buildTopology, type Topology } from '../pci/index.js';
import { DEFAULT_TOPOLOGY } from '../dma/index.js';
import { parseSize, type Size } from '../size.js';
import { isPromise, type MaybePromise } from '../dma/ops.js';
import { readCaptureInWorker } from '../trace/capture-in-worker.js';
import { snapshotReplayOptions, type ReplayOptionsSnapshot } from './replay-options.js';
import { readCapture, TRACE_MAPPING_ERROR, type CaptureSource, type CaptureSummary, type TraceEvent, type MapEvent, type MapSgEvent, type MapSgErrEvent, type TraceOptions, type TraceSink, type TraceSpec, TRACE_ATTR_MMIO } from '../trace/index.js';
import { PageCollector, REPLAY_PAGE, type AddressPlan } from './address-map.js';
import { EarlyRead } from './early-read.js';
import { addFigures, emptyFigures, type PoolOccupancySample, type ReplayDeviceReport, type ReplayFigures, type ReplayFullEvent, type ReplayRun, type UnmatchedCall } from './report.js';

/** One configuration to replay under. */
export interface ReplayConfig {
  /** swiotlb pool size (default 64 MiB). */
  readonly swiotlb?: Size;
  /** true: every device bounces; false: none does; default: as the capture shows (FORCE in swiotlb_bounced). */
  readonly forceBounce?: boolean;
  /** What a P2P mapping the topology cannot route does (default 'reject', as mainline). */
  readonly p2pPolicy?: 'reject' | 'bounce';
  /** iommu-dma: 'strict', 'lazy', 'identity' (or 'passthrough'), or 'off' (the default). */
  readonly iommu?: { readonly mode: string };
  /** The replayed model's own tracepoints (see DmaSystem.create({ trace })). */
  readonly trace?: TraceSpec;
}

/** What every run of replayCapture() shares. */
export interface ReplayOptions {
  /** The topology devices are looked up in (default: the embedded one). */
  readonly topology?: Topology;
  /** Count and skip malformed dma:/swiotlb: lines (default false: ERR_TRACE_PARSE). */
  readonly lenient?: boolean;
  /** Called with (pass, bytes read): pass 0 is the scan, pass i the i-th run. */
  readonly onProgress?: (pass: number, bytes: number) => void;
  /**
   * The p2pmem BAR the capture's MMIO mappings (DMA_ATTR_MMIO, dma_map_resource) are placed in:
   * its owner's BDF and BAR index (default: the topology's first p2pmem BAR).
   */
  readonly provider?: { readonly bdf: string; readonly bar?: number };
  /**
   * Parse each run's pass on a worker thread while this thread replays (default: for captures of
   * 8 MiB or more, as the first pass measured them). The result is the same either way; a value
   * that is not a boolean is ERR_INVALID_ARGUMENT.
   */
  readonly parseInWorker?: boolean;
}

/** Captures this long (bytes) or longer are parsed on a worker thread during the runs (see ReplayOptions.parseInWorker). */
export const PARSE_IN_WORKER_FROM = 8 * 2 ** 20;

/** What the capture holds and what replaying it needed. */
export interface ReplayCapture {
  readonly summary: CaptureSummary;
  /** Devices in order of first appearance, with what the capture says of them. */
  readonly devices: readonly { readonly device: string; readonly dmaBits: number | undefined; readonly forced: boolean; readonly events: number }[];
  /** Maps the capture shows failing (dma_addr=ffffffffffffffff, dma_map_sg_err), and its swiotlb_bounced events. */
  readonly capturedFailures: number;
  readonly capturedBounces: number;
  /** Distinct 4 KiB pages the capture maps, and the model RAM they were given. */
  readonly pages: number;
  readonly ramBelow4G: number;
  readonly ramAbove4G: number;
  /** dma_map_sg events whose arrays the kernel cut at 128 entries (replayed with the entries printed). */
  readonly truncatedSg: number;
}

/** What replayCapture() resolves with: the capture, the warnings, one run per configuration. */
export interface ReplayResult {
  readonly capture: ReplayCapture;
  readonly warnings: string[];
  readonly runs: ReplayRun[];
}

/** Reopens the capture from its start: each pass streams it again. */
export type CaptureOpener = () => CaptureSource;

const ERRNO_NAMES: Readonly<Record<number, string>> = { [-5]: 'EIO', [-12]: 'ENOMEM', [-22]: 'EINVAL', [-121]: 'EREMOTEIO' };
// The DMA_ATTR_* bits the model knows (WEAK_ORDERING .. MMIO); later ones are printed but not modelled.
const MODEL_ATTRS = 0x7f6;
const LOW_BASE_MIN = 0x1000_0000;
const HIGH_BASE = 2 ** 32;
// What the first pass reads: the events that name memory or a device's mask (unmaps and syncs
// name only what a map named; the runs parse and check every line).
const SCANNED: ReadonlySet<string> = new Set(['dma_map_phys', 'dma_map_page', 'dma_map_resource', 'dma_map_sg', 'dma_map_sg_err', 'swiotlb_bounced']);
const OCCUPANCY_BUCKETS = 500;
const BAR_BACKING = 64 * 2 ** 20; // DmaSystem's default barBacking
const LISTED_FULL = 1000;
const LISTED_UNMATCHED = 100;
const FABRIC_OVERHEAD = 64 * 1024 + 16 * 2 ** 20 + 2 * 2 ** 20; // guard page, scratch, rounding

interface DeviceInfo {
  device: string;
  dmaBits: number | undefined;
  forced: boolean;
  events: number;
}

/**
 * Replays the capture `open()` streams once per configuration. Resolves with what the capture
 * holds, warnings (devices the topology lacks, lost events, lines skipped) and one run per
 * configuration. Rejects with ERR_INVALID_ARGUMENT for bad arguments or a configuration this build
 * cannot model, ERR_TRACE_PARSE for a malformed line (unless `lenient`), ERR_TRACE_REPLAY when the
 * capture's memory does not fit the model, ERR_INVALID_SIZE for a bad pool size. `open` must give a
 * new source each time (each pass reads the capture from its start): one it gave before is
 * ERR_INVALID_ARGUMENT (`argument` 'open'), where it would have read on from the end.
 */
export async function replayCapture(opener: CaptureOpener, configs: readonly ReplayConfig[], options?: ReplayOptions): Promise<ReplayResult> {
  if (typeof opener !== 'function') throw new InvalidArgumentError('open must be a function returning the capture stream', { argument: 'open' });
  const open = freshSources(opener);
  if (!Array.isArray(configs) || configs.length === 0 || configs.length > 64) throw new InvalidArgumentError('configs must hold 1..64 configurations', { argument: 'configs' });
  const runs = configs.map((c, i) => checkConfig(c, i));
  const { topology: given, lenient, onProgress, provider: wanted, parseInWorker } = snapshotReplayOptions(options);
  const topology = given ?? buildTopology(DEFAULT_TOPOLOGY);
  const provider = providerOf(topology, wanted);
  const warnings: string[] = [];

  // Pass 0: pages, devices, masks, the time span.
  // BAR memory of the topology's p2pmem BARs (where a DmaSystem places it) is replayed as itself.
  const identity = topology.providers().map((p) => ({ phys: p.bar.phys, size: Math.min(p.bar.size, BAR_BACKING) }));
  const pages = new PageCollector(identity);
  const devices = new Map<string, DeviceInfo>();
  let capturedFailures = 0;
  let capturedBounces = 0;
  let truncatedSg = 0;
  const info = (name: string): DeviceInfo => {
    let d = devices.get(name);
    if (!d) devices.set(name, (d = { device: name, dmaBits: undefined, forced: false, events: 0 }));
    return d;
  };
  const mmioPages = new PageCollector(identity);
  let mmioMaps = 0;
  const hints = new BounceHints();
  // The first run's read starts on a worker once the scan has read PARSE_IN_WORKER_FROM bytes (at
  // once with parseInWorker, never with parseInWorker false): its worker parses on the core the
  // scan leaves free, and the run takes the events when its plan exists (early-read.ts).
  const earlyFrom = parseInWorker === false ? Infinity : parseInWorker === true ? 0 : PARSE_IN_WORKER_FROM;
  let early: EarlyRead | undefined = earlyFrom === 0 ? new EarlyRead(open(), lenient) : undefined;
  try {
    return await replayRuns();
  } catch (error) {
    await early?.cancel();
    throw error;
  }

  async function replayRuns(): Promise<ReplayResult> {
    // Pass 0 reads only the events that name memory or a mask; every run reads the whole capture.
    const scan = await readCapture(open(), (event) => {
      const d = info(event.device);
      if (event.type !== 'bounced') hints.clear(event.device);
      switch (event.type) {
        case 'map':
          if (provider && isMmio(event)) {
            if (mmioPages.add(event.physAddr, event.size)) mmioMaps++;
          } else pages.add(event.physAddr, event.size);
          if (event.dmaAddr === TRACE_MAPPING_ERROR) capturedFailures++;
          break;
        case 'map_sg': {
          const lengths = entryLengths(event.physAddrs, event.sizes, event.nents === event.ents && !event.truncated);
          event.physAddrs.forEach((p, i) => pages.add(p, lengths[i]!));
          if (event.truncated) truncatedSg++;
          break;
        }
        case 'map_sg_err': {
          capturedFailures++;
          const lengths = hints.lengths(event.device, event.physAddrs);
          event.physAddrs.forEach((p, i) => pages.add(p, lengths[i]!));
          break;
        }
        case 'bounced':
          hints.note(event.device, event.devAddr, event.size);
          capturedBounces++;
          if (event.force === 'FORCE') d.forced = true;
          d.dmaBits ??= maskBits(event.dmaMask);
          break;
        default:
      }
    }, {
      lenient,
      only: SCANNED,
      onProgress: (bytes: number) => {
        onProgress?.(0, bytes);
        if (early === undefined && bytes >= earlyFrom) early = new EarlyRead(open(), lenient);
      },
    });

    const standIn = standInEndpoint(topology);
    const results: ReplayRun[] = [];
    let plan: AddressPlan | undefined;
    let summary: CaptureSummary | undefined;
    const replayedAs = new Map<string, string>();
    const deviceEvents = new Map<string, { n: number }>();
    for (const [index, config] of runs.entries()) {
      const lowBase = Math.max(LOW_BASE_MIN, alignUp(0x0400_0000 + config.swiotlbBytes, 2 ** 20));
      const barBytes = topology.providers().length * BAR_BACKING;
      const budget = 2 ** 32 - FABRIC_OVERHEAD - config.swiotlbBytes - barBytes;
      plan = pages.plan(lowBase, HIGH_BASE, budget);
      const mmioPlan = provider && mmioMaps > 0 ? mmioPages.planAt(provider.phys, provider.size) : undefined;
      const span = { t0: scan.firstTs, t1: scan.lastTs };
      const inWorker = parseInWorker ?? scan.bytes >= PARSE_IN_WORKER_FROM;
      const read0 = index === 0 ? early : undefined;
      const { run, summary: read } = await runOne(open, read0, topology, plan, mmioPlan, devices, standIn, config, lenient, inWorker, span, index === 0 ? { replayedAs, deviceEvents } : undefined, onProgress ? (bytes) => onProgress(index + 1, bytes) : undefined);
      if (read0 !== undefined) early = undefined; // the run took it (and ended it)
      summary ??= read;
      results.push(run);
    }
    const s = summary!;
    if (s.lostEvents > 0) warnings.push(`the capture lost ${s.lostEvents} events (ring buffer overruns): the replay misses their calls`);
    if (s.failedToParse > 0) warnings.push(`${s.failedToParse} dma/swiotlb lines were printed as [FAILED TO PARSE] by the trace tool and were skipped`);
    if (s.malformed > 0) warnings.push(`${s.malformed} malformed dma/swiotlb lines were skipped (first at line ${s.malformedLines[0]})`);
    if (s.unknownAttrs > 0) warnings.push(`${s.unknownAttrs} attribute names no supported kernel format has were ignored`);
    if (mmioMaps > 0 && provider) warnings.push(`${mmioMaps} MMIO mappings (DMA_ATTR_MMIO, dma_map_resource) were replayed as memory of ${provider.bdf} BAR ${provider.index}: a capture does not say whose BAR they were`);
    if (truncatedSg > 0) warnings.push(`${truncatedSg} dma_map_sg events had more than 128 entries: only the printed entries are replayed`);
    for (const [name, as] of replayedAs) if (as !== name) warnings.push(`device ${name} is not an endpoint of the topology: replayed as a default device at ${as}'s place in the tree`);
    return {
      capture: {
        summary: s,
        devices: [...deviceEvents].map(([device, events]) => ({ device, dmaBits: devices.get(device)?.dmaBits, forced: devices.get(device)?.forced ?? false, events: events.n })),
        capturedFailures,
        capturedBounces,
        pages: pages.pages,
        ramBelow4G: plan!.lowBytes,
        ramAbove4G: plan!.highBytes,
        truncatedSg,
      },
      warnings,
      runs: results,
    };
  }
}

interface CheckedConfig {
  readonly swiotlbBytes: number;
  readonly forceBounce: boolean | undefined;
  readonly p2pPolicy: 'reject' | 'bounce';
  readonly iommu: string | undefined;
  readonly trace: TraceSpec | undefined;
}

const CONFIG_KEYS: ReadonlySet<string> = new Set(['swiotlb', 'forceBounce', 'p2pPolicy', 'iommu', 'trace']);

function checkConfig(given: unknown, i: number): CheckedConfig {
  if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new InvalidArgumentError(`configs[${i}] must be an object`, { argument: 'configs' });
  const c = { ...(given as ReplayConfig) };
  for (const key of Object.keys(c)) if (!CONFIG_KEYS.has(key)) throw new InvalidArgumentError(`configs[${i}] has no option ${key}`, { argument: `configs[${i}].${key}` });
  const swiotlbBytes = parseSize(c.swiotlb ?? '64MiB', `configs[${i}].swiotlb`);
  if (swiotlbBytes < 256 * 1024 || swiotlbBytes > 2 ** 31 || swiotlbBytes % (256 * 1024) !== 0) throw new InvalidArgumentError(`configs[${i}].swiotlb must be a whole number of 256KiB segments up to 2GiB`, { argument: `configs[${i}].swiotlb` });
  if (c.forceBounce !== undefined && typeof c.forceBounce !== 'boolean') throw new InvalidArgumentError(`configs[${i}].forceBounce must be a boolean`, { argument: `configs[${i}].forceBounce` });
  const p2pPolicy = c.p2pPolicy ?? 'reject';
  if (p2pPolicy !== 'reject' && p2pPolicy !== 'bounce') throw new InvalidArgumentError(`configs[${i}].p2pPolicy must be reject or bounce`, { argument: `configs[${i}].p2pPolicy` });
  let iommu: string | undefined;
  if (c.iommu !== undefined) {
    const mode = (c.iommu as { mode?: unknown } | null)?.mode;
    if (typeof mode !== 'string') throw new InvalidArgumentError(`configs[${i}].iommu must be { mode }`, { argument: `configs[${i}].iommu` });
    if (!['off', 'strict', 'lazy', 'identity', 'passthrough'].includes(mode)) {
      throw new InvalidArgumentError(`configs[${i}].iommu.mode must be 'off', 'strict', 'lazy', 'identity' or 'passthrough', got "${mode}"`, { argument: `configs[${i}].iommu` });
    }
    iommu = mode === 'passthrough' ? 'identity' : mode;
  }
  return { swiotlbBytes, forceBounce: c.forceBounce, p2pPolicy, iommu, trace: c.trace };
}

interface Live {
  readonly modelDma: number;
  readonly size: number;
  readonly bounced: number;
  /** The attributes it was mapped with (its unmap's MMIO bit follows them). */
  readonly attrs: number;
  /** An older live mapping the capture gave the same DMA address (a stack, newest first). */
  below: Live | undefined;
}

interface LiveSg {
  readonly sg: MappedSg | undefined;
  readonly tracedDma0: number;
  readonly bytes: number;
  readonly bounced: number;
}

interface DeviceState {
  readonly report: ReplayDeviceReport;
  readonly device: DmaDevice;
  /** Single mappings by the capture's DMA address (several may share one: a stack). */
  readonly live: Map<number, Live>;
  /** SG mappings by the capture's first physical address and entry count. */
  readonly liveSg: Map<string, LiveSg[]>;
  /** SG mappings by the capture's first DMA address (for the syncs). */
  readonly sgByDma: Map<number, LiveSg[]>;
  heldBounced: number;
}

interface FirstRunNotes {
  /** Capture device -> the topology function it was replayed as. */
  readonly replayedAs: Map<string, string>;
  /** Capture device -> its dma/swiotlb events, in order of first appearance. */
  readonly deviceEvents: Map<string, { n: number }>;
}

async function runOne(
  open: CaptureOpener, early: EarlyRead | undefined, topology: Topology, plan: AddressPlan, mmioPlan: AddressPlan | undefined, devices: Map<string, DeviceInfo>, standIn: string, config: CheckedConfig, lenient: boolean, inWorker: boolean,
  span: { t0: number; t1: number }, notes: FirstRunNotes | undefined, onProgress: ((bytes: number) => void) | undefined,
): Promise<{ run: ReplayRun; summary: CaptureSummary }> {
  const ram = [];
  if (plan.lowBytes > 0 || plan.highBytes === 0) ram.push({ name: 'ram-low', phys: plan.lowBase, size: Math.max(plan.lowBytes, 65536) });
  if (plan.highBytes > 0) ram.push({ name: 'ram-high', phys: plan.highBase, size: plan.highBytes });
  // The replayed model's own trace keeps the capture's clock, so the two read side by side.
  let now = span.t0;
  const trace = config.trace === undefined ? undefined : withClock(config.trace, () => now);
  const system = DmaSystem.create({
    topology,
    ram,
    swiotlb: { size: config.swiotlbBytes, phys: 0x0400_0000 },
    engine: { workers: 1, inlineBelow: '1GiB', spin: 0 },
    ...(trace !== undefined ? { trace } : {}),
    ...(config.iommu !== undefined ? { iommu: config.iommu as IommuMode } : {}),
  });
  const totalSlots = system.swiotlb.stats().totalSlots;
  const states = new Map<string, DeviceState>();
  const fullEvents: ReplayFullEvent[] = [];
  const unmatched: UnmatchedCall[] = [];
  let fullCount = 0;
  const occupancy = new Occupancy(span.t0, span.t1);
  const pool = system.swiotlb;
  const sample = (ts: number) => occupancy.add(ts, pool.usedSlots);

  const stateOf = (name: string): DeviceState => {
    let s = states.get(name);
    if (s) return s;
    const known = devices.get(name);
    const pci = topology.findDevice(name);
    const replayedAs = pci && !pci.isBridge ? name : standIn;
    notes?.replayedAs.set(name, replayedAs);
    const dmaBits = Math.min(64, Math.max(20, known?.dmaBits ?? 64));
    const forceBounce = config.forceBounce ?? known?.forced ?? false;
    const device = system.device(replayedAs, { dmaBits, forceBounce, p2pPolicy: config.p2pPolicy, waitForSpace: false });
    s = { report: { device: name, replayedAs, dmaBits, forceBounce, ...emptyFigures() }, device, live: new Map(), liveSg: new Map(), sgByDma: new Map(), heldBounced: 0 };
    states.set(name, s);
    return s;
  };

  const failed = (s: DeviceState, error: unknown, ts: number, size: number, line: number): void => {
    const r = s.report;
    const errno = mapErrno(error);
    const code = (error as { code?: string } | null)?.code ?? 'ERR_INTERNAL';
    if (errno === undefined) {
      r.refused++;
      r.refusedByCode[code] = (r.refusedByCode[code] ?? 0) + 1;
      return;
    }
    r.failures++;
    const name = ERRNO_NAMES[errno] ?? String(errno);
    r.failuresByErrno[name] = (r.failuresByErrno[name] ?? 0) + 1;
    if (code === 'ERR_SWIOTLB_FULL') {
      r.fullEvents++;
      fullCount++;
      if (fullEvents.length < LISTED_FULL) fullEvents.push({ t: ts, device: r.device, size, line });
      sample(ts);
    }
  };

  const hold = (s: DeviceState, bytes: number, ts: number) => {
    s.heldBounced += bytes;
    if (s.heldBounced > s.report.bounceHighWaterBytes) s.report.bounceHighWaterBytes = s.heldBounced;
    sample(ts);
  };

  // Each event's calls are made with the device's promise-free entry points (mapPhysNow() and the
  // rest): a call that copies nothing answers at once, and the handler returns a promise only
  // when a call did (a bounce), so most events cost no promise and no microtask.
  const hints = new BounceHints();
  const onEvent = (event: TraceEvent, line: number): void | Promise<void> => {
    now = event.ts;
    if (notes) {
      const count = notes.deviceEvents.get(event.device);
      if (count) count.n++;
      else notes.deviceEvents.set(event.device, { n: 1 });
    }
    if (event.type === 'bounced') return hints.note(event.device, event.devAddr, event.size);
    const sgErrLengths = event.type === 'map_sg_err' ? hints.lengths(event.device, event.physAddrs) : undefined;
    hints.clear(event.device);
    if (event.type === 'coherent') return;
    const s = stateOf(event.device);
    const r = s.report;
    switch (event.type) {
      case 'map': {
        r.calls++;
        r.maps++;
        r.bytes += event.size;
        return replayMap(s, event, line);
      }
      case 'unmap': {
        r.calls++;
        r.unmaps++;
        const m = popLive(s.live, event.dmaAddr);
        if (!m) return unmatchedCall(s, unmatched, line, 'unmap', event.dmaAddr);
        if (m.modelDma < 0) return; // its map failed in the model
        // The common case written out (no closures): the unmap answers at once.
        let done: MaybePromise<void> = undefined;
        try {
          done = s.device.unmapPhysNow(m.modelDma, m.size, event.dir as StreamingDirection, (event.attrs & MODEL_ATTRS & ~TRACE_ATTR_MMIO) | (m.attrs & TRACE_ATTR_MMIO));
        } catch (error) {
          failed(s, error, event.ts, m.size, line);
        }
        if (isPromise(done)) return done.then(() => unmapped(s, m, event.ts), (error: unknown) => { failed(s, error, event.ts, m.size, line); unmapped(s, m, event.ts); });
        return unmapped(s, m, event.ts);
      }
      case 'map_sg':
      case 'map_sg_err': {
        r.calls++;
        r.maps++;
        return replayMapSg(s, event, sgErrLengths, line);
      }
      case 'unmap_sg': {
        r.calls++;
        r.unmaps++;
        const live = pop(s.liveSg, sgKey(event.physAddrs));
        if (!live) return unmatchedCall(s, unmatched, line, 'unmap_sg', event.physAddrs[0] ?? -1);
        const byDma = s.sgByDma.get(live.tracedDma0);
        if (byDma) {
          const at = byDma.lastIndexOf(live);
          if (at >= 0) byDma.splice(at, 1);
          if (byDma.length === 0) s.sgByDma.delete(live.tracedDma0);
        }
        const sg = live.sg;
        if (!sg) return;
        const release = () => { if (live.bounced > 0) hold(s, -live.bounced, event.ts); };
        return settle(() => s.device.unmapSgNow(sg, event.dir as StreamingDirection, event.attrs & MODEL_ATTRS), release, (error) => {
          failed(s, error, event.ts, live.bytes, line);
          release();
        });
      }
      case 'sync_single': {
        r.calls++;
        r.syncs++;
        const found = containing(s.live, event.dmaAddr, event.size);
        if (!found) return unmatchedSync(s, unmatched, line, event.type, event.dmaAddr);
        if (found.live.modelDma < 0) return;
        const dma = found.live.modelDma + (event.dmaAddr - found.start);
        return settle(() => s.device.syncSingleNow(dma, event.size, event.dir as StreamingDirection, event.target), noop, (error) => failed(s, error, event.ts, event.size, line));
      }
      case 'sync_sg': {
        r.calls++;
        r.syncs++;
        const list = s.sgByDma.get(event.dmaAddrs[0] ?? -1);
        const live = list?.[list.length - 1];
        if (!live) return unmatchedSync(s, unmatched, line, event.type, event.dmaAddrs[0] ?? -1);
        const sg = live.sg;
        if (!sg) return;
        return settle(() => s.device.syncSgNow(sg, event.dir as StreamingDirection, event.target), noop, (error) => failed(s, error, event.ts, live.bytes, line));
      }
    }
  };

  const replayMap = (s: DeviceState, event: MapEvent, line: number): void | Promise<void> => {
    // A captured machine's MMIO range placed in the provider's BAR is mapped as that BAR's memory
    // without DMA_ATTR_MMIO, so the topology's P2P route decides it (pci_p2pdma_state() before
    // dma_map_phys() in a driver); MMIO at the model's own BAR addresses (a trace the model wrote)
    // keeps it, and dma_map_resource (before 6.18) is MMIO without the attribute.
    const mmio = isMmio(event);
    const placed = mmio && mmioPlan !== undefined && !mmioPlan.isIdentity(event.physAddr);
    const phys = (placed ? mmioPlan! : plan).translate(event.physAddr);
    const attrs = placed ? event.attrs & MODEL_ATTRS & ~TRACE_ATTR_MMIO : (event.attrs & MODEL_ATTRS) | (mmio ? TRACE_ATTR_MMIO : 0);
    // The common case written out (no closures): the map answers at once.
    let mapped: MaybePromise<MappedSegment>;
    try {
      mapped = s.device.mapPhysNow(phys < 0 ? event.physAddr : phys, event.size, event.dir as StreamingDirection, attrs);
    } catch (error) {
      return mapFailed(s, event, attrs, error, line);
    }
    if (isPromise(mapped)) return mapped.then((m) => mapDone(s, event, attrs, m), (error: unknown) => mapFailed(s, event, attrs, error, line));
    return mapDone(s, event, attrs, mapped);
  };

  const mapDone = (s: DeviceState, event: MapEvent, attrs: number, mapped: MappedSegment): void | Promise<void> => {
    const r = s.report;
    const bounced = mapped.kind === 'bounced' ? event.size : 0;
    if (bounced > 0) {
      r.bytesBounced += bounced;
      hold(s, bounced, event.ts);
    }
    if (event.dmaAddr === TRACE_MAPPING_ERROR) {
      // The driver saw a failure and never unmaps: undo at once.
      r.mappedWhereCaptureFailed++;
      return settle(() => s.device.unmapPhysNow(mapped.dmaAddress, event.size, event.dir as StreamingDirection, attrs), () => { if (bounced > 0) hold(s, -bounced, event.ts); });
    }
    pushLive(s.live, event.dmaAddr, { modelDma: mapped.dmaAddress, size: event.size, bounced, attrs, below: undefined });
  };

  const mapFailed = (s: DeviceState, event: MapEvent, attrs: number, error: unknown, line: number): void => {
    failed(s, error, event.ts, event.size, line);
    if (event.dmaAddr !== TRACE_MAPPING_ERROR) pushLive(s.live, event.dmaAddr, { modelDma: -1, size: event.size, bounced: 0, attrs, below: undefined });
  };

  // After a single mapping's unmap (done or failed): its bounce slots no longer count as held.
  const unmapped = (s: DeviceState, m: Live, ts: number): void => {
    if (m.bounced > 0) hold(s, -m.bounced, ts);
  };

  const replayMapSg = (s: DeviceState, event: MapSgEvent | MapSgErrEvent, sgErrLengths: number[] | undefined, line: number): void | Promise<void> => {
    const r = s.report;
    const exact = event.type === 'map_sg' && event.nents === event.ents && !event.truncated;
    const lengths = sgErrLengths ?? entryLengths(event.physAddrs, event.type === 'map_sg' ? event.sizes : [], exact);
    const entries: SgEntry[] = event.physAddrs.map((p, i) => {
      const phys = plan.translate(p);
      return { phys: phys < 0 ? p : phys, length: lengths[i]! };
    });
    const bytes = lengths.reduce((a, b) => a + b, 0);
    r.bytes += bytes;
    const key = sgKey(event.physAddrs);
    const dir = event.dir as StreamingDirection;
    const attrs = event.attrs & MODEL_ATTRS;
    return settle(() => {
      if (entries.length === 0) throw new InvalidArgumentError('an empty scatterlist', { argument: 'entries' });
      return s.device.mapSgNow(entries, dir, attrs);
    }, (sg) => {
      let bounced = 0;
      for (const seg of sg.segments) if (seg.kind === 'bounced') bounced += seg.length;
      if (bounced > 0) {
        r.bytesBounced += bounced;
        hold(s, bounced, event.ts);
      }
      if (event.type === 'map_sg_err') {
        r.mappedWhereCaptureFailed++;
        return settle(() => s.device.unmapSgNow(sg, dir, attrs), () => { if (bounced > 0) hold(s, -bounced, event.ts); });
      }
      const live: LiveSg = { sg, tracedDma0: event.dmaAddrs[0] ?? -1, bytes, bounced };
      push(s.liveSg, key, live);
      if (event.dmaAddrs.length > 0) push(s.sgByDma, event.dmaAddrs[0]!, live);
    }, (error) => {
      failed(s, error, event.ts, bytes, line);
      if (event.type === 'map_sg') {
        const live: LiveSg = { sg: undefined, tracedDma0: event.dmaAddrs[0] ?? -1, bytes, bounced: 0 };
        push(s.liveSg, key, live);
        if (event.dmaAddrs.length > 0) push(s.sgByDma, event.dmaAddrs[0]!, live);
      }
    });
  };

  let summary: CaptureSummary;
  try {
    summary = await (early !== undefined
      ? early.start(onEvent, onProgress)
      : (inWorker ? readCaptureInWorker : readCapture)(open(), onEvent, { lenient, ...(onProgress ? { onProgress } : {}) }));
  } catch (error) {
    await system.close().catch(() => {});
    throw error;
  }
  const stats = system.swiotlb.stats();
  await system.close();
  const total = emptyFigures();
  const reports: ReplayDeviceReport[] = [];
  for (const s of states.values()) {
    for (const top of s.live.values()) for (let m: Live | undefined = top; m; m = m.below) if (m.modelDma >= 0) { s.report.liveAtEnd++; s.report.liveBytesAtEnd += m.size; }
    for (const list of s.liveSg.values()) for (const m of list) if (m.sg) { s.report.liveAtEnd++; s.report.liveBytesAtEnd += m.bytes; }
    addFigures(total, s.report);
    reports.push(s.report);
  }
  total.bounceHighWaterBytes = stats.highWaterSlots * 2048;
  const poolOccupancy: PoolOccupancySample[] = occupancy.samples().map(({ t, used }) => ({ t: round6(t), usedSlots: used, totalSlots }));
  const run: ReplayRun = {
    config: { swiotlbBytes: config.swiotlbBytes, forceBounce: config.forceBounce ?? 'capture', p2pPolicy: config.p2pPolicy, ...(config.iommu ? { iommu: config.iommu } : {}) },
    total,
    devices: reports,
    pool: { totalSlots, highWaterSlots: stats.highWaterSlots, highWaterBytes: stats.highWaterSlots * 2048, fullEvents: fullCount },
    fullEvents,
    unmatched,
    poolOccupancy,
  };
  return { run, summary };
}

/**
 * The pool's occupancy over time: the most slots used in each of at most OCCUPANCY_BUCKETS time
 * buckets. The buckets start over the span the scan saw and double in width when an event falls
 * beyond them (the scan does not read every line), merging pairs.
 */
class Occupancy {
  readonly #max: number[] = new Array(OCCUPANCY_BUCKETS).fill(-1);
  #width: number;

  // The pool is empty when the capture starts: the first sample says so, so there always is one.
  constructor(private readonly t0: number, t1: number) {
    this.#width = Math.max((t1 - t0) / OCCUPANCY_BUCKETS, 1e-6);
    this.#max[0] = 0;
  }

  add(ts: number, used: number): void {
    let b = Math.floor((ts - this.t0) / this.#width);
    while (b >= OCCUPANCY_BUCKETS) {
      for (let i = 0; i < OCCUPANCY_BUCKETS / 2; i++) this.#max[i] = Math.max(this.#max[2 * i]!, this.#max[2 * i + 1]!);
      this.#max.fill(-1, OCCUPANCY_BUCKETS / 2);
      this.#width *= 2;
      b = Math.floor((ts - this.t0) / this.#width);
    }
    if (b < 0) b = 0;
    if (used > this.#max[b]!) this.#max[b] = used;
  }

  samples(): { t: number; used: number }[] {
    const out: { t: number; used: number }[] = [];
    this.#max.forEach((used, i) => { if (used >= 0) out.push({ t: this.t0 + this.#width * i, used }); });
    return out;
  }
}

/**
 * dma_map_sg_err prints no lengths; the swiotlb_bounced events just before it (same device, traced
 * before each slot was taken) give the length of every entry that was bounced. Others run to the
 * end of their page.
 */
class BounceHints {
  readonly #recent = new Map<string, { devAddr: number; size: number }[]>();
  // Hints held over all devices. A device's list is emptied, not deleted: a Map that shrinks to
  // nothing and grows again after every bounce reallocated its table each time.
  #held = 0;

  note(device: string, devAddr: number, size: number): void {
    push(this.#recent, device, { devAddr, size });
    this.#held++;
  }

  clear(device: string): void {
    if (this.#held === 0) return;
    const list = this.#recent.get(device);
    if (list === undefined || list.length === 0) return;
    this.#held -= list.length;
    list.length = 0;
  }

  lengths(device: string, physAddrs: readonly number[]): number[] {
    const recent = this.#recent.get(device) ?? [];
    return physAddrs.map((p) => recent.find((b) => b.devAddr === p)?.size ?? REPLAY_PAGE - (p >= 0 ? p % REPLAY_PAGE : 0));
  }
}

function isMmio(event: { readonly name: string; readonly attrs: number }): boolean {
  return event.name === 'dma_map_resource' || (event.attrs & TRACE_ATTR_MMIO) !== 0;
}

// `open`, refusing a source it returned before: an exhausted stream read again gives no lines, and
// a run of nothing would look like a capture with no DMA in it.
function freshSources(open: CaptureOpener): CaptureOpener {
  const seen = new WeakSet<object>();
  return () => {
    const source = open();
    if (source !== null && (typeof source === 'object' || typeof source === 'function')) {
      if (seen.has(source)) throw new InvalidArgumentError('open() returned a capture source it had returned before: each pass reads the capture from its start, so open() must return a new stream each time', { argument: 'open' });
      seen.add(source);
    }
    return source;
  };
}

// The p2pmem BAR MMIO mappings go to: the one named, or the topology's first; undefined when it has none.
function providerOf(topology: Topology, given: ReplayOptionsSnapshot['provider']): { bdf: string; index: number; phys: number; size: number } | undefined {
  const providers = topology.providers();
  if (given === undefined) {
    const first = providers[0];
    return first && { bdf: first.bar.device.bdf, index: first.bar.index, phys: first.bar.phys, size: Math.min(first.bar.size, BAR_BACKING) };
  }
  const { bdf, bar } = given;
  const match = providers.find((p) => p.bar.device.bdf === bdf.toLowerCase() && (bar === undefined || p.bar.index === bar));
  if (!match) throw new InvalidArgumentError(`provider ${bdf}${bar === undefined ? '' : `:${bar}`} is no p2pmem BAR of the topology`, { argument: 'provider' });
  return { bdf: match.bar.device.bdf, index: match.bar.index, phys: match.bar.phys, size: Math.min(match.bar.size, BAR_BACKING) };
}

// A sink alone, or options without a clock, get the replay's clock.
function withClock(spec: TraceSpec, clock: () => number): TraceSpec {
  if (typeof spec === 'function' || spec === 'iterator' || typeof (spec as { write?: unknown }).write === 'function') return { sink: spec as TraceSink, clock };
  return (spec as TraceOptions).clock === undefined ? { ...(spec as TraceOptions), clock } : spec;
}

/**
 * Runs `call` and hands its answer to `done` (or what it throws or rejects with to `failed`, when
 * given): at once when the call answered at once, else when its promise settles. Returns what
 * `done` returns, or a promise of it; undefined when nothing was pending.
 */
function settle<T>(call: () => MaybePromise<T>, done: (value: T) => MaybePromise<void>, failed?: (error: unknown) => void): MaybePromise<void> {
  let result: MaybePromise<T>;
  try {
    result = call();
  } catch (error) {
    if (!failed) throw error;
    return failed(error);
  }
  if (isPromise(result)) return result.then(done, failed);
  return done(result);
}

function noop(): void {}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function pop<K, V>(map: Map<K, V[]>, key: K): V | undefined {
  const list = map.get(key);
  if (!list) return undefined;
  const value = list.pop();
  if (list.length === 0) map.delete(key);
  return value;
}

function pushLive(live: Map<number, Live>, dma: number, m: Live): void {
  m.below = live.get(dma);
  live.set(dma, m);
}

function popLive(live: Map<number, Live>, dma: number): Live | undefined {
  const top = live.get(dma);
  if (top === undefined) return undefined;
  if (top.below !== undefined) live.set(dma, top.below);
  else live.delete(dma);
  return top;
}

// A sync may name part of a mapping: the exact start first, else the live mapping that holds the range.
function containing(live: Map<number, Live>, dma: number, size: number): { live: Live; start: number } | undefined {
  const exact = live.get(dma);
  if (exact) return { live: exact, start: dma };
  for (const [start, m] of live) if (start <= dma && dma + size <= start + m.size) return { live: m, start };
  return undefined;
}

function unmatchedCall(s: DeviceState, unmatched: UnmatchedCall[], line: number, event: string, dmaAddr: number): void {
  s.report.unmatchedUnmaps++;
  if (unmatched.length < LISTED_UNMATCHED) unmatched.push({ line, device: s.report.device, event, dmaAddr });
}

function unmatchedSync(s: DeviceState, unmatched: UnmatchedCall[], line: number, event: string, dmaAddr: number): void {
  s.report.unmatchedSyncs++;
  if (unmatched.length < LISTED_UNMATCHED) unmatched.push({ line, device: s.report.device, event, dmaAddr });
}

function sgKey(physAddrs: readonly number[]): string {
  return `${physAddrs[0] ?? -1}/${physAddrs.length}`;
}

/**
 * The length of each scatterlist entry. dma_map_sg prints the DMA segments' lengths, not the
 * entries': where they are one to one (`exact`) they are the same; otherwise (an IOMMU merged
 * entries, or the entry lengths are not printed at all) each entry but the last runs to the end of
 * its page and the last takes what the segments total beyond that.
 */
export function entryLengths(physAddrs: readonly number[], sizes: readonly number[], exact: boolean): number[] {
  if (exact && sizes.length === physAddrs.length) return sizes.map((s) => Math.max(1, s));
  const n = physAddrs.length;
  const out: number[] = new Array(n);
  let total = sizes.reduce((a, b) => a + b, 0);
  for (let i = 0; i < n; i++) {
    const p = physAddrs[i]!;
    const toPageEnd = REPLAY_PAGE - (p >= 0 ? p % REPLAY_PAGE : 0);
    if (i === n - 1) out[i] = Math.max(1, total > 0 ? total : toPageEnd);
    else {
      out[i] = toPageEnd;
      total -= toPageEnd;
    }
  }
  return out;
}

/** The width of a printed DMA mask (ffffffff: 32), or undefined for a mask that is not 2^n - 1. */
export function maskBits(mask: string): number | undefined {
  const trimmed = mask.replace(/^0+/, '');
  if (trimmed === '') return undefined;
  const lead = parseInt(trimmed[0]!, 16);
  if (!/^[137f]f*$/.test(trimmed)) return undefined;
  return (trimmed.length - 1) * 4 + (lead === 1 ? 1 : lead === 3 ? 2 : lead === 7 ? 3 : 4);
}

function standInEndpoint(topology: Topology): string {
  const providers = new Set(topology.providers().map((p) => p.bar.device));
  const endpoints = topology.endpoints();
  const withBars = endpoints.filter((e) => e.bars.length > 0 && !providers.has(e));
  const pick = withBars[0] ?? endpoints.find((e) => !providers.has(e)) ?? endpoints[0];
  if (!pick) throw new TraceReplayError('the topology has no endpoint to replay devices on', { reason: 'topology' });
  return pick.bdf;
}

function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
