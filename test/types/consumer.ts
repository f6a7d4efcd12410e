// A consumer's TypeScript, compiled by test/package.test.ts against the packed package installed in an
// empty project (strict, module NodeNext, skipLibCheck false). It must compile with no cast: every
// error field is read through instanceof or code narrowing with the type a consumer expects.
import run, { type BatchResult, type BatchTask, type ServeTask, type WorkerTask } from 'dma-bounce/worker';
import {
  AbortError, AddressError, AllocationError, CopyError, DeviceFaultError, DmaBounceError, DmaDebugError, DmaDirection,
  DmaMappingError, DmaSystem, DoubleFreeError, FabricFullError, ForeignSpanError, InvalidArgumentError, InvalidSizeError,
  InvalidStateError, KernelBoundsError, LspciParseError, P2PNotSupportedError, P2pmemError, RegionConflictError,
  SwiotlbFullError, TopologyError, UnknownDeviceError, WorkerDiedError, errorCodes, errorFromJSON, isCodedError,
  type CodedError, type MappedSegment,
} from 'dma-bounce';

// The README's example, typed.
export async function readme(): Promise<void> {
  const system = DmaSystem.create();
  const gpuBar = system.barMemory('0000:03:00.0', 1);
  const data = gpuBar.allocate('64KiB', 4096);
  gpuBar.view(data).fill(0x5a);
  const mainline = system.device('0000:81:00.0', { p2pPolicy: 'reject' });
  try {
    await mainline.mapSingle(data.phys, data.length, DmaDirection.TO_DEVICE);
  } catch (err) {
    if (err instanceof P2PNotSupportedError) {
      const errno: 'EREMOTEIO' = err.errno;
      const code: 'ERR_DMA_P2P_NOT_SUPPORTED' = err.code;
      console.log(code, errno, err.provider, err.reasons.join('; '), err.address.toString(16), err.length);
    }
  }
  const mapped: MappedSegment = await system.device('0000:81:00.0', { p2pPolicy: 'bounce' }).mapSingle(data.phys, data.length, DmaDirection.TO_DEVICE);
  const address: number = mapped.dmaAddress;
  console.log(address);
  await system.close();
}

// Every field of every class, read with its type after instanceof.
export function fields(err: unknown): unknown[] {
  const out: unknown[] = [];
  if (err instanceof InvalidArgumentError) { const a: string | undefined = err.argument; const r: string | undefined = err.reason; out.push(a, r, err.value, err.maxMappingSize, err.tlbAddr); }
  if (err instanceof InvalidSizeError) out.push(err.value);
  if (err instanceof AddressError) { const n: number = err.address + err.length; out.push(n); }
  if (err instanceof RegionConflictError) { const r: string = err.region; const o: string | undefined = err.other; out.push(r, o); }
  if (err instanceof FabricFullError) { const n: number = err.requested - err.available; out.push(n); }
  if (err instanceof AllocationError) { const n: number = err.requested + err.alignment + err.free; out.push(n); }
  if (err instanceof DoubleFreeError) { const n: number = err.offset; out.push(n); }
  if (err instanceof ForeignSpanError) { const n: number = err.offset; out.push(n); }
  if (err instanceof KernelBoundsError) { const l: 'dst' | 'src' | undefined = err.list; out.push(l, err.index, err.offset, err.length, err.copied); }
  if (err instanceof TopologyError) { const p: string = err.path; out.push(p); }
  if (err instanceof LspciParseError) { const l: number = err.line; out.push(l); }
  if (err instanceof UnknownDeviceError) { const b: string = err.bdf; out.push(b); }
  if (err instanceof P2pmemError) { const r: string = err.reason; const p: string = err.provider; const b: number = err.bar; out.push(r, p, b, err.requested, err.available, err.phys, err.size); }
  if (err instanceof InvalidStateError) { const n: number | undefined = err.outstanding; out.push(n); }
  if (err instanceof CopyError) { const s: string = err.status; const n: number = err.bytesCompleted + err.faultAddress; out.push(s, n); }
  if (err instanceof AbortError) out.push(err.status, err.bytesCompleted, err.faultAddress, err.cause);
  if (err instanceof WorkerDiedError) out.push(err.status, err.bytesCompleted, err.faultAddress);
  if (err instanceof DmaMappingError) { const e: string = err.errno; const n: number = err.address + err.length; out.push(e, n, err.provider, err.maxMappingSize); }
  if (err instanceof SwiotlbFullError) { const n: number = err.size + err.mappingSize + err.totalSlots + err.usedSlots; out.push(n, err.timedOut, err.timeout, err.neverFits); }
  if (err instanceof DeviceFaultError) { const d: string = err.device; const n: number = err.dmaAddress + err.length; out.push(d, n); }
  if (err instanceof DmaDebugError) { const c: string = err.debugCode; const m: string = err.report.message; out.push(c, m, err.reports.length, err.device, err.address, err.size, err.direction, err.expected, err.found, err.stack, err.mappings, err.count); }
  if (err instanceof DmaBounceError) { const c: string = err.code; out.push(c, err.toJSON().message); }
  return out;
}

// Narrowing by code: one switch over the union of every coded class.
export function byCode(err: unknown): string {
  if (!isCodedError(err)) return 'not ours';
  const known: CodedError = err;
  switch (known.code) {
    case 'ERR_DMA_P2P_NOT_SUPPORTED': return known.errno;
    case 'ERR_DMA_MAPPING': return known.errno;
    case 'ERR_TOPOLOGY': return known.path;
    case 'ERR_LSPCI_PARSE': return String(known.line);
    case 'ERR_COPY_FAILED': return known.status;
    default: return known.code;
  }
}

export const rebuilt: DmaBounceError = errorFromJSON({ code: 'ERR_BAD_ADDRESS', message: 'x', address: 1, length: 2 });
export const codes: string[] = errorCodes();

// dma-bounce/worker: the task function and its task and result types.
export function worker(task: BatchTask): BatchResult {
  const serve: ServeTask = { kind: 'serve', ctrl: 0 };
  const either: WorkerTask = Math.random() > 0.5 ? serve : task;
  void either;
  return run(task) as BatchResult;
}
