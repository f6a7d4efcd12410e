// The bad-input catalogue: every public entry point with wrong types, NaN, negative, huge, unaligned,
// out-of-range and overlapping values, and the error code each gets. test/bad-input-api.test.ts checks every
// row and that docs/bad-input.md lists it (DMA_BOUNCE_WRITE_DOCS=1 regenerates the file from here).
import { dirname } from 'node:path';
import {
  CopyEngine,
  DmaChannel,
  DmaDirection,
  BlkDmaIterator,
  DmaSystem,
  Fabric,
  P2pmemProvider,
  RangeAllocator,
  Ring,
  SgList,
  SgTable,
  SwiotlbMem,
  SwiotlbPool,
  acsEnabled,
  acsPathEnabled,
  applyAcsParameters,
  applyOverrides,
  buildTopology,
  createRestrictedDmaPool,
  createWorkerPool,
  runBatch,
  cpuFromCpuinfo,
  explainPair,
  formatExplanation,
  inferCpuFromHostBridge,
  iommuGroupOf,
  iommuGroups,
  loadLspci,
  loadTopologyJson,
  parseAcsParameters,
  parseCpu,
  parseLspci,
  parseLspciDump,
  parseSize,
  type DmaDevice,
  type IovaState,
  type Region,
  type Span,
  DmaTracer,
  IovaDomain,
  PageCollector,
  TraceLineParser,
  checkTraceFormat,
  readCapture,
  replayCapture,
} from '../../dist/src/index.js';
import { readCaptureInWorker } from '../../dist/src/trace/capture-in-worker.js';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export type InputClass = 'wrong type' | 'NaN' | 'negative' | 'huge' | 'unaligned' | 'out of range' | 'overlapping' | 'empty' | 'unknown' | 'state';

export interface Row {
  readonly api: string;
  readonly cls: InputClass;
  /** The offending input, as the docs show it. */
  readonly input: string;
  readonly code: string;
  readonly run: () => unknown;
}

export interface Rig {
  readonly system: DmaSystem;
  readonly device: DmaDevice;
  readonly ram: Region;
  readonly fabric: Fabric;
  readonly ring: Ring;
  readonly engine: CopyEngine;
  readonly pool: SwiotlbPool;
  readonly provider: P2pmemProvider;
  readonly span: Span;
}

export function makeRig(): Rig {
  const system = DmaSystem.create({ swiotlb: { size: '1MiB' }, engine: { workers: 1 } });
  const fabric = new Fabric({ size: '32MiB', scratch: '1MiB' });
  fabric.addRegion({ name: 'ram', kind: 'ram', phys: 0x10_0000, size: '8MiB' });
  const ram = system.ram[0]!;
  const span = ram.allocate(8192, 4096);
  return {
    system,
    device: system.device('0000:04:00.0', { forceBounce: true }),
    ram,
    fabric,
    ring: new Ring(fabric, { slots: 16 }),
    engine: system.engine,
    pool: new SwiotlbPool({ base: 0x100_0000, size: '1MiB' }),
    provider: system.topology.providers()[0]!,
    span,
  };
}

const TO = DmaDirection.TO_DEVICE;
const any = (v: unknown) => v as never;

