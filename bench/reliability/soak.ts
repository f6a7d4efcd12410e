// npm run soak -- [--seconds S] [--seed N] [--kill-every S] [--max-heap-growth MiB] [--max-rss-growth MiB] [--json]
// A bounded soak: for S seconds (default 60), engine loops (copy, fill, copySg, copy+CRC32C, each checked
// against a reference copy of its area) and mapper loops (random devices, SG lists of RAM and BAR memory,
// every direction, simulated device DMA, sync, unmap, guard bytes checked) run concurrently on one DmaSystem,
// and optionally a worker is killed every few seconds. Prints operations done, errors, and memory at start
// and end; exit 1 on any wrong byte, unexpected error, leak, or memory growth beyond the bound.
import { parseArgs } from 'node:util';
import { FuzzRng } from './fuzz-topology.js';
import { DMA_ATTR_SKIP_CPU_SYNC, DmaBounceError, DmaDirection, DmaSystem, type Region, type Span, type StreamingDirection } from '../../src/index.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string' },
    'kill-every': { type: 'string', default: '0' },
    'max-heap-growth': { type: 'string', default: '32' },
    'max-rss-growth': { type: 'string', default: '96' },
    'new-device-per-op': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const seconds = Number(values.seconds);
const killEvery = Number(values['kill-every']);
const maxHeap = Number(values['max-heap-growth']);
const maxRss = Number(values['max-rss-growth']);
for (const [name, v] of [['seconds', seconds], ['kill-every', killEvery], ['max-heap-growth', maxHeap], ['max-rss-growth', maxRss]] as const) {
  if (!Number.isFinite(v) || v < 0) {
    process.stderr.write(`soak: --${name} must be a non-negative number\n`);
    process.exit(2);
  }
}
const seed = values.seed !== undefined ? Number(values.seed) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const MiB = 2 ** 20;
const GUARD = 256;

interface Stats {
  engineOps: number;
  mapperOps: number;
  bytesVerified: number;
  refusals: Record<string, number>;
  recovered: number;
  kills: number;
  errors: number;
  errorSamples: string[];
}
const stats: Stats = { engineOps: 0, mapperOps: 0, bytesVerified: 0, refusals: {}, recovered: 0, kills: 0, errors: 0, errorSamples: [] };
function fail(what: string): void {
  stats.errors++;
  if (stats.errorSamples.length < 10) stats.errorSamples.push(what);
}
const codeOf = (e: unknown) => (e instanceof DmaBounceError ? e.code : `uncoded ${e instanceof Error ? e.name + ': ' + e.message : String(e)}`);

function fillRandom(rng: FuzzRng, bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) bytes[i] = (rng.next() * 256) >>> 0;
}
function fillFast(rng: FuzzRng, bytes: Uint8Array): void {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
  let x = (rng.next() * 2 ** 32) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; words[i] = x; }
  for (let i = words.length * 4; i < bytes.length; i++) bytes[i] = (rng.next() * 256) >>> 0;
}
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

const system = DmaSystem.create({ swiotlb: { size: '16MiB' }, engine: { workers: 2, inlineBelow: '16KiB' } });
const ramLow = system.ram[0]!;
const ramHigh = system.ram[1]!;
const gpuBar = system.barMemory('0000:03:00.0', 1);
const deadline = Date.now() + seconds * 1000;
const mem = () => { const m = process.memoryUsage(); return { rssMiB: m.rss / MiB, heapUsedMiB: m.heapUsed / MiB, externalMiB: m.external / MiB }; };
const gc = (globalThis as { gc?: () => void }).gc;

