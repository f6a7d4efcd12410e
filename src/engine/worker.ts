// The engine's worker module (`dma-bounce/worker`): load it in a piscina pool (ours or
// yours). Two task kinds:
//   { kind: 'serve', ctrl, token? }  serve a ring until it is stopped (the engine's mode);
//   { table, count }                 one copySg over a table in the fabric (batch mode).
// The fabric comes from the pool's workerData ({ fabric: fabric.handle() }) or from the
// task's own `fabric` field. Errors come back as values ({ ok: false, error: { code,
// message } }) because thrown errors lose their class between threads; rebuild them with
// errorFromJSON (or call runBatch, which does).
import { threadId, workerData } from 'node:worker_threads';
import type { FabricHandle } from '../fabric/fabric.js';
import { describe, isU32 } from '../fabric/input.js';
import { instantiateKernels, type KernelExports } from '../kernels/module.js';
import { CONTROL_SIZE, COMP_SIZE, CTRL, DESC_SIZE, RING_ABI, SERVE_BUSY } from './layout.js';

interface RingExports {
  serveRing(ctrl: number, token: number, threadId: number): number;
  ringAbi(): number;
}
type Kernels = KernelExports & RingExports;

/** The task that makes a worker serve a ring until it is stopped (see ServeResult for its answer). */
export interface ServeTask {
  readonly kind: 'serve';
  /** Fabric offset of the ring's control block (`ring.ctrl`). */
  readonly ctrl: number;
  /** The reservation the ring's owner made for this server (a DmaChannel passes its own); omit for a ring nobody reserved. */
  readonly token?: number;
  readonly fabric?: FabricHandle;
}

/** The task that runs one copySg over a table in the fabric (see BatchResult for its answer). */
export interface BatchTask {
  readonly kind?: 'batch';
  /** Fabric offset of an SgTable (16-byte dst, src, len, 0 entries) in the scratch area. */
  readonly table: number;
  readonly count: number;
  readonly fabric?: FabricHandle;
}

/** Either task the worker module takes. */
export type WorkerTask = ServeTask | BatchTask;

/** A coded error as a plain value (it crosses threads): rebuild the class with errorFromJSON(). */
export interface PlainError {
  readonly code: string;
  readonly message: string;
  readonly [field: string]: unknown;
}

/**
 * A batch task's answer: the bytes copied, or an error (ERR_INVALID_ARGUMENT, ERR_KERNEL_BOUNDS,
 * ERR_WORKER_MISMATCH for kernels of another build).
 */
export type BatchResult = { readonly ok: true; readonly bytes: number } | { readonly ok: false; readonly error: PlainError };
/**
 * A serve task's answer: `served` ops in all on this ring once it was stopped; or an error:
 * ERR_RING_BUSY (another server holds the ring: nothing was touched), ERR_INVALID_ARGUMENT (no
 * fabric, or `ctrl` is not a ring's control block), ERR_WORKER_MISMATCH (kernels of another build).
 */
export type ServeResult = { readonly ok: true; readonly served: number } | { readonly ok: false; readonly error: PlainError };

const instances = new Map<string, Kernels>();

function kernelsFor(handle: FabricHandle): Kernels | BatchResult {
  let kernels = instances.get(handle.id);
  if (!kernels) {
    kernels = instantiateKernels(handle.memory, handle.module) as Kernels;
    const abi = kernels.ringAbi() >>> 0;
    if (abi !== RING_ABI) return failure('ERR_WORKER_MISMATCH', `kernel ring ABI ${abi} does not match this worker's ${RING_ABI}: the worker and the kernels come from different builds`);
    instances.set(handle.id, kernels);
  }
  return kernels;
}

function fabricOf(task: object): FabricHandle | undefined {
  return (task as { fabric?: FabricHandle }).fabric ?? (workerData as { fabric?: FabricHandle } | undefined)?.fabric;
}