/** Every row; `r` supplies the objects under test. */
export function catalogue(r: Rig): Row[] {
  const d = r.device;
  const p = r.span.phys;
  const e = r.engine;
  const base = r.system.fabric.dataStart;
  const rows: Row[] = [
    // sizes (bytes, or a whole number with a binary unit)
    { api: 'parseSize', cls: 'wrong type', input: '{}', code: 'ERR_INVALID_SIZE', run: () => parseSize({}) },
    { api: 'parseSize', cls: 'NaN', input: 'NaN', code: 'ERR_INVALID_SIZE', run: () => parseSize(Number.NaN) },
    { api: 'parseSize', cls: 'negative', input: '-1', code: 'ERR_INVALID_SIZE', run: () => parseSize(-1) },
    { api: 'parseSize', cls: 'huge', input: '"9999999TiB"', code: 'ERR_INVALID_SIZE', run: () => parseSize('9999999TiB') },
    { api: 'parseSize', cls: 'unaligned', input: '1.5', code: 'ERR_INVALID_SIZE', run: () => parseSize(1.5) },
    { api: 'parseSize', cls: 'unknown', input: '"4KB"', code: 'ERR_INVALID_SIZE', run: () => parseSize('4KB') },
    // fabric
    { api: 'new Fabric', cls: 'wrong type', input: '{ size: true }', code: 'ERR_INVALID_SIZE', run: () => new Fabric({ size: any(true) }) },
    { api: 'new Fabric', cls: 'unaligned', input: '{ size: 100000 }', code: 'ERR_INVALID_ARGUMENT', run: () => new Fabric({ size: 100000 }) },
    { api: 'new Fabric', cls: 'huge', input: '{ size: "8GiB" }', code: 'ERR_INVALID_ARGUMENT', run: () => new Fabric({ size: '8GiB' }) },
    { api: 'new Fabric', cls: 'out of range', input: '{ size: "1MiB", scratch: "1MiB" }', code: 'ERR_INVALID_ARGUMENT', run: () => new Fabric({ size: '1MiB', scratch: '1MiB' }) },
    { api: 'Fabric.addRegion', cls: 'wrong type', input: 'null', code: 'ERR_INVALID_ARGUMENT', run: () => r.fabric.addRegion(any(null)) },
    { api: 'Fabric.addRegion', cls: 'unaligned', input: 'phys 0x1001', code: 'ERR_INVALID_ARGUMENT', run: () => r.fabric.addRegion({ name: 'x', kind: 'ram', phys: 0x1001, size: 4096 }) },
    { api: 'Fabric.addRegion', cls: 'NaN', input: 'phys NaN', code: 'ERR_INVALID_ARGUMENT', run: () => r.fabric.addRegion({ name: 'x', kind: 'ram', phys: Number.NaN, size: 4096 }) },
    { api: 'Fabric.addRegion', cls: 'overlapping', input: 'phys inside region "ram"', code: 'ERR_REGION_CONFLICT', run: () => r.fabric.addRegion({ name: 'x', kind: 'ram', phys: 0x20_0000, size: 4096 }) },
    { api: 'Fabric.addRegion', cls: 'huge', input: 'size "1GiB"', code: 'ERR_FABRIC_FULL', run: () => r.fabric.addRegion({ name: 'x', kind: 'ram', phys: 0x4000_0000, size: '1GiB' }) },
    { api: 'Fabric.addRegion', cls: 'unknown', input: 'kind "rom"', code: 'ERR_INVALID_ARGUMENT', run: () => r.fabric.addRegion({ name: 'x', kind: any('rom'), phys: 0x4000_0000, size: 4096 }) },
    { api: 'Fabric.regionAt', cls: 'out of range', input: 'phys 0x7000_0000', code: 'ERR_BAD_ADDRESS', run: () => r.fabric.regionAt(0x7000_0000) },
    { api: 'Fabric.regionAt', cls: 'NaN', input: 'NaN', code: 'ERR_BAD_ADDRESS', run: () => r.fabric.regionAt(Number.NaN) },
    { api: 'Fabric.regionAt', cls: 'overlapping', input: 'range crossing the region end', code: 'ERR_BAD_ADDRESS', run: () => r.fabric.regionAt(0x10_0000 + 8 * 2 ** 20 - 1, 2) },
    { api: 'Region.allocate', cls: 'negative', input: '-1', code: 'ERR_INVALID_SIZE', run: () => r.ram.allocate(-1) },
    { api: 'Region.allocate', cls: 'empty', input: '0', code: 'ERR_INVALID_ARGUMENT', run: () => r.ram.allocate(0) },
    { api: 'Region.allocate', cls: 'unaligned', input: 'alignment 3', code: 'ERR_INVALID_ARGUMENT', run: () => r.ram.allocate(16, 3) },
    { api: 'Region.allocate', cls: 'huge', input: '"1GiB"', code: 'ERR_ALLOC_EXHAUSTED', run: () => r.ram.allocate('1GiB') },
    { api: 'Region.free', cls: 'wrong type', input: 'null', code: 'ERR_INVALID_ARGUMENT', run: () => r.ram.free(any(null)) },
    { api: 'Region.free', cls: 'state', input: 'a span of another region', code: 'ERR_FOREIGN_SPAN', run: () => r.ram.free({ ...r.span, region: r.system.ram[1]! }) },
    { api: 'RangeAllocator.free', cls: 'state', input: 'an offset never allocated', code: 'ERR_FOREIGN_SPAN', run: () => new RangeAllocator(0, 4096).free(12) },
    { api: 'new SgTable', cls: 'huge', input: 'capacity 2^25', code: 'ERR_INVALID_ARGUMENT', run: () => new SgTable(r.fabric, 2 ** 25) },
    { api: 'new SgTable', cls: 'NaN', input: 'capacity NaN', code: 'ERR_INVALID_ARGUMENT', run: () => new SgTable(r.fabric, Number.NaN) },
    { api: 'SgTable.push', cls: 'negative', input: 'len -1', code: 'ERR_INVALID_ARGUMENT', run: () => withTable(r.fabric, (t) => t.push(0, 0, -1)) },
    { api: 'SgTable.push', cls: 'huge', input: 'dst 2^32', code: 'ERR_INVALID_ARGUMENT', run: () => withTable(r.fabric, (t) => t.push(2 ** 32, 0, 1)) },
    { api: 'SgTable.push', cls: 'out of range', input: 'a 2nd entry in a 1-entry table', code: 'ERR_INVALID_ARGUMENT', run: () => withTable(r.fabric, (t) => { t.push(0, 0, 1); t.push(0, 0, 1); }) },
    { api: 'SgList.push', cls: 'NaN', input: 'addr NaN', code: 'ERR_INVALID_ARGUMENT', run: () => { const l = new SgList(r.fabric, 1); try { l.push(Number.NaN, 1); } finally { l.release(); } } },
    // engine
    { api: 'new Ring', cls: 'unaligned', input: 'slots 100', code: 'ERR_INVALID_ARGUMENT', run: () => new Ring(r.fabric, { slots: 100 }) },
    { api: 'Ring.enqueueCopy', cls: 'negative', input: 'len -1', code: 'ERR_INVALID_ARGUMENT', run: () => r.ring.enqueueCopy(0, 0, -1) },
    { api: 'Ring.enqueueCopy', cls: 'NaN', input: 'dst NaN', code: 'ERR_INVALID_ARGUMENT', run: () => r.ring.enqueueCopy(Number.NaN, 0, 1) },
    { api: 'Ring.enqueueFill', cls: 'wrong type', input: 'pattern 5 (not a bigint)', code: 'ERR_INVALID_ARGUMENT', run: () => r.ring.enqueueFill(0, any(5), 1) },
    { api: 'Ring.enqueueCopyTable', cls: 'wrong type', input: '{}', code: 'ERR_INVALID_ARGUMENT', run: () => r.ring.enqueueCopyTable(any({})) },
    { api: 'Ring.enqueueCopyTable', cls: 'unknown', input: "an SgTable of another fabric", code: 'ERR_INVALID_ARGUMENT', run: () => withTable(r.system.fabric, (t) => { t.push(r.system.fabric.dataStart, r.system.fabric.dataStart + 64, 64); return r.ring.enqueueCopyTable(t); }) },
    { api: 'FabricKernels.copySg', cls: 'unknown', input: "an SgTable of another fabric", code: 'ERR_INVALID_ARGUMENT', run: () => withTable(r.fabric, (t) => { t.push(r.fabric.dataStart, r.fabric.dataStart + 64, 64); return r.system.fabric.kernels.copySg(t); }) },
    { api: 'CopyEngine.copySg', cls: 'unknown', input: "an SgTable of another fabric", code: 'ERR_INVALID_ARGUMENT', run: () => withTable(r.fabric, (t) => { t.push(r.fabric.dataStart, r.fabric.dataStart + 64, 64); return e.copySg(t); }) },
    { api: 'CopyEngine.create', cls: 'out of range', input: 'workers 0', code: 'ERR_INVALID_ARGUMENT', run: () => CopyEngine.create(r.fabric, { workers: 0 }) },
    { api: 'CopyEngine.create', cls: 'NaN', input: 'pollMicros NaN', code: 'ERR_INVALID_ARGUMENT', run: () => CopyEngine.create(r.fabric, { pollMicros: Number.NaN }) },
    { api: 'CopyEngine.create', cls: 'wrong type', input: 'inlineBelow "big"', code: 'ERR_INVALID_SIZE', run: () => CopyEngine.create(r.fabric, { inlineBelow: 'big' }) },
    { api: 'CopyEngine.copy', cls: 'NaN', input: 'len NaN', code: 'ERR_INVALID_ARGUMENT', run: () => e.copy(base, base, Number.NaN) },
    { api: 'CopyEngine.copy', cls: 'negative', input: 'dst -1', code: 'ERR_INVALID_ARGUMENT', run: () => e.copy(-1, base, 1) },
    { api: 'CopyEngine.copy', cls: 'huge', input: 'len 2^32', code: 'ERR_INVALID_ARGUMENT', run: () => e.copy(base, base, 2 ** 32) },
    { api: 'CopyEngine.copy', cls: 'out of range', input: 'dst in the guard page (0)', code: 'ERR_COPY_FAILED', run: () => e.copy(0, base, 16) },
    { api: 'CopyEngine.copy', cls: 'out of range', input: 'src past the fabric end (ring path)', code: 'ERR_COPY_FAILED', run: () => e.copy(base, r.system.fabric.size - 16, 1 << 20) },
    { api: 'CopyEngine.copy', cls: 'wrong type', input: 'options.signal {}', code: 'ERR_INVALID_ARGUMENT', run: () => e.copy(base, base, 1, { signal: any({}) }) },
    { api: 'CopyEngine.copy', cls: 'state', input: 'an already aborted signal', code: 'ERR_ABORTED', run: () => e.copy(base, base, 1, { signal: AbortSignal.abort() }) },
    { api: 'CopyEngine.copy', cls: 'wrong type', input: 'options.placement "yes"', code: 'ERR_INVALID_ARGUMENT', run: () => e.copy(base, base, 1, { placement: any('yes') }) },
    { api: 'CopyEngine.copy', cls: 'out of range', input: 'placement worker, dst in the guard page (ring path)', code: 'ERR_COPY_FAILED', run: () => e.copy(0, base, 16, { placement: 'worker' }) },
    { api: 'CopyEngine.copySg', cls: 'wrong type', input: '"x"', code: 'ERR_INVALID_ARGUMENT', run: () => e.copySg(any('x')) },
    { api: 'CopyEngine.copySg', cls: 'wrong type', input: '[[1, 2]] (a pair)', code: 'ERR_INVALID_ARGUMENT', run: () => e.copySg(any([[1, 2]])) },
    { api: 'CopyEngine.copySg', cls: 'out of range', input: 'a segment reaching the scratch area', code: 'ERR_COPY_FAILED', run: () => e.copySg([[base - 64, base, 128]]) },
    { api: 'CopyEngine.fill', cls: 'wrong type', input: 'pattern 1 (not a bigint)', code: 'ERR_INVALID_ARGUMENT', run: () => e.fill(base, any(1), 8) },
    { api: 'CopyEngine.copyCrc32c', cls: 'negative', input: 'seed -1', code: 'ERR_INVALID_ARGUMENT', run: () => e.copyCrc32c(base, base, 8, { seed: -1 }) },
    // engine and fabric: types, NaN/Infinity, null options, non-fabrics, pools, states
    { api: 'CopyEngine.create', cls: 'wrong type', input: 'options null', code: 'ERR_INVALID_ARGUMENT', run: () => CopyEngine.create(r.fabric, any(null)) },
    { api: 'CopyEngine.create', cls: 'wrong type', input: 'fabric {} (not a Fabric)', code: 'ERR_INVALID_ARGUMENT', run: () => CopyEngine.create(any({})) },
    { api: 'CopyEngine.create', cls: 'wrong type', input: 'workers 1n (a BigInt)', code: 'ERR_INVALID_ARGUMENT', run: () => CopyEngine.create(r.fabric, { workers: any(1n) }) },
    { api: 'CopyEngine.create', cls: 'huge', input: 'pollMicros Infinity', code: 'ERR_INVALID_ARGUMENT', run: () => CopyEngine.create(r.fabric, { pollMicros: Infinity }) },
    { api: 'CopyEngine.create', cls: 'huge', input: 'splitAbove "8GiB"', code: 'ERR_INVALID_ARGUMENT', run: () => CopyEngine.create(r.fabric, { splitAbove: '8GiB' }) },
    { api: 'CopyEngine.create', cls: 'unaligned', input: 'slots 100', code: 'ERR_INVALID_ARGUMENT', run: () => CopyEngine.create(r.fabric, { slots: 100 }) },
    { api: 'CopyEngine.create', cls: 'wrong type', input: 'pool {} (not a piscina pool)', code: 'ERR_INVALID_ARGUMENT', run: () => CopyEngine.create(r.fabric, { pool: any({}) }) },
    { api: 'CopyEngine.create', cls: 'out of range', input: 'a pool with fewer free threads than workers', code: 'ERR_POOL_TOO_SMALL', run: () => CopyEngine.create(r.fabric, { workers: 2, pool: any(fakePool(1)) }) },
    { api: 'CopyEngine.create', cls: 'unknown', input: 'a pool with concurrentTasksPerWorker 2', code: 'ERR_INVALID_ARGUMENT', run: () => CopyEngine.create(r.fabric, { workers: 1, pool: any(fakePool(4, 2)) }) },
    { api: 'CopyEngine.copy', cls: 'wrong type', input: 'dst 1n (a BigInt)', code: 'ERR_INVALID_ARGUMENT', run: () => e.copy(any(1n), base, 1) },
    { api: 'CopyEngine.copy', cls: 'wrong type', input: 'options null', code: 'ERR_INVALID_ARGUMENT', run: () => e.copy(base, base, 1, any(null)) },
    { api: 'CopyEngine.copy', cls: 'huge', input: 'len Infinity', code: 'ERR_INVALID_ARGUMENT', run: () => e.copy(base, base, Infinity) },
    { api: 'CopyEngine.copySg', cls: 'empty', input: 'a sparse array ([, seg])', code: 'ERR_INVALID_ARGUMENT', run: () => e.copySg(any([, [base, base + 64, 8]])) },
    { api: 'CopyEngine.copySg', cls: 'wrong type', input: 'a segment field 1n', code: 'ERR_INVALID_ARGUMENT', run: () => e.copySg(any([[base, 1n, 8]])) },
    { api: 'CopyEngine.copySg', cls: 'state', input: 'a released SgTable', code: 'ERR_INVALID_STATE', run: () => { const t = new SgTable(r.system.fabric, 1); t.release(); return e.copySg(t); } },
    { api: 'DmaChannel.open', cls: 'wrong type', input: 'options null', code: 'ERR_INVALID_ARGUMENT', run: () => DmaChannel.open(r.fabric, any(null)) },
    { api: 'DmaChannel.open', cls: 'wrong type', input: 'fabric {} (not a Fabric)', code: 'ERR_INVALID_ARGUMENT', run: () => DmaChannel.open(any({})) },
    { api: 'DmaChannel.open', cls: 'NaN', input: 'maxRestarts NaN', code: 'ERR_INVALID_ARGUMENT', run: () => DmaChannel.open(r.fabric, { maxRestarts: Number.NaN }) },
    { api: 'DmaChannel.open', cls: 'huge', input: 'maxRestarts 1e9', code: 'ERR_INVALID_ARGUMENT', run: () => DmaChannel.open(r.fabric, { maxRestarts: 1e9 }) },
    { api: 'DmaChannel.open', cls: 'out of range', input: 'a pool whose every thread serves a ring', code: 'ERR_POOL_TOO_SMALL', run: () => DmaChannel.open(r.fabric, { pool: any(fakePool(0)) }) },
    { api: 'DmaChannel.start', cls: 'state', input: 'while stop() is in progress', code: 'ERR_INVALID_STATE', run: async () => { const c = DmaChannel.open(r.fabric, { slots: 2 }); const stopping = c.stop(); try { c.start(); } finally { await stopping; await c.close(); } } },
    { api: 'DmaChannel.stop', cls: 'state', input: 'after close()', code: 'ERR_ENGINE_CLOSED', run: async () => { const c = DmaChannel.open(r.fabric, { slots: 2 }); await c.close(); return c.stop(); } },
    { api: 'new Ring', cls: 'wrong type', input: 'options null', code: 'ERR_INVALID_ARGUMENT', run: () => new Ring(r.fabric, any(null)) },
    { api: 'new Ring', cls: 'wrong type', input: 'fabric {} (not a Fabric)', code: 'ERR_INVALID_ARGUMENT', run: () => new Ring(any({})) },
    { api: 'new Ring', cls: 'wrong type', input: 'spin 1n (a BigInt)', code: 'ERR_INVALID_ARGUMENT', run: () => new Ring(r.fabric, { spin: any(1n) }) },
    { api: 'Ring.enqueueCopy', cls: 'wrong type', input: 'src 1n (a BigInt)', code: 'ERR_INVALID_ARGUMENT', run: () => r.ring.enqueueCopy(0, any(1n), 1) },
    { api: 'Ring.enqueueCopy', cls: 'unknown', input: 'flags 8 (no such flag)', code: 'ERR_INVALID_ARGUMENT', run: () => r.ring.enqueueCopy(0, 0, 1, 8) },
    { api: 'Ring.cancel', cls: 'NaN', input: 'NaN (was: cancelled the oldest op)', code: 'ERR_INVALID_ARGUMENT', run: () => r.ring.cancel(Number.NaN) },
    { api: 'Ring.cancel', cls: 'huge', input: '65536', code: 'ERR_INVALID_ARGUMENT', run: () => r.ring.cancel(65536) },
    { api: 'Ring.pollCompletion', cls: 'huge', input: 'Infinity (was: blocked forever)', code: 'ERR_INVALID_ARGUMENT', run: () => r.ring.pollCompletion(Infinity) },
    { api: 'Ring.pollCompletion', cls: 'NaN', input: 'NaN', code: 'ERR_INVALID_ARGUMENT', run: () => r.ring.pollCompletion(Number.NaN) },
    { api: 'Ring.completedStatus', cls: 'unaligned', input: 'max 1.5', code: 'ERR_INVALID_ARGUMENT', run: () => r.ring.completedStatus(1.5) },
    { api: 'Ring.submit', cls: 'state', input: 'a released ring', code: 'ERR_INVALID_STATE', run: () => { const ring = new Ring(r.fabric, { slots: 2 }); ring.release(); ring.submit(); } },
    { api: 'Ring.release', cls: 'state', input: 'a ring a server holds', code: 'ERR_INVALID_STATE', run: async () => { const c = DmaChannel.open(r.fabric, { slots: 2 }); try { while (!c.ring.serverActive) await new Promise((t) => setTimeout(t, 1)); c.ring.release(); } finally { await c.close(); } } },
    { api: 'Ring.reserveServer', cls: 'state', input: 'a ring a server holds', code: 'ERR_RING_BUSY', run: async () => { const c = DmaChannel.open(r.fabric, { slots: 2 }); try { while (!c.ring.serverActive) await new Promise((t) => setTimeout(t, 1)); c.ring.reserveServer(); } finally { await c.close(); } } },
    { api: 'SgTable.push', cls: 'wrong type', input: 'len 1n (a BigInt)', code: 'ERR_INVALID_ARGUMENT', run: () => withTable(r.fabric, (t) => t.push(0, 0, any(1n))) },
    { api: 'SgTable.push', cls: 'state', input: 'a released table', code: 'ERR_INVALID_STATE', run: () => { const t = new SgTable(r.fabric, 1); t.release(); t.push(0, 0, 1); } },
    { api: 'SgTable.release', cls: 'state', input: 'a table a ring op still reads', code: 'ERR_INVALID_STATE', run: () => { const ring = new Ring(r.fabric, { slots: 2 }); const t = new SgTable(r.fabric, 1); try { ring.enqueueCopyTable(t); t.release(); } finally { ring.release(); t.release(); } } },
    { api: 'new SgTable', cls: 'wrong type', input: 'fabric {} (not a Fabric)', code: 'ERR_INVALID_ARGUMENT', run: () => new SgTable(any({}), 1) },
    { api: 'SgList.totalLength', cls: 'state', input: 'a released list', code: 'ERR_INVALID_STATE', run: () => { const l = new SgList(r.fabric, 1); l.release(); return l.totalLength(); } },
    { api: 'runBatch', cls: 'wrong type', input: 'pool {} (not a piscina pool)', code: 'ERR_INVALID_ARGUMENT', run: () => runBatch(any({}), { table: 0, count: 0 }) },
    { api: 'runBatch', cls: 'out of range', input: 'a pool whose every thread serves a ring', code: 'ERR_POOL_TOO_SMALL', run: () => runBatch(any(fakePool(0)), { table: 0, count: 0 }) },
    { api: 'createWorkerPool', cls: 'wrong type', input: 'fabric {} (not a Fabric)', code: 'ERR_INVALID_ARGUMENT', run: () => createWorkerPool(any({}), 1) },
    { api: 'Fabric.regionAt', cls: 'wrong type', input: 'Symbol()', code: 'ERR_INVALID_ARGUMENT', run: () => r.fabric.regionAt(any(Symbol('phys'))) },
    { api: 'Region.free', cls: 'wrong type', input: '{ region, phys: Symbol() }', code: 'ERR_INVALID_ARGUMENT', run: () => r.ram.free(any({ region: r.ram, phys: Symbol('phys') })) },
    { api: 'Region.view', cls: 'unaligned', input: '{ offset: region.offset + 0.5, length: 4 }', code: 'ERR_INVALID_ARGUMENT', run: () => r.ram.view({ offset: r.ram.offset + 0.5, length: 4 }) },
    // swiotlb pool
    { api: 'new SwiotlbPool', cls: 'unaligned', input: 'base 0x1001', code: 'ERR_INVALID_ARGUMENT', run: () => new SwiotlbPool({ base: 0x1001 }) },
    { api: 'new SwiotlbPool', cls: 'unaligned', input: 'size "100KiB"', code: 'ERR_INVALID_ARGUMENT', run: () => new SwiotlbPool({ base: 0, size: '100KiB' }) },
    { api: 'new SwiotlbPool', cls: 'NaN', input: 'areas NaN', code: 'ERR_INVALID_ARGUMENT', run: () => new SwiotlbPool({ base: 0, size: '1MiB', areas: Number.NaN }) },
    { api: 'SwiotlbPool.map', cls: 'huge', input: 'size 256KiB + 1', code: 'ERR_INVALID_ARGUMENT', run: () => r.pool.map({ origAddr: 0, size: 262145 }) },
    { api: 'SwiotlbPool.map', cls: 'negative', input: 'origAddr -1', code: 'ERR_INVALID_ARGUMENT', run: () => r.pool.map({ origAddr: -1, size: 1 }) },
    { api: 'SwiotlbPool.map', cls: 'unaligned', input: 'allocAlignMask 0x1000', code: 'ERR_INVALID_ARGUMENT', run: () => r.pool.map({ origAddr: 0, size: 1, allocAlignMask: 0x1000 }) },
    { api: 'SwiotlbPool.unmap', cls: 'out of range', input: 'an address outside the pool', code: 'ERR_INVALID_ARGUMENT', run: () => r.pool.unmap(0, 1) },
    { api: 'SwiotlbPool.unmap', cls: 'state', input: 'a slot not mapped', code: 'ERR_INVALID_ARGUMENT', run: () => r.pool.unmap(0x100_0000, 1) },
    { api: 'SwiotlbPool.mapWait', cls: 'NaN', input: 'timeout NaN', code: 'ERR_INVALID_ARGUMENT', run: () => r.pool.mapWait({ origAddr: 0, size: 1 }, { timeout: Number.NaN }) },
    // the io_tlb_mem: dynamic pools, restricted pools
    { api: 'new SwiotlbMem', cls: 'wrong type', input: 'null', code: 'ERR_INVALID_ARGUMENT', run: () => new SwiotlbMem(any(null)) },
    { api: 'new SwiotlbMem', cls: 'unaligned', input: 'base 0x1001', code: 'ERR_INVALID_ARGUMENT', run: () => new SwiotlbMem({ base: 0x1001 }) },
    { api: 'new SwiotlbMem', cls: 'empty', input: 'dynamic {} (no allocPoolMemory)', code: 'ERR_INVALID_ARGUMENT', run: () => new SwiotlbMem({ base: 0, size: '1MiB', dynamic: {} }) },
    { api: 'new SwiotlbMem', cls: 'out of range', input: 'dynamic.maxPageOrder 30', code: 'ERR_INVALID_ARGUMENT', run: () => new SwiotlbMem({ base: 0, size: '1MiB', dynamic: { ...poolMemory(), maxPageOrder: 30 } }) },
    { api: 'new SwiotlbMem', cls: 'unknown', input: "dynamic.growth 'later'", code: 'ERR_INVALID_ARGUMENT', run: () => new SwiotlbMem({ base: 0, size: '1MiB', dynamic: { ...poolMemory(), growth: any('later') } }) },
    { api: 'new SwiotlbMem', cls: 'negative', input: 'dynamic.physLimit -1', code: 'ERR_INVALID_ARGUMENT', run: () => new SwiotlbMem({ base: 0, size: '1MiB', dynamic: { ...poolMemory(), physLimit: -1 } }) },
    { api: 'SwiotlbMem.map', cls: 'huge', input: 'size 256KiB + 1 (no growth, no transient pool)', code: 'ERR_INVALID_ARGUMENT', run: () => fullMem().map({ origAddr: 0, size: 262145 }) },
    { api: 'SwiotlbMem.map', cls: 'NaN', input: 'physLimit NaN', code: 'ERR_INVALID_ARGUMENT', run: () => fullMem().map({ origAddr: 0, size: 1, physLimit: Number.NaN }) },
    { api: 'SwiotlbMem.map', cls: 'wrong type', input: 'allocPoolMemory returns "x"', code: 'ERR_SWIOTLB_POOL_MEMORY', run: () => fullMem(() => any('x')).map({ origAddr: 0, size: 4096 }) },
    { api: 'SwiotlbMem.map', cls: 'unaligned', input: 'allocPoolMemory returns phys 0x8000_0800', code: 'ERR_SWIOTLB_POOL_MEMORY', run: () => fullMem(() => ({ phys: 0x8000_0800 })).map({ origAddr: 0, size: 4096 }) },
    { api: 'SwiotlbMem.map', cls: 'overlapping', input: 'allocPoolMemory returns memory of the default pool', code: 'ERR_SWIOTLB_POOL_MEMORY', run: () => fullMem(() => ({ phys: 0x100_0000 })).map({ origAddr: 0, size: 4096 }) },
    { api: 'SwiotlbMem.map', cls: 'state', input: 'after close()', code: 'ERR_INVALID_STATE', run: async () => { const m = new SwiotlbMem({ base: 0x100_0000, size: '256KiB' }); await m.close(); return m.map({ origAddr: 0, size: 1 }); } },
    { api: 'SwiotlbMem.unmap', cls: 'out of range', input: 'an address in no pool', code: 'ERR_INVALID_ARGUMENT', run: () => fullMem().unmap(0x7000_0000, 1) },
    { api: 'SwiotlbMem.mapWait', cls: 'wrong type', input: 'signal {}', code: 'ERR_INVALID_ARGUMENT', run: () => fullMem().mapWait({ origAddr: 0, size: 1 }, { signal: any({}) }) },
    { api: 'SwiotlbMem.close', cls: 'state', input: 'mappings still live', code: 'ERR_INVALID_STATE', run: () => fullMem().close() },
    { api: 'SwiotlbMem.alloc', cls: 'state', input: 'on a swiotlb that is not a restricted pool', code: 'ERR_INVALID_STATE', run: () => new SwiotlbMem({ base: 0x100_0000, size: '256KiB' }).alloc(4096) },
    { api: 'SwiotlbMem.alloc', cls: 'huge', input: 'size 256KiB + 1', code: 'ERR_INVALID_ARGUMENT', run: () => restrictedPool().alloc(262145) },
    { api: 'SwiotlbMem.free', cls: 'state', input: 'a streaming mapping', code: 'ERR_INVALID_ARGUMENT', run: () => { const m = restrictedPool(); return m.free(m.map({ origAddr: 0, size: 4096 }).tlbAddr, 4096); } },
    { api: 'createRestrictedDmaPool', cls: 'unknown', input: 'property "no-map"', code: 'ERR_INVALID_ARGUMENT', run: () => createRestrictedDmaPool({ name: 'r', base: 0x4000_0000, size: '1MiB', properties: ['no-map'] }) },
    { api: 'createRestrictedDmaPool', cls: 'empty', input: 'name ""', code: 'ERR_INVALID_ARGUMENT', run: () => createRestrictedDmaPool({ name: '', base: 0x4000_0000, size: '1MiB' }) },
    { api: 'createRestrictedDmaPool', cls: 'unaligned', input: 'base 0x4000_0800', code: 'ERR_INVALID_ARGUMENT', run: () => createRestrictedDmaPool({ name: 'r', base: 0x4000_0800, size: '1MiB' }) },
    // DMA system and devices
    { api: 'DmaSystem.create', cls: 'wrong type', input: 'topology 42', code: 'ERR_TOPOLOGY', run: () => DmaSystem.create({ topology: any(42) }) },
    { api: 'DmaSystem.create', cls: 'empty', input: 'ram []', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ ram: [] }) },
    { api: 'DmaSystem.create', cls: 'overlapping', input: 'two RAM regions at one address', code: 'ERR_REGION_CONFLICT', run: () => DmaSystem.create({ ram: [{ name: 'a', phys: 0x1000_0000, size: '1MiB' }, { name: 'b', phys: 0x1000_0000, size: '1MiB' }] }) },
    { api: 'DmaSystem.create', cls: 'overlapping', input: 'RAM over the swiotlb pool', code: 'ERR_REGION_CONFLICT', run: () => DmaSystem.create({ ram: [{ name: 'a', phys: 0x0400_0000, size: '1MiB' }] }) },
    { api: 'DmaSystem.create', cls: 'huge', input: 'ram "8GiB"', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ ram: [{ name: 'a', phys: 0x1_0000_0000, size: '8GiB' }] }) },
    { api: 'DmaSystem.create', cls: 'unaligned', input: 'swiotlb size "100KiB"', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ swiotlb: { size: '100KiB' } }) },
    { api: 'DmaSystem.create', cls: 'unaligned', input: 'ram phys 0x1000_0001', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ ram: [{ name: 'a', phys: 0x1000_0001, size: '1MiB' }] }) },
    { api: 'DmaSystem.device', cls: 'unknown', input: '"0000:99:00.0"', code: 'ERR_UNKNOWN_DEVICE', run: () => r.system.device('0000:99:00.0') },
    { api: 'DmaSystem.device', cls: 'wrong type', input: 'bdf 42', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.device(any(42)) },
    { api: 'DmaSystem.device', cls: 'out of range', input: 'dmaBits 12', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.device('0000:04:00.0', { dmaBits: 12 }) },
    { api: 'DmaSystem.device', cls: 'NaN', input: 'dmaBits NaN', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.device('0000:04:00.0', { dmaBits: Number.NaN }) },
    { api: 'DmaSystem.device', cls: 'unaligned', input: 'minAlignMask 0x1000', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.device('0000:04:00.0', { minAlignMask: 0x1000 }) },
    { api: 'DmaSystem.device', cls: 'negative', input: 'busDmaLimit -1', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.device('0000:04:00.0', { busDmaLimit: -1 }) },
    { api: 'DmaSystem.device', cls: 'negative', input: 'waitForSpace -1', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.device('0000:04:00.0', { waitForSpace: -1 }) },
    { api: 'DmaSystem.device', cls: 'wrong type', input: 'forceBounce "yes"', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.device('0000:04:00.0', { forceBounce: any('yes') }) },
    { api: 'DmaSystem.device', cls: 'unknown', input: 'p2pPolicy "copy"', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.device('0000:04:00.0', { p2pPolicy: any('copy') }) },
    { api: 'DmaSystem.device', cls: 'wrong type', input: 'a bridge ("0000:01:00.0")', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.device('0000:01:00.0') },
    { api: 'DmaSystem.barMemory', cls: 'out of range', input: 'BAR 7', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.barMemory('0000:03:00.0', 7) },
    { api: 'DmaDevice.mapSingle', cls: 'wrong type', input: 'phys "0x1000"', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapSingle(any('0x1000'), 16, TO) },
    { api: 'DmaDevice.mapSingle', cls: 'NaN', input: 'phys NaN', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapSingle(Number.NaN, 16, TO) },
    { api: 'DmaDevice.mapSingle', cls: 'negative', input: 'phys -4096', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapSingle(-4096, 16, TO) },
    { api: 'DmaDevice.mapSingle', cls: 'empty', input: 'size 0', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapSingle(p, 0, TO) },
    { api: 'DmaDevice.mapSingle', cls: 'huge', input: 'size 2^32', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapSingle(p, 2 ** 32, TO) },
    { api: 'DmaDevice.mapSingle', cls: 'huge', input: 'size 1MiB (bounced: above swiotlb_max_mapping_size)', code: 'ERR_DMA_MAPPING', run: () => d.mapSingle(r.ram.phys, 2 ** 20, TO) },
    { api: 'DmaDevice.mapSingle', cls: 'unaligned', input: 'size 1.5', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapSingle(p, 1.5, TO) },
    { api: 'DmaDevice.mapSingle', cls: 'out of range', input: 'phys in no region', code: 'ERR_BAD_ADDRESS', run: () => d.mapSingle(0x7000_0000, 16, TO) },
    { api: 'DmaDevice.mapSingle', cls: 'overlapping', input: 'a range crossing a region end', code: 'ERR_BAD_ADDRESS', run: () => d.mapSingle(r.ram.physEnd - 8, 16, TO) },
    { api: 'DmaDevice.mapSingle', cls: 'overlapping', input: 'phys inside the swiotlb pool', code: 'ERR_BAD_ADDRESS', run: () => d.mapSingle(0x0400_0000, 16, TO) },
    { api: 'DmaDevice.mapSingle', cls: 'out of range', input: 'direction 3 (NONE)', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapSingle(p, 16, any(3)) },
    { api: 'DmaDevice.mapSingle', cls: 'wrong type', input: 'direction "TO_DEVICE"', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapSingle(p, 16, any('TO_DEVICE')) },
    { api: 'DmaDevice.mapSingle', cls: 'unknown', input: 'attrs 1 << 3', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapSingle(p, 16, TO, 1 << 3) },
    { api: 'DmaDevice.mapSg', cls: 'empty', input: '[]', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapSg([], TO) },
    { api: 'DmaDevice.mapSg', cls: 'wrong type', input: '[null]', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapSg(any([null]), TO) },
    { api: 'DmaDevice.mapSg', cls: 'wrong type', input: '"sg"', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapSg(any('sg'), TO) },
    { api: 'DmaDevice.mapSg', cls: 'NaN', input: '[{ phys, length: NaN }]', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapSg([{ phys: p, length: Number.NaN }], TO) },
    { api: 'DmaDevice.mapSg', cls: 'wrong type', input: 'a sparse array [, , entry]', code: 'ERR_INVALID_ARGUMENT', run: () => { const holes: { phys: number; length: number }[] = []; holes[2] = { phys: p, length: 16 }; return d.mapSg(holes, TO); } },
    { api: 'DmaDevice.mapSg', cls: 'huge', input: 'an array of 2^20 + 1 entries', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapSg(any({ length: 2 ** 20 + 1, __proto__: Array.prototype }), TO) },
    { api: 'DmaDevice.mapSg', cls: 'wrong type', input: 'signal {}', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapSg([{ phys: p, length: 16 }], TO, 0, any({})) },
    { api: 'DmaDevice.mapPhys', cls: 'wrong type', input: 'phys 4096n', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapPhys(any(4096n), 16, TO) },
    { api: 'DmaDevice.mapPhys', cls: 'NaN', input: 'size NaN', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapPhys(p, Number.NaN, TO) },
    { api: 'DmaDevice.mapPhys', cls: 'out of range', input: 'DMA_ATTR_MMIO on a forced-bounce device (mainline never bounces MMIO)', code: 'ERR_DMA_MAPPING', run: () => d.mapPhys(p, 16, TO, 1 << 10) },
    { api: 'DmaDevice.mapPhys', cls: 'unknown', input: 'attrs 1 << 11', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapPhys(p, 16, TO, 1 << 11) },
    { api: 'DmaDevice.mapPage', cls: 'unaligned', input: 'page 0x1001', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapPage(0x1001, 0, 16, TO) },
    { api: 'DmaDevice.mapPage', cls: 'negative', input: 'offset -1', code: 'ERR_INVALID_ARGUMENT', run: () => d.mapPage(p, -1, 16, TO) },
    { api: 'DmaDevice.mapPage', cls: 'unknown', input: 'DMA_ATTR_MMIO (no struct page)', code: 'ERR_DMA_MAPPING', run: () => d.mapPage(p, 0, 16, TO, 1 << 10) },
    { api: 'DmaDevice.mapSingle', cls: 'unknown', input: 'DMA_ATTR_MMIO (dma_map_single refuses it)', code: 'ERR_DMA_MAPPING', run: () => d.mapSingle(p, 16, TO, 1 << 10) },
    { api: 'DmaDevice.unmapPhys', cls: 'wrong type', input: 'dmaAddress "0"', code: 'ERR_INVALID_ARGUMENT', run: () => d.unmapPhys(any('0'), 16, TO) },
    {
      api: 'DmaDevice.unmapSingle', cls: 'state', input: 'a mapping whose map has not resolved', code: 'ERR_MAPPING_STATE',
      run: async () => {
        const pending = d.mapSingle(p, 4096, TO);
        // The pending mapping's slot: the pool's live mapping of this buffer.
        const pool = r.system.swiotlb.defaultPool;
        let at = -1;
        for (let a = pool.base; a < pool.end && at < 0; a += 2048) if (r.system.swiotlb.mappingAt(a)?.origAddr === p) at = a;
        try {
          await d.unmapSingle(at, 4096, TO);
        } finally {
          const m = await pending;
          await d.unmapSingle(m.dmaAddress, 4096, TO);
        }
      },
    },
    {
      api: 'DmaDevice.unmapSingle', cls: 'state', input: 'a second unmap before the first settles', code: 'ERR_MAPPING_STATE',
      run: async () => {
        const m = await d.mapSingle(p, 4096, DmaDirection.FROM_DEVICE);
        const first = d.unmapSingle(m.dmaAddress, 4096, DmaDirection.FROM_DEVICE);
        try {
          await d.unmapSingle(m.dmaAddress, 4096, DmaDirection.FROM_DEVICE);
        } finally {
          await first;
        }
      },
    },
    { api: 'DmaSystem.device', cls: 'huge', input: 'cpu 2^40', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.device('0000:04:00.0', { cpu: 2 ** 40 }) },
    { api: 'DmaSystem.device', cls: 'huge', input: 'waitForSpace 3e9 (beyond the longest timer)', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.device('0000:04:00.0', { waitForSpace: 3e9 }) },
    { api: 'DmaSystem.device', cls: 'unknown', input: 'an unknown option "forcebounce"', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.device('0000:04:00.0', any({ forcebounce: true })) },
    { api: 'DmaSystem.device', cls: 'wrong type', input: 'options null', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.device('0000:04:00.0', any(null)) },
    { api: 'DmaSystem.freeRam', cls: 'wrong type', input: 'null', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.freeRam(any(null)) },
    {
      api: 'DmaSystem.freeRam', cls: 'state', input: 'a buffer a bounce mapping still holds', code: 'ERR_INVALID_STATE',
      run: async () => {
        const m = await d.mapSingle(p, 4096, TO);
        try {
          r.system.freeRam(r.span);
        } finally {
          await d.unmapSingle(m.dmaAddress, 4096, TO);
        }
      },
    },
    { api: 'Region.allocate (a BAR)', cls: 'unaligned', input: 'alignment 8192 (p2pmem hands out pages)', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.barMemory('0000:03:00.0', 1).allocate(4096, 8192) },
    { api: 'DmaSystem.create', cls: 'wrong type', input: 'options []', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create(any([])) },
    { api: 'DmaSystem.create', cls: 'unknown', input: 'an unknown option "swiotlbSize"', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create(any({ swiotlbSize: '1MiB' })) },
    { api: 'DmaSystem.create', cls: 'wrong type', input: 'swiotlb 5', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create(any({ swiotlb: 5 })) },
    { api: 'DmaSystem.create', cls: 'wrong type', input: 'swiotlb.phys 64n', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create(any({ swiotlb: { phys: 64n } })) },
    { api: 'DmaSystem.create', cls: 'wrong type', input: 'ram [null]', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create(any({ ram: [null] })) },
    { api: 'DmaSystem.create', cls: 'negative', input: 'ram phys -4096', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ ram: [{ name: 'r', phys: -4096, size: '1MiB' }] }) },
    { api: 'DmaSystem.allocRam', cls: 'unaligned', input: 'alignment 3', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.allocRam(4096, { alignment: 3 }) },
    { api: 'DmaSystem.create', cls: 'unknown', input: 'restrictedPools naming no device', code: 'ERR_UNKNOWN_DEVICE', run: () => DmaSystem.create({ restrictedPools: [{ name: 'p', phys: 0x0800_0000, size: '64KiB', devices: ['0000:99:00.0'] }] }) },
    { api: 'DmaSystem.create', cls: 'overlapping', input: 'a device in two restricted pools', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ restrictedPools: [{ name: 'a', phys: 0x0800_0000, size: '64KiB', devices: ['0000:04:00.0'] }, { name: 'b', phys: 0x0801_0000, size: '64KiB', devices: ['0000:04:00.0'] }] }) },
    { api: 'DmaSystem.create', cls: 'unaligned', input: 'a restricted pool at phys 0x8000001', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ restrictedPools: [{ name: 'p', phys: 0x0800_0001, size: '64KiB', devices: ['0000:04:00.0'] }] }) },
    { api: 'DmaSystem.create', cls: 'wrong type', input: 'restrictedPools {}', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create(any({ restrictedPools: {} })) },
    { api: 'DmaDevice.allocCoherent', cls: 'empty', input: 'size 0', code: 'ERR_INVALID_ARGUMENT', run: () => d.allocCoherent(0) },
    { api: 'new BlkDmaIterator', cls: 'wrong type', input: 'request null', code: 'ERR_INVALID_ARGUMENT', run: () => new BlkDmaIterator(d, any(null)) },
    { api: 'new BlkDmaIterator', cls: 'empty', input: 'bvecs []', code: 'ERR_INVALID_ARGUMENT', run: () => new BlkDmaIterator(d, { bvecs: [], direction: TO }) },
    { api: 'new BlkDmaIterator', cls: 'unaligned', input: 'limits.segBoundaryMask 1000', code: 'ERR_INVALID_ARGUMENT', run: () => new BlkDmaIterator(d, { bvecs: [{ phys: p, length: 16 }], direction: TO, limits: { segBoundaryMask: 1000 } }) },
    { api: 'new BlkDmaIterator', cls: 'wrong type', input: 'p2p "yes"', code: 'ERR_INVALID_ARGUMENT', run: () => new BlkDmaIterator(d, { bvecs: [{ phys: p, length: 16 }], direction: TO, p2p: any('yes') }) },
    { api: 'BlkDmaIterator.next', cls: 'state', input: 'before start()', code: 'ERR_INVALID_STATE', run: () => new BlkDmaIterator(d, { bvecs: [{ phys: p, length: 16 }], direction: TO }).next() },
    { api: 'DmaDevice.allocCoherent', cls: 'huge', input: 'size 2GiB', code: 'ERR_INVALID_ARGUMENT', run: () => d.allocCoherent(2 ** 31) },
    { api: 'DmaDevice.allocCoherent', cls: 'wrong type', input: 'size "4KiB"', code: 'ERR_INVALID_ARGUMENT', run: () => d.allocCoherent(any('4KiB')) },
    { api: 'DmaDevice.freeCoherent', cls: 'state', input: 'an allocation never made', code: 'ERR_MAPPING_STATE', run: () => d.freeCoherent({ phys: 0x1000_0000, dmaAddress: 0x1000_0000, size: 4096 }) },
    { api: 'DmaDevice.freeCoherent', cls: 'wrong type', input: 'null', code: 'ERR_INVALID_ARGUMENT', run: () => d.freeCoherent(any(null)) },
    { api: 'DmaSystem.allocRam', cls: 'wrong type', input: 'options null', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.allocRam(4096, any(null)) },
    { api: 'DmaSystem.barMemory', cls: 'wrong type', input: 'index 1n', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.barMemory('0000:03:00.0', any(1n)) },
    { api: 'DmaDevice.unmapSingle', cls: 'state', input: 'an address never mapped', code: 'ERR_INVALID_ARGUMENT', run: () => d.unmapSingle(0x0400_0000, 16, TO) },
    { api: 'DmaDevice.unmapSingle', cls: 'negative', input: 'size -1', code: 'ERR_INVALID_ARGUMENT', run: () => d.unmapSingle(0x0400_0000, -1, TO) },
    { api: 'DmaDevice.unmapSg', cls: 'wrong type', input: '{}', code: 'ERR_INVALID_ARGUMENT', run: () => d.unmapSg(any({}), TO) },
    { api: 'DmaDevice.unmapSg', cls: 'wrong type', input: '{ segments: [null] }', code: 'ERR_INVALID_ARGUMENT', run: () => d.unmapSg(any({ direction: TO, nents: 1, segments: [null] }), TO) },
    { api: 'DmaDevice.unmapSg', cls: 'wrong type', input: "{ segments: [{ dmaAddress: 'x', length: 1 }] }", code: 'ERR_INVALID_ARGUMENT', run: () => d.unmapSg(any({ direction: TO, nents: 1, segments: [{ dmaAddress: 'x', length: 1 }] }), TO) },
    { api: 'DmaDevice.syncSgForCpu', cls: 'negative', input: '{ segments: [{ dmaAddress: -1, length: 1 }] }', code: 'ERR_INVALID_ARGUMENT', run: () => d.syncSgForCpu(any({ direction: TO, nents: 1, segments: [{ dmaAddress: -1, length: 1 }] }), DmaDirection.FROM_DEVICE) },
    { api: 'Region.view', cls: 'wrong type', input: 'undefined', code: 'ERR_INVALID_ARGUMENT', run: () => r.ram.view(any(undefined)) },
    { api: 'Region.view', cls: 'out of range', input: 'a span past the region end', code: 'ERR_BAD_ADDRESS', run: () => r.ram.view({ offset: r.ram.offset + r.ram.size - 1, length: 2 }) },
    { api: 'DmaDevice.syncSingleForCpu', cls: 'NaN', input: 'dmaAddress NaN', code: 'ERR_INVALID_ARGUMENT', run: () => d.syncSingleForCpu(Number.NaN, 16, DmaDirection.FROM_DEVICE) },
    { api: 'DmaDevice.syncSingleForCpu', cls: 'state', input: 'a pool range not mapped', code: 'ERR_INVALID_ARGUMENT', run: () => d.syncSingleForCpu(0x0400_0000, 16, DmaDirection.FROM_DEVICE) },
    { api: 'DmaDevice.syncSgForDevice', cls: 'wrong type', input: 'null', code: 'ERR_INVALID_ARGUMENT', run: () => d.syncSgForDevice(any(null), TO) },
    { api: 'DeviceDma.read', cls: 'negative', input: 'length -1', code: 'ERR_INVALID_ARGUMENT', run: () => d.dma.read(p, -1) },
    { api: 'DeviceDma.read', cls: 'out of range', input: 'an address nothing answers', code: 'ERR_DEVICE_FAULT', run: () => d.dma.read(0x7000_0000, 16) },
    { api: 'DeviceDma.write', cls: 'wrong type', input: 'bytes [1, 2]', code: 'ERR_INVALID_ARGUMENT', run: () => d.dma.write(p, any([1, 2])) },
    // topology
    { api: 'loadTopologyJson', cls: 'wrong type', input: '42 (not text)', code: 'ERR_TOPOLOGY', run: () => loadTopologyJson(any(42)) },
    { api: 'loadTopologyJson', cls: 'empty', input: '""', code: 'ERR_TOPOLOGY', run: () => loadTopologyJson('') },
    { api: 'loadTopologyJson', cls: 'unknown', input: 'an unknown key', code: 'ERR_TOPOLOGY', run: () => loadTopologyJson('{"hostBridges":[],"x":1}') },
    { api: 'loadTopologyJson', cls: 'negative', input: 'bus -1', code: 'ERR_TOPOLOGY', run: () => loadTopologyJson('{"hostBridges":[{"segment":0,"bus":-1,"devices":[]}]}') },
    { api: 'loadTopologyJson', cls: 'huge', input: 'bus 256', code: 'ERR_TOPOLOGY', run: () => loadTopologyJson('{"hostBridges":[{"segment":0,"bus":256,"devices":[]}]}') },
    { api: 'loadTopologyJson', cls: 'unaligned', input: 'BAR size "5000"', code: 'ERR_TOPOLOGY', run: () => loadTopologyJson('{"hostBridges":[{"segment":0,"bus":0,"devices":[{"bdf":"0000:00:00.0","bars":[{"index":0,"size":"5000"}]}]}]}') },
    { api: 'loadTopologyJson', cls: 'overlapping', input: 'a BDF twice', code: 'ERR_TOPOLOGY', run: () => loadTopologyJson('{"hostBridges":[{"segment":0,"bus":0,"devices":[{"bdf":"0000:00:00.0"},{"bdf":"0000:00:00.0"}]}]}') },
    { api: 'loadTopologyJson', cls: 'unknown', input: 'acsRedirect override naming no device', code: 'ERR_UNKNOWN_DEVICE', run: () => loadTopologyJson('{"hostBridges":[{"segment":0,"bus":0,"devices":[]}]}', { acsRedirect: ['0000:00:01.0'] }) },
    { api: 'buildTopology', cls: 'wrong type', input: 'null', code: 'ERR_TOPOLOGY', run: () => buildTopology(null) },
    { api: 'loadLspci', cls: 'wrong type', input: '42 (not text)', code: 'ERR_INVALID_ARGUMENT', run: () => loadLspci(any(42)) },
    { api: 'loadLspci', cls: 'empty', input: '""', code: 'ERR_LSPCI_PARSE', run: () => loadLspci('') },
    { api: 'loadLspci', cls: 'out of range', input: 'device 20 ("-[0000:00]-+-20.0")', code: 'ERR_LSPCI_PARSE', run: () => loadLspci('-[0000:00]-+-20.0\n') },
    { api: 'loadLspci', cls: 'overlapping', input: 'a function printed twice', code: 'ERR_LSPCI_PARSE', run: () => loadLspci('-[0000:00]-+-00.0\n            \\-00.0\n') },
    { api: 'loadLspci', cls: 'unknown', input: 'acsRedirect "zz"', code: 'ERR_INVALID_ARGUMENT', run: () => loadLspci('-[0000:00]---00.0\n', { acsRedirect: ['zz'] }) },
    { api: 'parseCpu', cls: 'huge', input: '"GenuineIntel:99999"', code: 'ERR_INVALID_ARGUMENT', run: () => parseCpu('GenuineIntel:99999') },
    { api: 'parseCpu', cls: 'wrong type', input: '"AMD"', code: 'ERR_INVALID_ARGUMENT', run: () => parseCpu('AMD') },
    // real machines: lspci dumps, ACS, IOMMU groups, explain, the CPU
    { api: 'loadLspci', cls: 'wrong type', input: 'options null', code: 'ERR_INVALID_ARGUMENT', run: () => loadLspci('-[0000:00]---00.0\n', any(null)) },
    { api: 'loadLspci', cls: 'unknown', input: 'externalFacing ["zz"]', code: 'ERR_INVALID_ARGUMENT', run: () => loadLspci('-[0000:00]---00.0\n', { externalFacing: ['zz'] }) },
    { api: 'loadLspci', cls: 'unknown', input: 'externalFacing naming no device', code: 'ERR_UNKNOWN_DEVICE', run: () => loadLspci('-[0000:00]---00.0\n', { externalFacing: ['0000:00:01.0'] }) },
    { api: 'loadLspci', cls: 'wrong type', input: 'topology JSON text', code: 'ERR_LSPCI_PARSE', run: () => loadLspci('{"hostBridges":[]}') },
    { api: 'loadLspci', cls: 'empty', input: 'lspci without -v (no Bus: lines)', code: 'ERR_LSPCI_PARSE', run: () => loadLspci('00:00.0 Host bridge: Intel Corporation Device\n00:01.0 PCI bridge: Intel Corporation Device\n') },
    { api: 'loadLspci', cls: 'out of range', input: 'Region 7 in a dump', code: 'ERR_LSPCI_PARSE', run: () => loadLspci('00:00.0 Host bridge: X\n\tRegion 7: Memory at f0000000 (32-bit, non-prefetchable)\n') },
    { api: 'loadLspci', cls: 'overlapping', input: 'two bridges claiming one secondary bus', code: 'ERR_LSPCI_PARSE', run: () => loadLspci('00:01.0 PCI bridge: X\n\tBus: primary=00, secondary=01, subordinate=01, sec-latency=0\n\n00:02.0 PCI bridge: X\n\tBus: primary=00, secondary=01, subordinate=01, sec-latency=0\n') },
    { api: 'loadLspci', cls: 'unaligned', input: 'hex dump offset out of order', code: 'ERR_LSPCI_PARSE', run: () => loadLspci('00:00.0 Host bridge: X\n10: 00 00\n') },
    { api: 'parseLspci', cls: 'wrong type', input: '42 (not text)', code: 'ERR_INVALID_ARGUMENT', run: () => parseLspci(any(42)) },
    { api: 'parseLspciDump', cls: 'wrong type', input: 'a tree', code: 'ERR_LSPCI_PARSE', run: () => parseLspciDump('-[0000:00]---00.0\n') },
    { api: 'parseLspciDump', cls: 'empty', input: '""', code: 'ERR_LSPCI_PARSE', run: () => parseLspciDump('') },
    { api: 'loadTopologyJson', cls: 'wrong type', input: 'lspci output', code: 'ERR_TOPOLOGY', run: () => loadTopologyJson('-[0000:00]---00.0\n') },
    { api: 'loadTopologyJson', cls: 'unknown', input: 'ACS flag "ReqRedirect"', code: 'ERR_TOPOLOGY', run: () => loadTopologyJson('{"hostBridges":[{"segment":0,"bus":0,"devices":[{"bdf":"0000:00:01.0","kind":"root-port","acs":{"capability":[],"control":["ReqRedirect"]}}]}]}') },
    { api: 'loadTopologyJson', cls: 'overlapping', input: 'acsRedirect contradicting acs.control', code: 'ERR_TOPOLOGY', run: () => loadTopologyJson('{"hostBridges":[{"segment":0,"bus":0,"devices":[{"bdf":"0000:00:01.0","kind":"root-port","acsRedirect":true,"acs":{"capability":["ReqRedir"],"control":[]}}]}]}') },
    { api: 'buildTopology', cls: 'unknown', input: 'portType "switch"', code: 'ERR_TOPOLOGY', run: () => buildTopology({ hostBridges: [{ segment: 0, bus: 0, devices: [{ bdf: '0000:00:00.0', portType: any('switch') }] }] }) },
    { api: 'buildTopology', cls: 'state', input: 'untrusted: true not below an external-facing port', code: 'ERR_TOPOLOGY', run: () => buildTopology({ hostBridges: [{ segment: 0, bus: 0, devices: [{ bdf: '0000:00:00.0', untrusted: true }] }] }) },
    { api: 'buildTopology', cls: 'wrong type', input: 'externalFacing on an endpoint', code: 'ERR_TOPOLOGY', run: () => buildTopology({ hostBridges: [{ segment: 0, bus: 0, devices: [{ bdf: '0000:00:00.0', externalFacing: true }] }] }) },
    { api: 'applyOverrides', cls: 'wrong type', input: 'externalFacing "0000:00:01.0" (not an array)', code: 'ERR_INVALID_ARGUMENT', run: () => applyOverrides({ hostBridges: [] }, { externalFacing: any('0000:00:01.0') }) },
    { api: 'applyOverrides', cls: 'NaN', input: 'cpu family NaN', code: 'ERR_INVALID_ARGUMENT', run: () => applyOverrides({ hostBridges: [] }, { cpu: { vendor: 'AuthenticAMD', family: Number.NaN } }) },
    { api: 'parseCpu', cls: 'wrong type', input: '42 (not text)', code: 'ERR_INVALID_ARGUMENT', run: () => parseCpu(any(42)) },
    { api: 'cpuFromCpuinfo', cls: 'wrong type', input: 'null', code: 'ERR_INVALID_ARGUMENT', run: () => cpuFromCpuinfo(any(null)) },
    { api: 'cpuFromCpuinfo', cls: 'empty', input: 'no vendor_id / cpu family (arm64 cpuinfo)', code: 'ERR_INVALID_ARGUMENT', run: () => cpuFromCpuinfo('processor : 0\nCPU implementer : 0x41\n') },
    { api: 'inferCpuFromHostBridge', cls: 'wrong type', input: 'null', code: 'ERR_INVALID_ARGUMENT', run: () => inferCpuFromHostBridge(any(null)) },
    { api: 'inferCpuFromHostBridge', cls: 'huge', input: 'vendorId 0x10000', code: 'ERR_INVALID_ARGUMENT', run: () => inferCpuFromHostBridge({ bdf: '0000:00:00.0', vendorId: 0x10000, deviceId: 0, name: undefined }) },
    { api: 'iommuGroups', cls: 'wrong type', input: '{} (not a Topology)', code: 'ERR_INVALID_ARGUMENT', run: () => iommuGroups(any({})) },
    { api: 'iommuGroupOf', cls: 'wrong type', input: 'a BDF string', code: 'ERR_INVALID_ARGUMENT', run: () => iommuGroupOf(any('0000:03:00.0')) },
    { api: 'acsEnabled', cls: 'NaN', input: 'flags NaN', code: 'ERR_INVALID_ARGUMENT', run: () => acsEnabled(r.system.topology.device('0000:03:00.0'), Number.NaN) },
    { api: 'acsPathEnabled', cls: 'out of range', input: 'flags 0x80', code: 'ERR_INVALID_ARGUMENT', run: () => acsPathEnabled(r.system.topology.device('0000:03:00.0'), 0x80) },
    { api: 'explainPair', cls: 'wrong type', input: 'topology null', code: 'ERR_INVALID_ARGUMENT', run: () => explainPair(any(null), r.system.topology.device('0000:03:00.0'), r.system.topology.device('0000:04:00.0')) },
    { api: 'explainPair', cls: 'unknown', input: 'a client of another topology', code: 'ERR_INVALID_ARGUMENT', run: () => explainPair(r.system.topology, r.system.topology.device('0000:03:00.0'), buildTopology(r.system.topology.toSpec()).device('0000:04:00.0')) },
    { api: 'formatExplanation', cls: 'wrong type', input: '{}', code: 'ERR_INVALID_ARGUMENT', run: () => formatExplanation(any({})) },
    { api: 'parseAcsParameters', cls: 'unknown', input: '"acs=on"', code: 'ERR_INVALID_ARGUMENT', run: () => parseAcsParameters('acs=on') },
    { api: 'parseAcsParameters', cls: 'huge', input: '8 KiB of text', code: 'ERR_INVALID_ARGUMENT', run: () => parseAcsParameters(`pci=disable_acs_redir=${'0'.repeat(8192)}`) },
    { api: 'applyAcsParameters', cls: 'out of range', input: 'config_acs flags "2@..."', code: 'ERR_INVALID_ARGUMENT', run: () => applyAcsParameters(buildTopology({ hostBridges: [{ segment: 0, bus: 0, devices: [{ bdf: '0000:00:01.0', kind: 'root-port', acs: { capability: ['ReqRedir'], control: ['ReqRedir'] } }] }] }), 'pci=config_acs=2@0000:00:01.0') },
    { api: 'applyAcsParameters', cls: 'wrong type', input: 'topology {}', code: 'ERR_INVALID_ARGUMENT', run: () => applyAcsParameters(any({}), 'pci=disable_acs_redir=0000:00:01.0') },
    { api: 'P2pmemProvider.allocate', cls: 'empty', input: '0', code: 'ERR_INVALID_ARGUMENT', run: () => r.provider.allocate(0) },
    { api: 'P2pmemProvider.allocate', cls: 'negative', input: '-1', code: 'ERR_INVALID_SIZE', run: () => r.provider.allocate(-1) },
    { api: 'P2pmemProvider.allocate', cls: 'huge', input: '"1TiB"', code: 'ERR_P2PMEM', run: () => r.provider.allocate('1TiB') },
    { api: 'P2pmemProvider.free', cls: 'state', input: 'an allocation never made', code: 'ERR_P2PMEM', run: () => r.provider.free(any({ provider: r.provider, phys: r.provider.bar.phys + 4096, size: 4096 })) },
    { api: 'P2pmemProvider.free', cls: 'wrong type', input: 'null', code: 'ERR_INVALID_ARGUMENT', run: () => r.provider.free(any(null)) },
    ...iommuRows(r),
    ...iovaDomainRows(),
    // tracing (docs/tracing.md)
    { api: 'DmaSystem.create', cls: 'wrong type', input: 'trace: 42', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ trace: any(42) }) },
    { api: 'DmaSystem.create', cls: 'unknown', input: 'trace: { sink, colour: 1 }', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ trace: any({ sink: () => {}, colour: 1 }) }) },
    { api: 'DmaSystem.create', cls: 'out of range', input: "trace.format '5.4'", code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ trace: { sink: () => {}, format: any('5.4') } }) },
    { api: 'DmaSystem.create', cls: 'unknown', input: "trace.style 'json'", code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ trace: { sink: () => {}, style: any('json') } }) },
    { api: 'DmaSystem.create', cls: 'empty', input: 'trace.capacity 0', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ trace: { sink: 'iterator', capacity: 0 } }) },
    { api: 'DmaSystem.create', cls: 'NaN', input: 'trace.capacity NaN', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ trace: { sink: 'iterator', capacity: Number.NaN } }) },
    { api: 'DmaSystem.create', cls: 'huge', input: 'trace.capacity 2^60', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ trace: { sink: 'iterator', capacity: 2 ** 60 } }) },
    { api: 'DmaSystem.create', cls: 'unknown', input: "trace.whenFull 'block'", code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ trace: { sink: 'iterator', whenFull: any('block') } }) },
    { api: 'DmaSystem.create', cls: 'overlapping', input: 'trace.capacity with a callback sink', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ trace: { sink: () => {}, capacity: 8 } }) },
    { api: 'DmaSystem.create', cls: 'negative', input: 'trace.pid -1', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ trace: { sink: () => {}, pid: -1 } }) },
    { api: 'DmaSystem.create', cls: 'wrong type', input: "trace.comm 'two words'", code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ trace: { sink: () => {}, comm: 'two words' } }) },
    { api: 'DmaTracer.lines', cls: 'state', input: 'a callback sink', code: 'ERR_INVALID_STATE', run: () => new DmaTracer(() => {}).lines() },
    { api: 'checkTraceFormat', cls: 'wrong type', input: '6.18 (a number)', code: 'ERR_INVALID_ARGUMENT', run: () => checkTraceFormat(6.18) },
    { api: 'TraceLineParser.parse', cls: 'out of range', input: 'dir=SIDEWAYS', code: 'ERR_TRACE_PARSE', run: () => new TraceLineParser().parse('  a-1 [000] .....   1.000000: dma_unmap_phys: 0000:04:00.0 dir=SIDEWAYS dma_addr=1 size=1 attrs=', 1) },
    { api: 'readCapture', cls: 'wrong type', input: 'source 42', code: 'ERR_INVALID_ARGUMENT', run: () => readCapture(any(42), () => {}) },
    { api: 'readCapture', cls: 'wrong type', input: 'onEvent "x"', code: 'ERR_INVALID_ARGUMENT', run: () => readCapture(Readable.from(['']), any('x')) },
    { api: 'readCapture', cls: 'huge', input: 'a hex address of 17 digits', code: 'ERR_TRACE_PARSE', run: () => readCapture(Readable.from(['  a-1 [000] .....   1.000000: dma_unmap_phys: 0000:04:00.0 dir=TO_DEVICE dma_addr=11112222333344445 size=1 attrs=\n']), () => {}) },
    { api: 'readCapture', cls: 'wrong type', input: 'a source yielding numbers', code: 'ERR_INVALID_ARGUMENT', run: () => readCapture(Readable.from([1, 2], { objectMode: true }) as never, () => {}) },
    { api: 'readCapture', cls: 'out of range', input: 'a file that cannot be read', code: 'ERR_INVALID_ARGUMENT', run: () => readCapture(createReadStream('/nonexistent-dir/capture.trace'), () => {}) },
    { api: 'readCapture', cls: 'wrong type', input: 'options null', code: 'ERR_INVALID_ARGUMENT', run: () => readCapture(Readable.from(['']), () => {}, any(null)) },
    { api: 'readCapture', cls: 'unknown', input: 'options { lenent: true } (a typo)', code: 'ERR_INVALID_ARGUMENT', run: () => readCapture(Readable.from(['']), () => {}, any({ lenent: true })) },
    { api: 'readCapture', cls: 'state', input: 'a source another call is still reading', code: 'ERR_INVALID_STATE', run: () => { const source = Readable.from(['']); const first = readCapture(source, () => {}); return readCapture(source, () => {}).finally(() => first); } },
    { api: 'readCapture', cls: 'wrong type', input: "lenient 'yes'", code: 'ERR_INVALID_ARGUMENT', run: () => readCapture(Readable.from(['']), () => {}, { lenient: any('yes') }) },
    { api: 'readCapture', cls: 'wrong type', input: 'onProgress 5', code: 'ERR_INVALID_ARGUMENT', run: () => readCapture(Readable.from(['']), () => {}, { onProgress: any(5) }) },
    { api: 'readCapture', cls: 'wrong type', input: "only 'dma_map_phys' (a string, not a set)", code: 'ERR_INVALID_ARGUMENT', run: () => readCapture(Readable.from(['']), () => {}, { only: any('dma_map_phys') }) },
    { api: 'readCapture', cls: 'unknown', input: "only { 'dma_map_pgae' } (no such event)", code: 'ERR_INVALID_ARGUMENT', run: () => readCapture(Readable.from(['']), () => {}, { only: new Set(['dma_map_pgae']) }) },
    { api: 'readCapture', cls: 'wrong type', input: 'prefilter [1]', code: 'ERR_INVALID_ARGUMENT', run: () => readCapture(Readable.from(['']), () => {}, { prefilter: any([1]) }) },
    { api: 'readCapture', cls: 'empty', input: "prefilter ['']", code: 'ERR_INVALID_ARGUMENT', run: () => readCapture(Readable.from(['']), () => {}, { prefilter: [''] }) },
    { api: 'readCapture', cls: 'unknown', input: 'workers 2 (readCaptureInWorker() only)', code: 'ERR_INVALID_ARGUMENT', run: () => readCapture(Readable.from(['']), () => {}, any({ workers: 2 })) },
    { api: 'readCaptureInWorker', cls: 'out of range', input: 'workers 0', code: 'ERR_INVALID_ARGUMENT', run: () => readCaptureInWorker(Readable.from(['']), () => {}, { workers: 0 }) },
    { api: 'readCaptureInWorker', cls: 'huge', input: 'workers 9', code: 'ERR_INVALID_ARGUMENT', run: () => readCaptureInWorker(Readable.from(['']), () => {}, { workers: 9 }) },
    { api: 'readCaptureInWorker', cls: 'unaligned', input: 'workers 1.5', code: 'ERR_INVALID_ARGUMENT', run: () => readCaptureInWorker(Readable.from(['']), () => {}, { workers: 1.5 }) },
    { api: 'readCaptureInWorker', cls: 'NaN', input: 'workers NaN', code: 'ERR_INVALID_ARGUMENT', run: () => readCaptureInWorker(Readable.from(['']), () => {}, { workers: Number.NaN }) },
    { api: 'readCaptureInWorker', cls: 'wrong type', input: "workers '2'", code: 'ERR_INVALID_ARGUMENT', run: () => readCaptureInWorker(Readable.from(['']), () => {}, { workers: any('2') }) },
    { api: 'TraceLineParser.parse', cls: 'wrong type', input: 'a line 42', code: 'ERR_INVALID_ARGUMENT', run: () => new TraceLineParser().parse(any(42), 1) },
    { api: 'replayCapture', cls: 'wrong type', input: 'open "file"', code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(any('file'), [{}]) },
    {
      api: 'replayCapture', cls: 'state', input: 'open() returning the same stream each pass', code: 'ERR_INVALID_ARGUMENT',
      run: () => {
        const same = Readable.from(['  fio-1 [000] ..... 1.5: dma_map_phys: 0000:04:00.0 dir=TO_DEVICE dma_addr=1000 size=64 phys_addr=1000 attrs=\n']);
        return replayCapture(() => same, [{}]);
      },
    },
    { api: 'replayCapture', cls: 'empty', input: 'configs []', code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(() => Readable.from(['']), []) },
    { api: 'replayCapture', cls: 'unaligned', input: "swiotlb '100KiB'", code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(() => Readable.from(['']), [{ swiotlb: '100KiB' }]) },
    { api: 'replayCapture', cls: 'huge', input: "swiotlb '4GiB'", code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(() => Readable.from(['']), [{ swiotlb: '4GiB' }]) },
    { api: 'replayCapture', cls: 'negative', input: 'swiotlb -1', code: 'ERR_INVALID_SIZE', run: () => replayCapture(() => Readable.from(['']), [{ swiotlb: -1 }]) },
    { api: 'replayCapture', cls: 'NaN', input: 'swiotlb NaN', code: 'ERR_INVALID_SIZE', run: () => replayCapture(() => Readable.from(['']), [{ swiotlb: Number.NaN }]) },
    { api: 'replayCapture', cls: 'unknown', input: 'an unknown option', code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(() => Readable.from(['']), [any({ swiotbl: '4MiB' })]) },
    { api: 'replayCapture', cls: 'unknown', input: "iommu { mode: 'fast' }", code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(() => Readable.from(['']), [{ iommu: { mode: 'fast' } }]) },
    { api: 'replayCapture', cls: 'out of range', input: "p2pPolicy 'maybe'", code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(() => Readable.from(['']), [{ p2pPolicy: any('maybe') }]) },
    { api: 'replayCapture', cls: 'unknown', input: "provider { bdf: '0000:04:00.0' } (no p2pmem BAR)", code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(() => Readable.from(['']), [{}], { provider: { bdf: '0000:04:00.0' } }) },
    { api: 'replayCapture', cls: 'wrong type', input: 'provider "0000:03:00.0"', code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(() => Readable.from(['']), [{}], { provider: any('0000:03:00.0') }) },
    { api: 'replayCapture', cls: 'wrong type', input: 'parseInWorker "yes"', code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(() => Readable.from(['']), [{}], { parseInWorker: any('yes') }) },
    { api: 'replayCapture', cls: 'wrong type', input: 'options null', code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(() => Readable.from(['']), [{}], any(null)) },
    { api: 'replayCapture', cls: 'unknown', input: "options { swiotlb: '4MiB' } (a run's key)", code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(() => Readable.from(['']), [{}], any({ swiotlb: '4MiB' })) },
    { api: 'replayCapture', cls: 'wrong type', input: 'topology { hostBridges: [] } (a description, not a Topology)', code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(() => Readable.from(['']), [{}], { topology: any({ hostBridges: [] }) }) },
    { api: 'replayCapture', cls: 'wrong type', input: 'lenient 1', code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(() => Readable.from(['']), [{}], { lenient: any(1) }) },
    { api: 'replayCapture', cls: 'wrong type', input: "onProgress 'bar'", code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(() => Readable.from(['']), [{}], { onProgress: any('bar') }) },
    { api: 'replayCapture', cls: 'out of range', input: "provider { bdf: '0000:03:00.0', bar: 9 }", code: 'ERR_INVALID_ARGUMENT', run: () => replayCapture(() => Readable.from(['']), [{}], { provider: { bdf: '0000:03:00.0', bar: 9 } }) },
    { api: 'PageCollector.plan', cls: 'huge', input: 'more pages than the budget', code: 'ERR_TRACE_REPLAY', run: () => { const c = new PageCollector(); c.add(0, 1 << 20); return c.plan(0x1000_0000, 2 ** 32, 4096); } },
  ];
  return rows;
}