// ---- engine loops: each owns a 24 MiB area of high RAM and a reference copy of it.
async function engineLoop(id: number): Promise<void> {
  const rng = new FuzzRng(seed + id);
  const span = ramHigh.allocate(24 * MiB, 4096);
  const bytes = ramHigh.view(span);
  fillFast(rng, bytes);
  const ref = bytes.slice();
  const off = (len: number) => rng.int(0, span.length - len);
  const engine = system.engine;
  let n = 0;
  while (Date.now() < deadline) {
    const len = rng.pick([rng.int(1, 4096), rng.int(4096, 256 * 1024), rng.int(256 * 1024, 3 * MiB)]);
    const kind = rng.int(0, 3);
    try {
      if (kind === 0) {
        // An overlapping memmove is not idempotent, so it cannot be retried after a worker kill.
        const overlapOk = !(killEvery > 0);
        const d = overlapOk ? off(len) : rng.int(span.length / 2, span.length - len), s = overlapOk ? off(len) : rng.int(0, span.length / 2 - len);
        await retry(() => engine.copy(span.offset + d, span.offset + s, len));
        ref.copyWithin(d, s, s + len);
        check(bytes, ref, d, len, 'copy');
      } else if (kind === 1) {
        const d = off(len);
        const pattern = BigInt(Math.floor(rng.next() * 2 ** 32)) * 2n ** 32n + BigInt(Math.floor(rng.next() * 2 ** 32));
        await retry(() => engine.fill(span.offset + d, pattern, len));
        for (let i = 0; i < len; i++) ref[d + i] = Number((pattern >> BigInt(8 * (i % 8))) & 0xffn);
        check(bytes, ref, d, len, 'fill');
      } else if (kind === 2) {
        const segs: [number, number, number][] = [];
        // Sources below the middle, destinations above: the list is idempotent, so a retry is safe.
        for (let k = rng.int(1, 16); k > 0; k--) { const l = rng.int(1, 64 * 1024); segs.push([rng.int(span.length / 2, span.length - l), rng.int(0, span.length / 2 - l), l]); }
        await retry(() => engine.copySg(segs.map(([d, s, l]) => [span.offset + d, span.offset + s, l] as [number, number, number])));
        for (const [d, s, l] of segs) ref.copyWithin(d, s, s + l);
        for (const [d, , l] of segs) check(bytes, ref, d, l, 'copySg');
      } else {
        // Non-overlapping so the CRC is of the bytes as they were.
        const s = rng.int(0, span.length / 2 - len), d = rng.int(span.length / 2, span.length - len);
        const crc = await retry(() => engine.copyCrc32c(span.offset + d, span.offset + s, len));
        if (crc !== crc32c(ref.subarray(s, s + len))) fail(`copyCrc32c: CRC mismatch (${len} bytes)`);
        ref.copyWithin(d, s, s + len);
        check(bytes, ref, d, len, 'copyCrc32c');
      }
    } catch (error) {
      fail(`engine ${['copy', 'fill', 'copySg', 'copyCrc32c'][kind]}: ${codeOf(error)}`);
      ref.set(bytes); // resynchronise so one failure is reported once
    }
    stats.engineOps++;
    if (++n % 500 === 0) check(bytes, ref, 0, span.length, 'whole area');
  }
  check(bytes, ref, 0, span.length, 'whole area at the end');
  ramHigh.free(span);
}

// A worker kill makes in-flight ops fail with ERR_WORKER_DIED: the op is retried (every op the loop retries
// is idempotent: its sources do not overlap its destinations, and the reference changes only on success).
async function retry<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof DmaBounceError && error.code === 'ERR_WORKER_DIED') || attempt >= 4) throw error;
      stats.recovered++;
    }
  }
}

function check(bytes: Uint8Array, ref: Uint8Array, at: number, len: number, what: string): void {
  if (!same(bytes.subarray(at, at + len), ref.subarray(at, at + len))) {
    let wrong = 0;
    for (let i = at; i < at + len; i++) if (bytes[i] !== ref[i]) wrong++;
    fail(`${what}: ${wrong} wrong bytes in [${at}, ${at + len})`);
    ref.set(bytes.subarray(at, at + len), at);
  } else stats.bytesVerified += len;
}

const CRC = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1; t[n] = c >>> 0; }
  return t;
})();
function crc32c(bytes: Uint8Array): number {
  let c = ~0 >>> 0;
  for (const b of bytes) c = (c >>> 8) ^ CRC[(c ^ b) & 0xff]!;
  return ~c >>> 0;
}

// ---- mapper loops
const DEVICES = ['0000:04:00.0', '0000:05:00.0', '0000:81:00.0'];
const EXPECTED_REFUSALS = ['ERR_DMA_P2P_NOT_SUPPORTED', 'ERR_DMA_MAPPING', 'ERR_SWIOTLB_FULL'];

