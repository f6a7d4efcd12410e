// The seed thread's debate, measured: a client device reads and writes data that lives in a
// provider's BAR. 'reject' is mainline (NOT_SUPPORTED fails with -EREMOTEIO), 'bounce' lets the
// DMA mapper bounce through swiotlb (Jason Gunthorpe's position), 'staged' is the "two DMA
// requests" alternative (Logan Gunthorpe's): the submitter copies BAR -> host buffer with the
// copy engine, then does normal DMA, and the reverse for reads.
import { randomFillSync } from 'node:crypto';
import {
  DmaDirection, DmaSystem, InvalidArgumentError, Topology, buildTopology, loadTopologyJson, mapType, type DmaDevice, type IommuMode, type P2pMapType, type Region, type Span, type TopologySpec, type TraceSpec,
} from '../../src/index.js';
import { DEFAULT_TOPOLOGY } from '../../src/dma/default-topology.js';
import { median } from '../median.js';

export type Policy = 'reject' | 'bounce' | 'staged';
export const POLICIES: readonly Policy[] = ['reject', 'bounce', 'staged'];

export interface PolicyWorkload {
  /** Bytes per I/O (default 128 KiB). */
  readonly ioSize: number;
  /** I/Os in flight (default 8). */
  readonly queueDepth: number;
  /** I/Os per (route, policy) pair and round (default 2000). Half write (device reads the BAR), half read. */
  readonly ios: number;
  /** Rounds over every (route, policy) pair (present when more than 1). */
  readonly rounds?: number;
}

export interface PolicyResult {
  readonly provider: string;
  readonly client: string;
  readonly route: P2pMapType;
  readonly policy: Policy;
  readonly ok: boolean;
  /** The error code every I/O failed with (when !ok). */
  readonly error?: string;
  readonly ios: number;
  /** Bytes the CPU side copied (bounce copy-in and copy-back, or staging copies). */
  readonly bytesCopied: number;
  /** swiotlb high-water mark during the run, bytes. */
  readonly bounceHighWaterBytes: number;
  readonly bytesPerSecond: number;
  readonly latencyUs: { readonly p50: number; readonly p90: number; readonly p99: number };
  /** I/Os whose data did not arrive intact (must be 0). */
  readonly corrupted: number;
  /** With rounds: each round's bytesPerSecond, in round order (`bytesPerSecond` is their median). */
  readonly roundsBytesPerSecond?: readonly number[];
  /** With rounds: against `staged` on the same route, the median of the per-round ratios and each one. */
  readonly vsStaged?: { readonly ratio: number; readonly ratios: readonly number[] };
}

export interface PolicyReport {
  readonly workload: PolicyWorkload;
  /** The IOMMU every run had ('off': dma-direct). */
  readonly iommu: IommuMode;
  readonly results: PolicyResult[];
}

export interface PolicyRunOptions extends Partial<PolicyWorkload> {
  readonly topology?: Topology | TopologySpec | string;
  /** The provider: a function and optionally its BAR (default: its largest prefetchable BAR), made p2pmem for the run. */
  readonly provider?: { readonly bdf: string; readonly bar?: number };
  /** The clients to run (default: one per route the topology offers). */
  readonly clients?: readonly string[];
  readonly onProgress?: (done: number, total: number, label: string) => void;
  readonly shouldStop?: () => boolean;
  /** The IOMMU of the modelled system (default 'off'): 'strict'/'lazy' map through iommu-dma, 'identity' passes through. */
  readonly iommu?: IommuMode;
  /** The tracepoints of every measured run's system (not of the probe that finds the routes). */
  readonly trace?: TraceSpec;
  /**
   * Rounds (default 1, at most MAX_ROUNDS): each round runs every (route, policy) pair once, the
   * policies of a route in an order that turns by one each round, so that a slow phase of a noisy
   * machine falls on every policy alike. Each row then reports the median round.
   */
  readonly rounds?: number;
}

export const MAX_ROUNDS = 100;

const SLOT = 2048;