// The IOVA allocator on its own (drivers/iommu/iova.c): its options and every call's numbers.
function iovaDomainRows(): Row[] {
  const iovad = new IovaDomain({ granule: 4096, startPfn: 1 });
  const api = (name: string) => `IovaDomain.${name}`;
  return [
    { api: 'new IovaDomain', cls: 'wrong type', input: 'null', code: 'ERR_INVALID_ARGUMENT', run: () => new IovaDomain(any(null)) },
    { api: 'new IovaDomain', cls: 'unaligned', input: 'granule 6144', code: 'ERR_INVALID_ARGUMENT', run: () => new IovaDomain({ granule: 6144, startPfn: 1 }) },
    { api: 'new IovaDomain', cls: 'negative', input: 'startPfn -1', code: 'ERR_INVALID_ARGUMENT', run: () => new IovaDomain({ granule: 4096, startPfn: -1 }) },
    { api: 'new IovaDomain', cls: 'out of range', input: 'onlineCpus 0', code: 'ERR_INVALID_ARGUMENT', run: () => new IovaDomain({ granule: 4096, startPfn: 1, onlineCpus: 0 }) },
    { api: api('allocIova'), cls: 'empty', input: 'size 0', code: 'ERR_INVALID_ARGUMENT', run: () => iovad.allocIova(0, 0xfffff) },
    { api: api('allocIova'), cls: 'NaN', input: 'limitPfn NaN', code: 'ERR_INVALID_ARGUMENT', run: () => iovad.allocIova(1, Number.NaN) },
    { api: api('allocIovaFast'), cls: 'wrong type', input: 'size 4n', code: 'ERR_INVALID_ARGUMENT', run: () => iovad.allocIovaFast(any(4n), 0xfffff, true) },
    { api: api('allocIovaFast'), cls: 'wrong type', input: 'flushRcache "yes"', code: 'ERR_INVALID_ARGUMENT', run: () => iovad.allocIovaFast(1, 0xfffff, any('yes')) },
    { api: api('allocIovaFast'), cls: 'negative', input: 'cpu -1', code: 'ERR_INVALID_ARGUMENT', run: () => iovad.allocIovaFast(1, 0xfffff, true, -1) },
    { api: api('freeIovaFast'), cls: 'unaligned', input: 'pfn 1.5', code: 'ERR_INVALID_ARGUMENT', run: () => iovad.freeIovaFast(1.5, 1) },
    { api: api('freeIova'), cls: 'wrong type', input: 'pfn Symbol()', code: 'ERR_INVALID_ARGUMENT', run: () => iovad.freeIova(any(Symbol('pfn'))) },
    { api: api('findIova'), cls: 'huge', input: 'pfn 2^53', code: 'ERR_INVALID_ARGUMENT', run: () => iovad.findIova(2 ** 53) },
    { api: api('reserveIova'), cls: 'out of range', input: 'lo 0x200 > hi 0x100', code: 'ERR_INVALID_ARGUMENT', run: () => iovad.reserveIova(0x200, 0x100) },
  ];
}