// Drivers hold one handle per device configuration; --new-device-per-op asks the system for a new one per
// operation instead, which shows that DmaSystem keeps every device it ever handed out (see RELIABILITY.md).
const devices = new Map<string, ReturnType<typeof system.device>>();
function deviceFor(rng: FuzzRng) {
  const bdf = rng.pick(DEVICES);
  const options = {
    dmaBits: rng.pick([32, 40, 64]), forceBounce: rng.chance(0.3), minAlignMask: rng.pick([0, 0xfff]),
    p2pPolicy: rng.pick(['reject', 'bounce'] as const), cpu: rng.int(0, 3), waitForSpace: rng.chance(0.5) ? 1000 : (false as const),
  };
  if (values['new-device-per-op']) return system.device(bdf, options);
  const key = `${bdf} ${JSON.stringify(options)}`;
  let device = devices.get(key);
  if (!device) devices.set(key, (device = system.device(bdf, options)));
  return device;
}

async function mapperLoop(id: number): Promise<void> {
  const rng = new FuzzRng(seed + 100 + id);
  while (Date.now() < deadline) {
    const device = deviceFor(rng);
    const direction = rng.pick([DmaDirection.TO_DEVICE, DmaDirection.FROM_DEVICE, DmaDirection.BIDIRECTIONAL]) as StreamingDirection;
    const skip = rng.chance(0.2);
    const buffers: { region: Region; span: Span; phys: number; length: number; area: Uint8Array; expected: Uint8Array }[] = [];
    try {
      for (let k = rng.int(1, 8); k > 0; k--) {
        const region = rng.pick([ramLow, ramLow, gpuBar, ramHigh]);
        const length = rng.int(1, rng.chance(0.8) ? 16 * 1024 : 200 * 1024);
        let span: Span;
        try { span = region.allocate(length + 2 * GUARD, 4096); } catch { continue; }
        const area = region.view(span);
        fillRandom(rng, area.subarray(0, Math.min(area.length, 64)));
        fillFast(rng, area);
        buffers.push({ region, span, phys: span.phys + GUARD, length, area, expected: area.slice() });
      }
      if (buffers.length === 0) continue;
      let sg;
      try {
        sg = await device.mapSg(buffers.map((b) => ({ phys: b.phys, length: b.length })), direction, skip ? DMA_ATTR_SKIP_CPU_SYNC : 0);
      } catch (error) {
        const code = codeOf(error);
        if (EXPECTED_REFUSALS.includes(code)) stats.refusals[code] = (stats.refusals[code] ?? 0) + 1;
        else fail(`mapSg: ${code}`);
        continue;
      } finally {
        stats.mapperOps++;
      }
      const late: { b: (typeof buffers)[number]; at: number; data: Uint8Array }[] = [];
      for (const [i, seg] of sg.segments.entries()) {
        const b = buffers[i]!;
        let seen: Uint8Array;
        try { seen = device.dma.read(seg.dmaAddress, seg.length); } catch (error) {
          // Mainline hands out a bus address beyond a narrow mask: the device faults, as documented.
          if (codeOf(error) !== 'ERR_DEVICE_FAULT' || seg.kind !== 'bus-address') fail(`device read: ${codeOf(error)}`);
          continue;
        }
        if (!same(seen, b.area.subarray(GUARD, GUARD + b.length))) fail(`device read of a ${seg.kind} segment differs`);
        else stats.bytesVerified += b.length;
        if (direction !== DmaDirection.TO_DEVICE && rng.chance(0.7)) {
          const at = rng.int(0, b.length - 1);
          const data = new Uint8Array(rng.int(1, b.length - at));
          fillFast(rng, data);
          device.dma.write(seg.dmaAddress + at, data);
          if (seg.kind === 'bounced') late.push({ b, at, data });
          else b.expected.set(data, GUARD + at);
        }
      }
      if (rng.chance(0.3)) {
        await device.syncSgForCpu(sg, direction);
        for (const l of late.splice(0)) l.b.expected.set(l.data, GUARD + l.at);
      }
      await device.unmapSg(sg, direction, skip ? DMA_ATTR_SKIP_CPU_SYNC : 0);
      if (!skip) for (const l of late) l.b.expected.set(l.data, GUARD + l.at);
    } catch (error) {
      fail(`mapper: ${codeOf(error)}`);
    } finally {
      for (const b of buffers) {
        if (!same(b.area, b.expected)) fail(`buffer of ${b.length} bytes in ${b.region.name} differs from the reference after unmap`);
        else stats.bytesVerified += b.area.length;
        b.region.free(b.span);
      }
    }
  }
}