/** The piscina task function. */
export default function run(task: WorkerTask): ServeResult | BatchResult {
  if (task === null || typeof task !== 'object') return failure('ERR_INVALID_ARGUMENT', 'a task is { kind: "serve", ctrl } or { table, count }');
  const handle = fabricOf(task);
  if (!handle) return failure('ERR_INVALID_ARGUMENT', 'no fabric: pass workerData { fabric: fabric.handle() } to the pool or a fabric field in the task');
  const kernels = kernelsFor(handle);
  if ('ok' in kernels) return kernels;
  return task.kind === 'serve' ? serve(handle, kernels, task) : runBatch(handle, kernels, task as BatchTask);
}

function serve(handle: FabricHandle, kernels: Kernels, task: ServeTask): ServeResult {
  const { ctrl, token = 0 } = task;
  if (!isU32(token) || (token & 1) !== 0) return failure('ERR_INVALID_ARGUMENT', 'token must be an even integer in 0..2^32-1', { argument: 'token' });
  const u32 = new Uint32Array(handle.memory.buffer as unknown as SharedArrayBuffer);
  if (!isRing(handle, u32, ctrl)) return failure('ERR_INVALID_ARGUMENT', `ctrl ${describe(ctrl)} is not the control block of a live ring in this fabric`, { argument: 'ctrl' });
  if (kernels.serveRing(ctrl, token, threadId) === SERVE_BUSY) {
    return failure('ERR_RING_BUSY', `the ring at ${ctrl} already has a server (or is reserved for another): a ring has one consumer`, { ctrl });
  }
  return { ok: true, served: Atomics.load(u32, (ctrl + CTRL.SERVED) >> 2) };
}

// The control block as a Ring writes it: the server trusts these words for every address it
// writes (descriptors and completions), so a stray offset must not pass for a ring.
function isRing(handle: FabricHandle, u32: Uint32Array, ctrl: unknown): ctrl is number {
  if (!isU32(ctrl) || ctrl % 64 !== 0 || ctrl < handle.scratchStart || ctrl + CONTROL_SIZE > handle.dataStart) return false;
  const w = (field: number) => u32[(ctrl + field) >> 2]!;
  const slots = w(CTRL.SLOTS);
  if (slots < 2 || slots > 65536 || (slots & (slots - 1)) !== 0) return false;
  const descs = ctrl + CONTROL_SIZE, comps = descs + slots * DESC_SIZE;
  return w(CTRL.DESCS) === descs && w(CTRL.COMPS) === comps && comps + slots * COMP_SIZE <= handle.dataStart &&
    w(CTRL.DATA_LO) === handle.dataStart && w(CTRL.DATA_HI) === handle.size % 2 ** 32 &&
    w(CTRL.TABLE_LO) === handle.scratchStart && w(CTRL.TABLE_HI) === handle.dataStart;
}

function runBatch(handle: FabricHandle, kernels: Kernels, task: BatchTask): BatchResult {
  const { table, count } = task;
  if (!isU32(table) || !isU32(count)) return failure('ERR_INVALID_ARGUMENT', 'table and count must be integers in 0..2^32-1', { argument: isU32(table) ? 'count' : 'table' });
  if (table < handle.scratchStart || table + count * 16 > handle.dataStart) {
    return failure('ERR_KERNEL_BOUNDS', `table ${table} with ${count} entries is outside the scratch area`, { offset: table, length: count * 16 });
  }
  const bad = kernels.checkSg(table, count, handle.dataStart, handle.size);
  if (bad >= 0) return failure('ERR_KERNEL_BOUNDS', `segment ${bad} leaves the fabric's data area`, { index: bad });
  // copySg checks each entry again as it reads it: the table is shared memory.
  const bytes = kernels.copySg(table, count, handle.dataStart, handle.size);
  // Negative only when the table was rewritten between the check and the copy (another thread).
  if (bytes < 0) return failure('ERR_KERNEL_BOUNDS', `segment ${-1 - bytes} leaves the fabric's data area (the table changed during the copy)`, { index: -1 - bytes });
  return { ok: true, bytes };
}

function failure(code: string, message: string, fields: Record<string, unknown> = {}): { ok: false; error: PlainError } {
  return { ok: false, error: { ...fields, code, message } };
}