// iommu-dma: the system option, the untrusted device option, the IOVA API and the IOMMU's clock. Rows
// that need a translating IOMMU build their own small system and close it.
function iommuRows(r: Rig): Row[] {
  const d = r.device;
  const p = r.span.phys;
  const G = 4096;
  const withIommu = async (use: (device: DmaDevice, system: DmaSystem) => Promise<unknown> | unknown, clock: 'real' | 'manual' = 'manual') => {
    const system = DmaSystem.create({ iommu: { mode: 'strict', clock }, engine: { workers: 1 }, swiotlb: { size: '1MiB' } });
    try {
      const device = system.device('0000:04:00.0');
      return await use(device, system);
    } finally {
      await system.close();
    }
  };
  const linked = (fn: (device: DmaDevice, state: IovaState, phys: number) => unknown) =>
    withIommu(async (device, system) => {
      const span = system.ram[1]!.allocate(4 * G, G);
      const state = device.iovaTryAlloc(span.phys, 4 * G);
      await device.iovaLink(state, span.phys, 0, G, TO);
      return fn(device, state, span.phys);
    });
  return [
    { api: 'DmaSystem.create', cls: 'wrong type', input: 'iommu 42', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ iommu: any(42) }) },
    { api: 'DmaSystem.create', cls: 'unknown', input: 'iommu "on"', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ iommu: any('on') }) },
    { api: 'DmaSystem.create', cls: 'unknown', input: 'iommu { mode: "strict", turbo: true }', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ iommu: any({ mode: 'strict', turbo: true }) }) },
    { api: 'DmaSystem.create', cls: 'out of range', input: 'iommu granule "8KiB"', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ iommu: { mode: 'strict', granule: '8KiB' } }) },
    { api: 'DmaSystem.create', cls: 'NaN', input: 'iommu granule NaN', code: 'ERR_INVALID_SIZE', run: () => DmaSystem.create({ iommu: { mode: 'strict', granule: Number.NaN } }) },
    { api: 'DmaSystem.create', cls: 'unaligned', input: 'iommu aperture start 0x1001', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ iommu: { mode: 'strict', aperture: { start: 0x1001 } } }) },
    { api: 'DmaSystem.create', cls: 'out of range', input: 'iommu aperture end 2^20 - 1', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ iommu: { mode: 'strict', aperture: { end: 2 ** 20 - 1 } } }) },
    { api: 'DmaSystem.create', cls: 'huge', input: 'iommu aperture end 2^60', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ iommu: { mode: 'strict', aperture: { end: 2 ** 60 } } }) },
    { api: 'DmaSystem.create', cls: 'negative', input: 'iommu cpus -1', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ iommu: { mode: 'lazy', cpus: -1 } }) },
    { api: 'DmaSystem.create', cls: 'unknown', input: 'iommu clock "fast"', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ iommu: { mode: 'lazy', clock: any('fast') } }) },
    { api: 'DmaSystem.create', cls: 'wrong type', input: 'iommu rcache "yes"', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ iommu: { mode: 'lazy', rcache: any('yes') } }) },
    { api: 'DmaSystem.create', cls: 'unknown', input: 'iommu vendor "arm"', code: 'ERR_INVALID_ARGUMENT', run: () => DmaSystem.create({ iommu: { mode: 'strict', vendor: any('arm') } }) },
    { api: 'DmaSystem.device', cls: 'wrong type', input: 'untrusted "yes"', code: 'ERR_INVALID_ARGUMENT', run: () => r.system.device('0000:04:00.0', { untrusted: any('yes') }) },
    { api: 'DmaDevice.iovaTryAlloc', cls: 'out of range', input: 'size 0', code: 'ERR_INVALID_ARGUMENT', run: () => d.iovaTryAlloc(p, 0) },
    { api: 'DmaDevice.iovaTryAlloc', cls: 'NaN', input: 'size NaN', code: 'ERR_INVALID_ARGUMENT', run: () => d.iovaTryAlloc(p, Number.NaN) },
    { api: 'DmaDevice.iovaTryAlloc', cls: 'negative', input: 'phys -1', code: 'ERR_INVALID_ARGUMENT', run: () => d.iovaTryAlloc(-1, G) },
    { api: 'DmaDevice.iovaTryAlloc', cls: 'wrong type', input: 'size "4KiB"', code: 'ERR_INVALID_ARGUMENT', run: () => d.iovaTryAlloc(p, any('4KiB')) },
    { api: 'DmaDevice.iovaLink', cls: 'wrong type', input: 'state {}', code: 'ERR_INVALID_ARGUMENT', run: () => d.iovaLink(any({}), p, 0, G, TO) },
    { api: 'DmaDevice.iovaLink', cls: 'wrong type', input: 'a Proxy of a state', code: 'ERR_INVALID_ARGUMENT', run: () => linked((dev, s, phys) => dev.iovaLink(new Proxy(s, {}), phys + G, G, G, TO)) },
    { api: 'DmaDevice.iovaLink', cls: 'state', input: 'an unallocated state (no IOMMU)', code: 'ERR_IOVA_STATE', run: () => d.iovaLink(d.iovaTryAlloc(p, G), p, 0, G, TO) },
    { api: 'DmaDevice.iovaLink', cls: 'unaligned', input: 'a second link off the merge boundary', code: 'ERR_IOVA_RULE', run: () => linked((dev, s, phys) => dev.iovaLink(s, phys + G, G + 8, G, TO)) },
    { api: 'DmaDevice.iovaLink', cls: 'out of range', input: 'offset + size past the state', code: 'ERR_IOVA_RULE', run: () => linked((dev, s, phys) => dev.iovaLink(s, phys + G, G, 4 * G, TO)) },
    { api: 'DmaDevice.iovaLink', cls: 'overlapping', input: 'a range already linked', code: 'ERR_IOVA_RULE', run: () => linked((dev, s, phys) => dev.iovaLink(s, phys, 0, G, TO)) },
    { api: 'DmaDevice.iovaLink', cls: 'negative', input: 'offset -4096', code: 'ERR_INVALID_ARGUMENT', run: () => linked((dev, s, phys) => dev.iovaLink(s, phys, -G, G, TO)) },
    { api: 'DmaDevice.iovaSync', cls: 'out of range', input: 'past the state', code: 'ERR_IOVA_RULE', run: () => linked((dev, s) => dev.iovaSync(s, 0, 8 * G)) },
    { api: 'DmaDevice.iovaUnlink', cls: 'unaligned', input: 'part of a linked range', code: 'ERR_IOVA_RULE', run: () => linked((dev, s) => dev.iovaUnlink(s, 0, 100, TO)) },
    { api: 'DmaDevice.iovaDestroy', cls: 'negative', input: 'mappedLen -1', code: 'ERR_INVALID_ARGUMENT', run: () => linked((dev, s) => dev.iovaDestroy(s, -1, TO)) },
    { api: 'DmaDevice.iovaDestroy', cls: 'out of range', input: 'mappedLen short of the links', code: 'ERR_IOVA_RULE', run: () => linked((dev, s) => dev.iovaDestroy(s, 100, TO)) },
    { api: 'DmaDevice.iovaFree', cls: 'state', input: 'ranges still linked', code: 'ERR_IOVA_RULE', run: () => linked((dev, s) => dev.iovaFree(s)) },
    { api: 'DeviceDma.read', cls: 'out of range', input: 'an IOVA never mapped', code: 'ERR_IOMMU_FAULT', run: () => withIommu((dev) => dev.dma.read(0x1000_0000, 4)) },
    { api: 'Iommu.advanceTime', cls: 'negative', input: '-1', code: 'ERR_INVALID_ARGUMENT', run: () => withIommu((_dev, s) => s.iommu!.advanceTime(-1)) },
    { api: 'Iommu.advanceTime', cls: 'NaN', input: 'NaN', code: 'ERR_INVALID_ARGUMENT', run: () => withIommu((_dev, s) => s.iommu!.advanceTime(Number.NaN)) },
    { api: 'Iommu.advanceTime', cls: 'state', input: 'a real clock', code: 'ERR_INVALID_STATE', run: () => withIommu((_dev, s) => s.iommu!.advanceTime(10), 'real') },
  ];
}