async function killer(): Promise<void> {
  if (!(killEvery > 0)) return;
  const rng = new FuzzRng(seed + 999);
  while (Date.now() + killEvery * 1000 < deadline) {
    await new Promise((r) => setTimeout(r, killEvery * 1000));
    if (await system.engine.channels[rng.int(0, system.engine.channels.length - 1)]!.killWorker()) stats.kills++;
  }
}

// The fabric is shared memory committed on first touch: touch every region now, so that what the soak
// measures is growth, not the first use of memory that was always there. Then warm up (JIT, worker heaps)
// for a fifth of the run (at most 5 s) before the start figures are taken.
for (const region of [ramLow, ramHigh, gpuBar]) region.view({ offset: region.offset, length: region.size }).fill(0);
const started = Date.now();
let before = mem();
const warmup = new Promise<void>((resolve) => setTimeout(() => { gc?.(); before = mem(); resolve(); }, Math.min(5000, seconds * 200)));
await Promise.all([engineLoop(0), engineLoop(1), mapperLoop(0), mapperLoop(1), killer(), warmup]);
const pool = system.swiotlb.stats();
if (pool.usedSlots !== 0 || pool.mappings !== 0 || pool.waiters !== 0) fail(`swiotlb not empty at the end: ${JSON.stringify(pool)}`);
gc?.();
const after = mem();
const elapsed = (Date.now() - started) / 1000;
const heapGrowth = after.heapUsedMiB - before.heapUsedMiB;
const rssGrowth = after.rssMiB - before.rssMiB;
const growthOk = heapGrowth <= maxHeap && rssGrowth <= maxRss;
await system.close();

const report = {
  seed, seconds: Math.round(elapsed * 10) / 10, killEvery, gcExposed: gc !== undefined,
  engineOps: stats.engineOps, mapperOps: stats.mapperOps, opsPerSecond: Math.round((stats.engineOps + stats.mapperOps) / elapsed),
  bytesVerifiedMiB: Math.round(stats.bytesVerified / MiB), expectedRefusals: stats.refusals, workerKills: stats.kills, retriedAfterKill: stats.recovered,
  errors: stats.errors, errorSamples: stats.errorSamples, engineStats: system.engine.stats(), swiotlbHighWaterSlots: pool.highWaterSlots,
  memoryStart: round(before), memoryEnd: round(after), heapGrowthMiB: Math.round(heapGrowth * 10) / 10, rssGrowthMiB: Math.round(rssGrowth * 10) / 10,
  bound: { maxHeapGrowthMiB: maxHeap, maxRssGrowthMiB: maxRss }, withinBound: growthOk,
};
function round(m: Record<string, number>) {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v * 10) / 10]));
}
if (values.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
else {
  process.stdout.write(`soak: seed ${seed} (replay: --seed ${seed}), ${report.seconds} s, worker kill every ${killEvery || '-'} s\n`);
  process.stdout.write(`operations: ${report.engineOps} engine + ${report.mapperOps} mapper (${report.opsPerSecond}/s), ${report.bytesVerifiedMiB} MiB verified\n`);
  process.stdout.write(`expected refusals: ${JSON.stringify(report.expectedRefusals)}; worker kills ${report.workerKills}, ops retried after a kill ${report.retriedAfterKill}\n`);
  process.stdout.write(`errors: ${report.errors}${report.errorSamples.length ? '\n  ' + report.errorSamples.join('\n  ') : ''}\n`);
  process.stdout.write(`memory start: rss ${report.memoryStart.rssMiB} MiB, heap ${report.memoryStart.heapUsedMiB} MiB; end: rss ${report.memoryEnd.rssMiB} MiB, heap ${report.memoryEnd.heapUsedMiB} MiB\n`);
  process.stdout.write(`growth: heap ${report.heapGrowthMiB} MiB (bound ${maxHeap}), rss ${report.rssGrowthMiB} MiB (bound ${maxRss}): ${growthOk ? 'within bound' : 'BEYOND BOUND'}${gc ? '' : ' (run with node --expose-gc for a settled heap)'}\n`);
}
process.exitCode = stats.errors === 0 && growthOk ? 0 : 1;