/**
 * For the first published p2pmem provider, one client per route type the topology offers
 * (BUS_ADDR, THRU_HOST_BRIDGE, NOT_SUPPORTED), runs the workload under every policy.
 */
export async function runPolicies(options: PolicyRunOptions = {}): Promise<PolicyReport> {
  const rounds = options.rounds ?? 1;
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > MAX_ROUNDS) throw new InvalidArgumentError(`rounds must be an integer in 1..${MAX_ROUNDS}, got ${String(rounds)}`, { argument: 'rounds' });
  const workload: PolicyWorkload = { ioSize: options.ioSize ?? 128 * 1024, queueDepth: options.queueDepth ?? 8, ios: options.ios ?? 2000, ...(rounds > 1 ? { rounds } : {}) };
  const iommu = options.iommu ?? 'off';
  const topology = options.provider ? withProvider(options.topology, options.provider) : options.topology;
  const probe = DmaSystem.create({ ...(topology ? { topology } : {}), engine: { workers: 1 } });
  let pairs: Pair[];
  try {
    pairs = routes(probe.topology, options.provider?.bdf, options.clients);
  } finally {
    await probe.close();
  }
  options = { ...options, ...(topology ? { topology } : {}) };
  const total = pairs.length * POLICIES.length * rounds;
  // runs[pair][policy]: that pair's runs under that policy, one a round.
  const runs: Run[][][] = pairs.map(() => POLICIES.map(() => []));
  let done = 0;
  measure: for (let round = 0; round < rounds; round++) {
    for (const [p, pair] of pairs.entries()) {
      for (let k = 0; k < POLICIES.length; k++) {
        const q = (k + round) % POLICIES.length;
        const policy = POLICIES[q]!;
        if (options.shouldStop?.()) break measure;
        options.onProgress?.(done++, total, `${pair.route} ${policy}${rounds > 1 ? ` (round ${round + 1}/${rounds})` : ''}`);
        runs[p]![q]!.push(await runOne(options.topology, pair, policy, workload, iommu, options.trace));
      }
    }
  }
  if (done === total) options.onProgress?.(total, total, '');
  const results: PolicyResult[] = [];
  for (const byPolicy of runs) {
    const staged = byPolicy[POLICIES.indexOf('staged')]!;
    for (const policyRuns of byPolicy) if (policyRuns.length > 0) results.push(rounds === 1 ? policyRuns[0]!.result : merged(policyRuns, staged));
  }
  return { workload, iommu, results };
}

/** One measured run: its row, and every I/O's latency in µs (sorted), for merging rounds. */
interface Run {
  readonly result: PolicyResult;
  readonly latencies: readonly number[];
}

// The rows of one (route, policy) pair's rounds as one: sums, the highest high water, the median
// round's throughput, percentiles over every round's I/Os, and each round against staged's same round.
function merged(runs: readonly Run[], staged: readonly Run[]): PolicyResult {
  const first = runs[0]!.result;
  const failed = runs.find((r) => !r.result.ok)?.result;
  const perRound = runs.map((r) => r.result.bytesPerSecond);
  const latencies = runs.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const ratios: number[] = [];
  runs.forEach((r, i) => {
    const s = staged[i]?.result;
    if (r.result.ok && s?.ok && s.bytesPerSecond > 0 && first.policy !== 'staged') ratios.push(round3(r.result.bytesPerSecond / s.bytesPerSecond));
  });
  return {
    provider: first.provider,
    client: first.client,
    route: first.route,
    policy: first.policy,
    ok: failed === undefined,
    ...(failed !== undefined ? { error: failed.error! } : {}),
    ios: sum(runs.map((r) => r.result.ios)),
    bytesCopied: sum(runs.map((r) => r.result.bytesCopied)),
    bounceHighWaterBytes: Math.max(...runs.map((r) => r.result.bounceHighWaterBytes)),
    bytesPerSecond: failed === undefined ? median(perRound) : 0,
    latencyUs: percentiles(latencies),
    corrupted: sum(runs.map((r) => r.result.corrupted)),
    roundsBytesPerSecond: perRound,
    ...(ratios.length > 0 ? { vsStaged: { ratio: median(ratios), ratios } } : {}),
  };
}