// Something shaped like a piscina pool of `threads` threads (never runs a task): for the rows that a
// pool's thread budget refuses before anything runs.
function fakePool(threads: number, concurrentTasksPerWorker = 1) {
  return { run: () => Promise.resolve(undefined), maxThreads: threads, threads: [], options: { concurrentTasksPerWorker } };
}

/** Pool-memory callbacks that hand out fresh pages above 2 GiB. */
function poolMemory(alloc?: () => { phys: number } | undefined) {
  let next = 0x8000_0000;
  return {
    allocPoolMemory: alloc ?? ((bytes: number) => { const phys = next; next += Math.ceil(bytes / 4096) * 4096; return { phys }; }),
    freePoolMemory: () => {},
  };
}

/** A dynamic swiotlb whose 256 KiB default pool is full, so the next map asks allocPoolMemory. */
function fullMem(alloc?: () => { phys: number } | undefined): SwiotlbMem {
  const mem = new SwiotlbMem({ base: 0x100_0000, size: '256KiB', dynamic: { growth: 'manual', ...poolMemory(alloc) } });
  for (let i = 0; i < 64; i++) mem.map({ origAddr: 0, size: 4096 });
  return mem;
}

function restrictedPool(): SwiotlbMem {
  return createRestrictedDmaPool({ name: 'restricted', base: 0x4000_0000, size: '1MiB' });
}

