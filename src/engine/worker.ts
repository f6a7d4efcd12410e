// The engine's worker module (`dma-bounce/worker`): load it in a piscina pool (ours or
// yours). Two task kinds:
//   { kind: 'serve', ctrl }       serve a ring until it is stopped (the engine's mode);
//   { table, count }              one copySg over a table in the fabric (batch mode).
// The fabric comes from the pool's workerData ({ fabric: fabric.handle() }) or from the
// task's own `fabric` field. Batch errors come back as values ({ ok: false, error: {code,
// message} }) because thrown errors lose their class between threads; rebuild them with
// errorFromJSON (or call runBatch, which does).
import { threadId, workerData } from 'node:worker_threads';
import type { FabricHandle } from '../fabric/fabric.js';
import { instantiateKernels, type KernelExports } from '../kernels/module.js';
import { CTRL, RING_ABI } from './layout.js';

interface RingExports {
  serveRing(ctrl: number): number;
  ringAbi(): number;
}
type Kernels = KernelExports & RingExports;

export interface ServeTask {
  readonly kind: 'serve';
  readonly ctrl: number;
  readonly fabric?: FabricHandle;
}

export interface BatchTask {
  readonly kind?: 'batch';
  /** Fabric offset of an SgTable (16-byte dst, src, len, 0 entries) in the scratch area. */
  readonly table: number;
  readonly count: number;
  readonly fabric?: FabricHandle;
}

export type WorkerTask = ServeTask | BatchTask;

export interface PlainError {
  readonly code: string;
  readonly message: string;
  readonly [field: string]: unknown;
}

export type BatchResult = { readonly ok: true; readonly bytes: number } | { readonly ok: false; readonly error: PlainError };
export interface ServeResult {
  readonly served: number;
}

const instances = new Map<string, Kernels>();

function kernelsFor(handle: FabricHandle): Kernels {
  let kernels = instances.get(handle.id);
  if (!kernels) {
    kernels = instantiateKernels(handle.memory, handle.module) as Kernels;
    if (kernels.ringAbi() >>> 0 !== RING_ABI) {
      throw new Error(`kernel ring ABI ${kernels.ringAbi() >>> 0} does not match ${RING_ABI}: rebuild the kernels`);
    }
    instances.set(handle.id, kernels);
  }
  return kernels;
}

function fabricOf(task: WorkerTask): FabricHandle | undefined {
  return task.fabric ?? (workerData as { fabric?: FabricHandle } | undefined)?.fabric;
}

/** The piscina task function. */
export default function run(task: WorkerTask): ServeResult | BatchResult {
  const handle = task && typeof task === 'object' ? fabricOf(task) : undefined;
  if (task?.kind === 'serve') {
    if (!handle) throw new Error('serve task without a fabric');
    const kernels = kernelsFor(handle);
    const i32 = new Int32Array(handle.memory.buffer as unknown as SharedArrayBuffer);
    Atomics.store(i32, (task.ctrl + CTRL.WORKER) >> 2, threadId);
    kernels.serveRing(task.ctrl);
    return { served: Atomics.load(i32, (task.ctrl + CTRL.SERVED) >> 2) };
  }
  if (!handle) return failure('ERR_INVALID_ARGUMENT', 'no fabric: pass workerData { fabric: fabric.handle() } to the pool or a fabric field in the task');
  return runBatch(handle, task as BatchTask);
}

function runBatch(handle: FabricHandle, task: BatchTask): BatchResult {
  const { table, count } = task;
  if ((table >>> 0) !== table || (count >>> 0) !== count) {
    return failure('ERR_INVALID_ARGUMENT', 'table and count must be integers in 0..2^32-1');
  }
  if (table < handle.scratchStart || table + count * 16 > handle.dataStart) {
    return failure('ERR_KERNEL_BOUNDS', `table ${table} with ${count} entries is outside the scratch area`, { offset: table, length: count * 16 });
  }
  const kernels = kernelsFor(handle);
  const bad = kernels.checkSg(table, count, handle.dataStart, handle.size);
  if (bad >= 0) return failure('ERR_KERNEL_BOUNDS', `segment ${bad} leaves the fabric's data area`, { index: bad });
  const bytes = kernels.copySg(table, count, handle.dataStart, handle.size);
  // Negative only when the table was rewritten between the check and the copy (another thread).
  if (bytes < 0) return failure('ERR_KERNEL_BOUNDS', `segment ${-1 - bytes} leaves the fabric's data area (the table changed during the copy)`, { index: -1 - bytes });
  return { ok: true, bytes };
}

function failure(code: string, message: string, fields: Record<string, unknown> = {}): BatchResult {
  return { ok: false, error: { ...fields, code, message } };
}