function percentiles(sorted: readonly number[]): PolicyResult['latencyUs'] {
  const pct = (p: number) => round1(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0);
  return { p50: pct(0.5), p90: pct(0.9), p99: pct(0.99) };
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

interface Pair {
  readonly provider: string;
  readonly client: string;
  readonly route: P2pMapType;
}

// The description with the provider's BAR published as p2pmem (a prefetchable BAR unless one is named).
function withProvider(source: PolicyRunOptions['topology'], provider: { readonly bdf: string; readonly bar?: number }): TopologySpec {
  const topology = source instanceof Topology ? source : typeof source === 'string' ? loadTopologyJson(source) : buildTopology(source ?? DEFAULT_TOPOLOGY);
  const device = topology.device(provider.bdf);
  const bar = provider.bar !== undefined
    ? device.bar(provider.bar)
    : [...device.bars].filter((b) => b.prefetchable).sort((a, b) => b.size - a.size)[0];
  if (!bar) {
    throw new InvalidArgumentError(provider.bar !== undefined ? `provider ${provider.bdf} has no memory BAR ${provider.bar}` : `provider ${provider.bdf} has no prefetchable memory BAR (name one: --provider ${provider.bdf}:N)`, { argument: 'provider' });
  }
  const spec = topology.toSpec();
  const stack = spec.hostBridges.flatMap((hb) => hb.devices);
  while (stack.length > 0) {
    const d = stack.pop()!;
    for (const b of d.bars ?? []) b.p2pmem = d.bdf === provider.bdf && b.index === bar.index;
    if (d.children) stack.push(...d.children);
  }
  return spec;
}

function routes(topology: Topology, providerBdf?: string, clients?: readonly string[]): Pair[] {
  const provider = providerBdf !== undefined ? topology.device(providerBdf) : topology.providers()[0]?.bar.device;
  if (!provider) return [];
  if (clients !== undefined) {
    return clients.map((bdf) => {
      const client = topology.device(bdf);
      if (client.isBridge) throw new InvalidArgumentError(`client ${bdf} is a bridge, not an endpoint`, { argument: 'client' });
      if (client === provider) throw new InvalidArgumentError(`client ${bdf} is the provider itself`, { argument: 'client' });
      return { provider: provider.bdf, client: bdf, route: mapType(provider, client).type };
    });
  }
  // Real DMA masters have BARs; functions without any (host bridge registers) come last.
  const candidates = topology.endpoints().filter((c) => c !== provider).sort((a, b) => Number(b.bars.length > 0) - Number(a.bars.length > 0));
  const pairs: Pair[] = [];
  for (const type of ['BUS_ADDR', 'THRU_HOST_BRIDGE', 'NOT_SUPPORTED'] as const) {
    const client = candidates.find((c) => mapType(provider, c).type === type);
    if (client) pairs.push({ provider: provider.bdf, client: client.bdf, route: type });
  }
  return pairs;
}

async function runOne(topology: PolicyRunOptions['topology'], pair: Pair, policy: Policy, w: PolicyWorkload, iommu: IommuMode, trace: TraceSpec | undefined): Promise<Run> {
  const system = DmaSystem.create({ ...(topology ? { topology } : {}), engine: { workers: 1 }, iommu, ...(trace !== undefined ? { trace } : {}) });
  try {
    const bar = system.barMemory(pair.provider, system.topology.device(pair.provider).bars.find((b) => b.provider)!.index);
    const device = system.device(pair.client, { p2pPolicy: policy === 'bounce' ? 'bounce' : 'reject' });
    const buffers = Array.from({ length: w.queueDepth }, () => bar.allocate(w.ioSize, 4096));
    const staging = Array.from({ length: w.queueDepth }, () => system.allocRam(w.ioSize, { alignment: 4096 }));
    system.swiotlb.resetHighWater();
    const latencies: number[] = [];
    let bytesCopied = 0;
    let corrupted = 0;
    let failure: string | undefined;
    const started = process.hrtime.bigint();
    let next = 0;
    const lane = async (slot: number) => {
      const io = new Uint8Array(w.ioSize);
      while (next < w.ios && failure === undefined) {
        const n = next++;
        const write = n % 2 === 0; // even: the device reads the BAR (a write to storage)
        randomFillSync(io);
        const t0 = process.hrtime.bigint();
        try {
          const copied = write
            ? await deviceReadsBar(system, device, bar, buffers[slot]!, staging[slot]!, policy, io, (got) => { if (Buffer.compare(got, io) !== 0) corrupted++; })
            : await deviceWritesBar(system, device, buffers[slot]!, staging[slot]!, policy, io);
          bytesCopied += copied;
          if (!write && Buffer.compare(bar.view(buffers[slot]!), io) !== 0) corrupted++;
        } catch (error) {
          failure = (error as { code?: string }).code ?? String(error);
          return;
        }
        latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
    };
    await Promise.all(buffers.map((_, slot) => lane(slot)));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    latencies.sort((a, b) => a - b);
    const result: PolicyResult = {
      ...pair,
      policy,
      ok: failure === undefined,
      ...(failure !== undefined ? { error: failure } : {}),
      ios: latencies.length,
      bytesCopied,
      bounceHighWaterBytes: system.swiotlb.stats().highWaterSlots * SLOT,
      bytesPerSecond: failure === undefined ? Math.round((latencies.length * w.ioSize) / seconds) : 0,
      latencyUs: percentiles(latencies),
      corrupted,
    };
    return { result, latencies };
  } finally {
    await system.close();
  }
}

// A write I/O: the device reads `io` from the BAR. Returns the bytes the CPU side copied.
async function deviceReadsBar(system: DmaSystem, device: DmaDevice, bar: Region, buffer: Span, staging: Span, policy: Policy, io: Uint8Array, check: (got: Uint8Array) => void): Promise<number> {
  bar.view(buffer).set(io);
  if (policy === 'staged') {
    await system.engine.copy(staging.offset, buffer.offset, buffer.length);
    const m = await device.mapSingle(staging.phys, staging.length, DmaDirection.TO_DEVICE);
    check(device.dma.read(m.dmaAddress, staging.length));
    await device.unmapSingle(m.dmaAddress, staging.length, DmaDirection.TO_DEVICE);
    return buffer.length;
  }
  const m = await device.mapSingle(buffer.phys, buffer.length, DmaDirection.TO_DEVICE);
  check(device.dma.read(m.dmaAddress, buffer.length));
  await device.unmapSingle(m.dmaAddress, buffer.length, DmaDirection.TO_DEVICE);
  return m.kind === 'bounced' ? buffer.length : 0;
}

// A read I/O: the device writes `io` into the BAR.
async function deviceWritesBar(system: DmaSystem, device: DmaDevice, buffer: Span, staging: Span, policy: Policy, io: Uint8Array): Promise<number> {
  if (policy === 'staged') {
    const m = await device.mapSingle(staging.phys, staging.length, DmaDirection.FROM_DEVICE);
    device.dma.write(m.dmaAddress, io);
    await device.unmapSingle(m.dmaAddress, staging.length, DmaDirection.FROM_DEVICE);
    await system.engine.copy(buffer.offset, staging.offset, buffer.length);
    return buffer.length;
  }
  const m = await device.mapSingle(buffer.phys, buffer.length, DmaDirection.FROM_DEVICE);
  device.dma.write(m.dmaAddress, io);
  await device.unmapSingle(m.dmaAddress, buffer.length, DmaDirection.FROM_DEVICE);
  // swiotlb copies in at map time in every direction (CVE-2022-0854), and back at unmap.
  return m.kind === 'bounced' ? 2 * buffer.length : 0;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