// Runs `use` with a new one-entry table of `fabric`, released afterwards (no scratch memory left behind).
function withTable<T>(fabric: Fabric, use: (t: SgTable) => T): T {
  const t = new SgTable(fabric, 1);
  try {
    return use(t);
  } finally {
    t.release();
  }
}

/**
 * CLI rows: argv and the code on stderr. The exit code is `exit` when given, else 2 for usage and bad
 * flag values (ERR_USAGE, ERR_INVALID_ARGUMENT, ERR_INVALID_SIZE, ERR_INPUT_FILE, ERR_OUTPUT_PATH), 1 otherwise.
 */
export interface CliRow {
  readonly cls: InputClass;
  readonly argv: readonly string[];
  readonly code: string;
  readonly exit?: number;
}

const TRACE = fileURLToPath(new URL('../fixtures/traces/handwritten-ftrace.trace', import.meta.url));
const BAD_TRACE = fileURLToPath(new URL('../fixtures/traces/not-a-kernel-format.trace', import.meta.url));

export function cliCatalogue(files: { json: string; lspci: string; missing: string; garbage: string }): CliRow[] {
  return [
    { cls: 'unknown', argv: ['frobnicate'], code: 'ERR_USAGE' },
    { cls: 'unknown', argv: ['p2p', '--topology', files.json, '--frob'], code: 'ERR_USAGE' },
    { cls: 'empty', argv: ['p2p'], code: 'ERR_USAGE' },
    { cls: 'overlapping', argv: ['p2p', '--topology', files.json, '--lspci', files.lspci], code: 'ERR_USAGE' },
    { cls: 'wrong type', argv: ['p2p', '--topology'], code: 'ERR_USAGE' },
    { cls: 'wrong type', argv: ['p2p', '--json=yes', '--topology', files.json], code: 'ERR_USAGE' },
    { cls: 'unknown', argv: ['p2p', '--topology', files.json, 'extra'], code: 'ERR_USAGE' },
    { cls: 'out of range', argv: ['p2p', '--topology', files.missing], code: 'ERR_INPUT_FILE' },
    { cls: 'wrong type', argv: ['p2p', '--topology', files.garbage], code: 'ERR_TOPOLOGY' },
    { cls: 'wrong type', argv: ['p2p', '--lspci', files.json], code: 'ERR_LSPCI_PARSE' },
    { cls: 'wrong type', argv: ['p2p', '--topology', files.json, '--cpu', 'Intel'], code: 'ERR_INVALID_ARGUMENT' },
    { cls: 'NaN', argv: ['p2p', '--topology', files.json, '--cpu', 'GenuineIntel:NaN'], code: 'ERR_INVALID_ARGUMENT' },
    { cls: 'negative', argv: ['p2p', '--topology', files.json, '--cpu', 'GenuineIntel:-6'], code: 'ERR_INVALID_ARGUMENT' },
    { cls: 'huge', argv: ['p2p', '--topology', files.json, '--cpu', 'AuthenticAMD:0x1000000'], code: 'ERR_INVALID_ARGUMENT' },
    { cls: 'unaligned', argv: ['p2p', '--topology', files.json, '--acs-redirect', '0000:2:1.0'], code: 'ERR_INVALID_ARGUMENT' },
    { cls: 'unknown', argv: ['p2p', '--topology', files.json, '--acs-redirect', '0000:09:00.0'], code: 'ERR_UNKNOWN_DEVICE' },
    { cls: 'unknown', argv: ['topo', '--lspci', files.lspci, '--acs-redirect', '0000:77:00.0'], code: 'ERR_UNKNOWN_DEVICE' },
    { cls: 'empty', argv: ['topo'], code: 'ERR_USAGE' },
    { cls: 'wrong type', argv: ['p2p', '--topology', files.lspci], code: 'ERR_TOPOLOGY' },
    { cls: 'unaligned', argv: ['p2p', '--lspci', files.lspci, '--external-facing', '0000:1:0.0'], code: 'ERR_INVALID_ARGUMENT' },
    { cls: 'unknown', argv: ['topo', '--lspci', files.lspci, '--external-facing', '0000:77:00.0'], code: 'ERR_UNKNOWN_DEVICE' },
    { cls: 'empty', argv: ['topo', '--lspci', files.lspci, '--cpu', ''], code: 'ERR_INVALID_ARGUMENT' },
    { cls: 'empty', argv: ['explain', '--lspci', files.lspci], code: 'ERR_USAGE' },
    { cls: 'overlapping', argv: ['explain', '--lspci', files.lspci, '0000:03:00.0', '0000:04:00.0', '0000:06:00.0'], code: 'ERR_USAGE' },
    { cls: 'unknown', argv: ['explain', '--lspci', files.lspci, '0000:03:00.0', '0000:09:00.0'], code: 'ERR_UNKNOWN_DEVICE' },
    { cls: 'unaligned', argv: ['explain', '--lspci', files.lspci, '3:00.0', '0000:04:00.0'], code: 'ERR_INVALID_ARGUMENT' },
    { cls: 'unknown', argv: ['explain', '--lspci', files.lspci, '--frob', '0000:03:00.0', '0000:04:00.0'], code: 'ERR_USAGE' },
    { cls: 'empty', argv: ['explain', '0000:03:00.0', '0000:04:00.0'], code: 'ERR_USAGE' },
    { cls: 'out of range', argv: ['policies', '--provider', '0000:03:00.0:7'], code: 'ERR_INVALID_ARGUMENT' },
    { cls: 'unaligned', argv: ['policies', '--client', '0000:4:0.0'], code: 'ERR_INVALID_ARGUMENT' },
    { cls: 'empty', argv: ['policies', '--lspci', files.lspci], code: 'ERR_USAGE' },
    { cls: 'overlapping', argv: ['policies', '--topology', files.json, '--lspci', files.lspci], code: 'ERR_USAGE' },
    { cls: 'unknown', argv: ['policies', '--lspci', files.lspci, '--provider', '0000:07:00.0'], code: 'ERR_UNKNOWN_DEVICE' },
    { cls: 'unknown', argv: ['bench', '--fast'], code: 'ERR_USAGE' },
    { cls: 'wrong type', argv: ['bench', '--quick=1'], code: 'ERR_USAGE' },
    { cls: 'wrong type', argv: ['p2p', '--topology', '/dev/zero'], code: 'ERR_INPUT_FILE' },
    { cls: 'wrong type', argv: ['topo', '--lspci', '/'], code: 'ERR_INPUT_FILE' },
    { cls: 'out of range', argv: ['map-benchmark', '--threads', '0'], code: 'ERR_USAGE' },
    { cls: 'huge', argv: ['map-benchmark', '--seconds', '99999999999999999999'], code: 'ERR_USAGE' },
    { cls: 'wrong type', argv: ['policies', '--size', '64MB'], code: 'ERR_INVALID_SIZE' },
    { cls: 'out of range', argv: ['policies', '--rounds', '0'], code: 'ERR_USAGE' },
    { cls: 'huge', argv: ['policies', '--rounds', '101'], code: 'ERR_USAGE' },
    { cls: 'empty', argv: ['bench', '--only', 'nothing/'], code: 'ERR_USAGE' },
    { cls: 'wrong type', argv: ['bench', '--quick', '--out', files.json], code: 'ERR_OUTPUT_PATH' },
    { cls: 'unknown', argv: ['help', 'frobnicate'], code: 'ERR_USAGE' },
    // dma-bounce report: every row fails before anything is written (the --out directory is never made)
    { cls: 'empty', argv: ['report', '--topology', files.json], code: 'ERR_USAGE' },
    { cls: 'wrong type', argv: ['report', '--topology', files.json, '--out'], code: 'ERR_USAGE' },
    { cls: 'empty', argv: ['report', '--topology', files.json, '--out', ''], code: 'ERR_USAGE' },
    { cls: 'unknown', argv: ['report', '--topology', files.json, '--out', `${files.missing}.d`, '--pdf'], code: 'ERR_USAGE' },
    { cls: 'out of range', argv: ['report', '--topology', files.json, '--bench', files.missing, '--out', `${files.missing}.d`], code: 'ERR_INPUT_FILE' },
    { cls: 'wrong type', argv: ['report', '--topology', files.json, '--replay', dirname(files.json), '--out', `${files.missing}.d`], code: 'ERR_INPUT_FILE' },
    { cls: 'wrong type', argv: ['report', '--topology', files.json, '--policies', files.garbage, '--out', `${files.missing}.d`], code: 'ERR_REPORT_INPUT' },
    { cls: 'unknown', argv: ['report', '--topology', files.json, '--bench', files.json, '--out', `${files.missing}.d`], code: 'ERR_REPORT_INPUT' },
    { cls: 'overlapping', argv: ['report', '--topology', files.json, '--out', files.json], code: 'ERR_OUTPUT_PATH' },
    { cls: 'wrong type', argv: ['report', '--lspci', files.json, '--out', `${files.missing}.d`], code: 'ERR_LSPCI_PARSE' },
    { cls: 'unknown', argv: ['map-benchmark', '--iommu', 'passthrough'], code: 'ERR_USAGE' },
    { cls: 'unknown', argv: ['policies', '--iommu', 'fast'], code: 'ERR_USAGE' },
    // replay and --trace (docs/tracing.md)
    { cls: 'empty', argv: ['replay'], code: 'ERR_USAGE' },
    { cls: 'overlapping', argv: ['replay', TRACE, TRACE], code: 'ERR_USAGE' },
    { cls: 'out of range', argv: ['replay', files.missing], code: 'ERR_INPUT_FILE' },
    { cls: 'wrong type', argv: ['replay', '/'], code: 'ERR_INPUT_FILE' },
    { cls: 'wrong type', argv: ['replay', BAD_TRACE], code: 'ERR_TRACE_PARSE' },
    { cls: 'unaligned', argv: ['replay', TRACE, '--swiotlb', '100KiB'], code: 'ERR_USAGE' },
    { cls: 'negative', argv: ['replay', TRACE, '--swiotlb', '-1'], code: 'ERR_USAGE' },
    { cls: 'NaN', argv: ['replay', TRACE, '--swiotlb', 'NaN'], code: 'ERR_USAGE' },
    { cls: 'huge', argv: ['replay', TRACE, '--swiotlb', '4GiB'], code: 'ERR_USAGE' },
    { cls: 'overlapping', argv: ['replay', TRACE, '--swiotlb', '1MiB,1MiB'], code: 'ERR_USAGE' },
    { cls: 'unknown', argv: ['replay', TRACE, '--p2p-policy', 'maybe'], code: 'ERR_USAGE' },
    { cls: 'unknown', argv: ['replay', TRACE, '--iommu', 'sometimes'], code: 'ERR_USAGE' },
    { cls: 'unknown', argv: ['replay', TRACE, '--iommu', 'fast'], code: 'ERR_USAGE' },
    { cls: 'empty', argv: ['replay', TRACE, '--compare', ' '], code: 'ERR_USAGE' },
    { cls: 'unknown', argv: ['replay', TRACE, '--compare', '--frob'], code: 'ERR_USAGE' },
    { cls: 'overlapping', argv: ['replay', TRACE, '--compare', '--force-bounce --no-force-bounce'], code: 'ERR_USAGE' },
    { cls: 'overlapping', argv: ['replay', TRACE, '--swiotlb', '1MiB,2MiB', '--compare', '--force-bounce'], code: 'ERR_USAGE' },
    { cls: 'out of range', argv: ['replay', TRACE, '--trace', files.missing, '--trace-format', '5.4'], code: 'ERR_USAGE' },
    { cls: 'empty', argv: ['replay', TRACE, '--trace-format', 'latest'], code: 'ERR_USAGE' },
    { cls: 'wrong type', argv: ['replay', TRACE, '--force-bounce=1'], code: 'ERR_USAGE' },
    { cls: 'out of range', argv: ['replay', TRACE, '--trace', '/nonexistent-dir/replayed.trace'], code: 'ERR_OUTPUT_PATH' },
    { cls: 'out of range', argv: ['replay', TRACE, '--provider', '0000:03:00.0:9'], code: 'ERR_USAGE' },
    { cls: 'unknown', argv: ['replay', TRACE, '--provider', '0000:04:00.0'], code: 'ERR_INVALID_ARGUMENT' },
    { cls: 'empty', argv: ['policies', '--trace'], code: 'ERR_USAGE' },
    { cls: 'out of range', argv: ['policies', '--trace', '/nonexistent-dir/policies.trace'], code: 'ERR_OUTPUT_PATH' },
    { cls: 'out of range', argv: ['map-benchmark', '--trace', '/nonexistent-dir/bench.trace'], code: 'ERR_OUTPUT_PATH' },
    { cls: 'wrong type', argv: ['map-benchmark', '--trace', '/'], code: 'ERR_OUTPUT_PATH' },
  ];
}
