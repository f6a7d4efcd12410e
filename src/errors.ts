// Coded errors, in the style of undici's lib/core/errors.js: one class per failure kind,
// a stable `code` to branch on, a default message, and typed fields where they help.
// Errors cross worker boundaries as plain {code, message, ...fields}; errorFromJSON
// rebuilds the class on the other side.
//
// Adding a class: append `export class XError extends coded('ERR_X', 'XError', 'Default message') {}`
// with a doc comment and a `declare readonly field: Type;` line (and doc comment) per field it
// carries. Exporting it from this file is its registration: errorFromJSON and errorCodes() find
// every exported class here (see `registry` below); test/docs-reference.test.ts checks that every
// field passed at a construction site is declared on its class.
import * as exported from './errors.js';
import type * as ThisModule from './errors.js';

/** The extra fields a coded error is constructed with (its declared fields, and `cause`). */
export interface ErrorFields {
  readonly cause?: unknown;
  readonly [field: string]: unknown;
}

/** The plain form of a coded error: what `toJSON()` returns and `errorFromJSON()` takes. */
export type PlainError = { code: string; message: string; name: string } & Record<string, unknown>;

/** Base of every error dma-bounce throws. Branch on `code` (or `instanceof` a subclass), never on the message. */
export class DmaBounceError extends Error {
  override name = 'DmaBounceError';
  /** The stable error code, `ERR_...`; each subclass narrows it to its literal. */
  readonly code: string = 'ERR_DMA_BOUNCE';

  /** Builds an error with `message` and an optional `cause`. Never throws. */
  constructor(message?: string, options?: { cause?: unknown }) {
    super(message, options);
  }

  /** The plain form that survives postMessage and JSON: code, name, message and own fields (not `cause`). Never throws. */
  toJSON(): PlainError {
    const fields: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(this)) {
      if (key !== 'name' && key !== 'code' && key !== 'cause') fields[key] = value;
    }
    return { ...fields, name: this.name, code: this.code, message: this.message };
  }
}

/** What `coded()` returns: a class with a literal `code`, constructed from a message and its fields. */
export interface CodedErrorClass<C extends string> {
  /** The code every instance carries. */
  readonly code: C;
  new (message?: string, fields?: ErrorFields): DmaBounceError & { readonly code: C };
}

// Fields that would overwrite what every error has.
const RESERVED = new Set(['cause', 'name', 'code', 'message']);

/**
 * The base class for one error kind: instances carry `code` (a literal type), `name`, the default
 * message when none is given, and each field of `fields` as an enumerable own property (so
 * `toJSON()` carries it across threads; `name`, `code` and `message` are never overwritten). Subclasses declare those fields' types. Never throws.
 */
export function coded<C extends string>(code: C, name: string, defaultMessage: string): CodedErrorClass<C> {
  return class Coded extends DmaBounceError {
    static readonly code: C = code;
    override name = name;
    override readonly code: C = code;
    constructor(message?: string, fields?: ErrorFields) {
      super(message ?? defaultMessage, fields?.cause === undefined ? undefined : { cause: fields.cause });
      if (fields) {
        for (const [key, value] of Object.entries(fields)) if (!RESERVED.has(key)) Object.defineProperty(this, key, { value, enumerable: true });
      }
    }
  };
}

// --- arguments and sizes
/** A public entry point got an argument of the wrong type or out of range. */
export class InvalidArgumentError extends coded('ERR_INVALID_ARGUMENT', 'InvalidArgumentError', 'Invalid argument') {
  /** The parameter (or option field) at fault, e.g. `'size'`, `'signal'`; absent where a worker reports a malformed task. */
  declare readonly argument?: string;
  /** The rejected value, where it is a plain value worth reporting. */
  declare readonly value?: unknown;
  /** Why the value was refused, where one argument can fail several ways (e.g. `'not-mapped'`). */
  declare readonly reason?: string;
  /** swiotlb: the largest mapping the pool allows (`swiotlb_max_mapping_size()`), for a size refused as too large. */
  declare readonly maxMappingSize?: number;
  /** swiotlb: the bounce-slot address an unmap or sync named. */
  declare readonly tlbAddr?: number;
  /** swiotlb: the bytes a mapping would take with its alignment offset and rounding, for one larger than a segment. */
  declare readonly allocBytes?: number;
  /** restricted-dma-pool: the device-tree property the kernel refuses. */
  declare readonly property?: string;
  /** Copy engine: bytes copied before a list rewritten during a copy was found out. */
  declare readonly copied?: number;
}
/** A size was neither a byte count nor a string with a binary unit ("4KiB"). */
export class InvalidSizeError extends coded('ERR_INVALID_SIZE', 'InvalidSizeError', 'Invalid size') {
  /** The value given as a size. */
  declare readonly value: unknown;
}

// --- fabric
/** A CPU physical address (or range) falls outside every region, or crosses a region's end. */
export class AddressError extends coded('ERR_BAD_ADDRESS', 'AddressError', 'Address is outside every region') {
  /** The range's first address (a CPU physical address; a fabric offset for offset look-ups). */
  declare readonly address: number;
  /** The range's length in bytes. */
  declare readonly length: number;
}
/** A region overlaps another in fabric offsets or physical addresses, or reuses a region's name. */
export class RegionConflictError extends coded('ERR_REGION_CONFLICT', 'RegionConflictError', 'Region conflicts with another region') {
  /** The name of the region being added. */
  declare readonly region: string;
  /** The existing region it overlaps (absent when the name itself is taken). */
  declare readonly other?: string;
}
/** The fabric has no room left for a region of that size. */
export class FabricFullError extends coded('ERR_FABRIC_FULL', 'FabricFullError', 'The fabric has no room for this region') {
  /** Bytes the region needs. */
  declare readonly requested: number;
  /** Bytes the fabric has left. */
  declare readonly available: number;
}
/** An allocator could not satisfy a request. */
export class AllocationError extends coded('ERR_ALLOC_EXHAUSTED', 'AllocationError', 'Region allocator exhausted') {
  /** Bytes asked for. */
  declare readonly requested: number;
  /** The alignment asked for, bytes. */
  declare readonly alignment: number;
  /** Bytes free in the allocator (possibly fragmented). */
  declare readonly free: number;
}
/** A span was freed twice. */
export class DoubleFreeError extends coded('ERR_DOUBLE_FREE', 'DoubleFreeError', 'Span already freed') {
  /** The freed span's start. */
  declare readonly offset: number;
}
/** A span was freed to an allocator (or region) that did not allocate it. */
export class ForeignSpanError extends coded('ERR_FOREIGN_SPAN', 'ForeignSpanError', 'Span does not belong to this allocator') {
  /** The span's start. */
  declare readonly offset: number;
}
/** A kernel call named memory outside the fabric's usable range; nothing was copied unless `copied` says so. */
export class KernelBoundsError extends coded('ERR_KERNEL_BOUNDS', 'KernelBoundsError', 'Kernel argument outside the fabric') {
  /** The index of the offending segment, for scatter-gather calls. */
  declare readonly index?: number;
  /** Which list the segment is in, for two-list scatter-gather calls. */
  declare readonly list?: 'dst' | 'src';
  /** The offending range's fabric offset. */
  declare readonly offset?: number;
  /** The offending range's length in bytes. */
  declare readonly length?: number;
  /** Bytes copied before the fault, where a table changed during the copy. */
  declare readonly copied?: number;
}

// --- PCI topology
/** The topology JSON or API description is malformed. */
export class TopologyError extends coded('ERR_TOPOLOGY', 'TopologyError', 'Invalid topology') {
  /** The JSON path of the fault, e.g. `$.hostBridges[0].devices[1].bdf`. */
  declare readonly path: string;
}
/** `lspci` text could not be parsed. */
export class LspciParseError extends coded('ERR_LSPCI_PARSE', 'LspciParseError', 'Cannot parse lspci output') {
  /** The 1-based line of the fault. */
  declare readonly line: number;
}
/** No device with that BDF in the topology. */
export class UnknownDeviceError extends coded('ERR_UNKNOWN_DEVICE', 'UnknownDeviceError', 'No such device') {
  /** The BDF looked for. */
  declare readonly bdf: string;
}
/** A p2pmem provider could not satisfy an allocation, or was handed memory it did not allocate. */
export class P2pmemError extends coded('ERR_P2PMEM', 'P2pmemError', 'p2pmem allocation failed') {
  /** `'exhausted'`, `'foreign'`, `'not-allocated'` or `'size-mismatch'`. */
  declare readonly reason: 'exhausted' | 'foreign' | 'not-allocated' | 'size-mismatch';
  /** The provider's BDF. */
  declare readonly provider: string;
  /** The provider's BAR index. */
  declare readonly bar: number;
  /** exhausted: the bytes asked for (rounded up to whole p2pmem pages). */
  declare readonly requested?: number;
  /** exhausted: the bytes still free. */
  declare readonly available?: number;
  /** free: the address handed back. */
  declare readonly phys?: number;
  /** free: the size handed back. */
  declare readonly size?: number;
}

// --- copy engine
/** The engine (or a channel, or a ring) was closed. */
export class EngineClosedError extends coded('ERR_ENGINE_CLOSED', 'EngineClosedError', 'Copy engine is closed') {}
/** The call is not allowed in the object's current state (e.g. start() with completions not gathered). */
export class InvalidStateError extends coded('ERR_INVALID_STATE', 'InvalidStateError', 'Invalid state for this call') {
  /** Completions not yet gathered, where those block the call. */
  declare readonly outstanding?: number;
  /** The state that refused the call, where it has a name (e.g. a bounce mapping's). */
  declare readonly state?: string;
  /** The address the refusal is about, where there is one. */
  declare readonly address?: number;
  /** swiotlb close(): the mappings and allocations still live. */
  declare readonly mappings?: number;
  /** Copy engine: the argument (`'table'`, `'ring'`, `'segments'`) that is released or in use. */
  declare readonly argument?: string;
  /** Copy engine: ring ops still reading a table that clear() or release() was asked of. */
  declare readonly inUse?: number;
}
/** The ring is stopped: start() it before enqueueing; for an engine op, its channel was stopped or closed under it. */
export class EngineStoppedError extends coded('ERR_ENGINE_STOPPED', 'EngineStoppedError', 'Copy engine ring is stopped') {
  /** The completion status name (`'USER_ABORT'`), when the op had reached a ring. */
  declare readonly status?: string;
  /** Bytes copied (0, or the bytes of a split copy's parts that ran), for an engine op. */
  declare readonly bytesCompleted?: number;
  /** The fault address (0), when the op had reached a ring. */
  declare readonly faultAddress?: number;
}
/** A copy failed. */
export class CopyError extends coded('ERR_COPY_FAILED', 'CopyError', 'Copy failed') {
  /** The completion status name (`'INVALID_SRC'`, `'INVALID_DST'`, `'INVALID_LENGTH'`, ...). */
  declare readonly status: string;
  /** Bytes copied before the failure. */
  declare readonly bytesCompleted: number;
  /** The fabric offset of the fault, 0 when none applies. */
  declare readonly faultAddress: number;
}
/** The operation was cancelled through its AbortSignal before it ran; `cause` is the signal's reason. */
export class AbortError extends coded('ERR_ABORTED', 'AbortError', 'The operation was aborted') {
  /** The completion status name, when the op had reached a ring (`'USER_ABORT'`). */
  declare readonly status?: string;
  /** Bytes copied (0: an aborted op never ran), when the op had reached a ring. */
  declare readonly bytesCompleted?: number;
  /** The fault address (0), when the op had reached a ring. */
  declare readonly faultAddress?: number;
}
/** A worker thread died (or threw) while it held work; for a batch, `cause` is the pool's error. */
export class WorkerDiedError extends coded('ERR_WORKER_DIED', 'WorkerDiedError', 'Copy worker died') {
  /** The completion status name (`'FAULT'` or `'NOT_ATTEMPTED'`), for ring ops. */
  declare readonly status?: string;
  /** Bytes copied before the worker died, for ring ops. */
  declare readonly bytesCompleted?: number;
  /** How far the op got (a fabric offset), for ring ops. */
  declare readonly faultAddress?: number;
}
/** A pool's worker answered a dma-bounce task with something dma-bounce/worker never returns: the pool runs another module. */
export class WorkerMismatchError extends coded('ERR_WORKER_MISMATCH', 'WorkerMismatchError', 'The pool does not run dma-bounce/worker') {
  /** What came back, described (`'an object with keys [...]'`, `'number 42'`). */
  declare readonly received: string;
  /** The completion status name (`'NOT_ATTEMPTED'`), for engine ops queued on such a pool. */
  declare readonly status?: string;
  /** Bytes copied (0), for engine ops. */
  declare readonly bytesCompleted?: number;
  /** The fault address (0), for engine ops. */
  declare readonly faultAddress?: number;
}
/** A ring already has its server (or is reserved for another one): a ring is served by one thread at a time. */
export class RingBusyError extends coded('ERR_RING_BUSY', 'RingBusyError', 'The ring already has a server') {
  /** The fabric offset of the ring's control block. */
  declare readonly ctrl: number;
}
/** A worker pool has too few threads for the rings it would serve, or for a batch task beside them. */
export class PoolTooSmallError extends coded('ERR_POOL_TOO_SMALL', 'PoolTooSmallError', 'The worker pool has too few threads') {
  /** The pool's `maxThreads`. */
  declare readonly threads: number;
  /** Rings dma-bounce has open on the pool. */
  declare readonly rings: number;
  /** The threads the call would need. */
  declare readonly needed: number;
}

// --- DMA mapping
/** A DMA mapping failed (the model of DMA_MAPPING_ERROR). */
export class DmaMappingError extends coded('ERR_DMA_MAPPING', 'DmaMappingError', 'DMA mapping failed') {
  /** The kernel's errno name: `'EIO'` (cannot be mapped or bounced), `'ENOMEM'`, ... */
  declare readonly errno: string;
  /** The CPU physical (or bounce-slot) address of the segment that failed. */
  declare readonly address: number;
  /** The segment's length in bytes. */
  declare readonly length: number;
  /** The BDF whose BAR the segment lives in, for P2P memory. */
  declare readonly provider?: string;
  /** swiotlb_max_mapping_size(), when the segment was too large to bounce. */
  declare readonly maxMappingSize?: number;
  /** The bytes the bounce needed (with alignment padding), when they do not fit one swiotlb segment. */
  declare readonly allocBytes?: number;
  /** The blk_status_t name, when the block layer's DMA iterator failed the request. */
  declare readonly status?: string;
}
/** P2P between provider and client is NOT_SUPPORTED and the policy rejects it (mainline: -EREMOTEIO). */
export class P2PNotSupportedError extends coded('ERR_DMA_P2P_NOT_SUPPORTED', 'P2PNotSupportedError', 'Peer-to-peer DMA not supported between these devices') {
  /** Always `'EREMOTEIO'`, as pci_p2pdma_map_segment() returns. */
  declare readonly errno: 'EREMOTEIO';
  /** The CPU physical address of the segment in the provider's BAR. */
  declare readonly address: number;
  /** The segment's length in bytes. */
  declare readonly length: number;
  /** The BDF of the device whose BAR the segment lives in. */
  declare readonly provider: string;
  /** Why the route is NOT_SUPPORTED, one line per rule that refused it. */
  declare readonly reasons: readonly string[];
  /** The blk_status_t name (`'BLK_STS_INVAL'`), when the block layer's DMA iterator failed the request. */
  declare readonly status?: string;
}
/** The swiotlb pool had no room: "swiotlb buffer is full". */
export class SwiotlbFullError extends coded('ERR_SWIOTLB_FULL', 'SwiotlbFullError', 'swiotlb buffer is full') {
  /** Bytes the search needed (with alignment padding). */
  declare readonly size: number;
  /** Bytes the mapping asked for. */
  declare readonly mappingSize: number;
  /** Slots in the pool. */
  declare readonly totalSlots: number;
  /** Slots in use when the search failed. */
  declare readonly usedSlots: number;
  /** mapWait: true when it gave up after `timeout` ms. */
  declare readonly timedOut?: boolean;
  /** mapWait: the timeout that ran out, ms. */
  declare readonly timeout?: number;
  /** mapWait: true when the mapping cannot fit even in the empty pool. */
  declare readonly neverFits?: boolean;
}
/**
 * A swiotlb pool-memory callback (allocPoolMemory / freePoolMemory of a dynamic SwiotlbMem) broke
 * its contract: it threw, or returned something that is not `{ phys }` of page-aligned memory that
 * belongs to no pool yet.
 */
export class SwiotlbPoolMemoryError extends coded('ERR_SWIOTLB_POOL_MEMORY', 'SwiotlbPoolMemoryError', 'swiotlb pool memory callback failed') {
  /** 'threw' (see `cause`), 'bad-result' (not `{ phys }` of an address), 'unaligned' (phys not page aligned), 'overlap' (memory of a pool in use). */
  declare readonly reason: 'threw' | 'bad-result' | 'unaligned' | 'overlap';
  /** The bytes asked for or given back. */
  declare readonly bytes: number;
  /** The address returned or given back, where there was one. */
  declare readonly phys?: unknown;
}
/** A simulated device touched a DMA address it cannot reach. */
export class DeviceFaultError extends coded('ERR_DEVICE_FAULT', 'DeviceFaultError', 'Device DMA fault') {
  /** The device's BDF. */
  declare readonly device: string;
  /** The DMA address it used. */
  declare readonly dmaAddress: number;
  /** The transfer's length in bytes. */
  declare readonly length: number;
}
/** One dma-debug finding, as carried by DmaDebugError (the same shape as the DmaDebug report). */
export interface DmaDebugFinding {
  /** The finding's kind, a DmaDebugCode such as `'UNMAP_NOT_MAPPED'`. */
  readonly code: string;
  readonly device: string;
  readonly address: number;
  readonly size: number;
  readonly message: string;
  readonly [field: string]: unknown;
}
/** dma-debug found misuse of the DMA API (thrown only in throwing mode); the first report's fields are copied onto the error. */
export class DmaDebugError extends coded('ERR_DMA_DEBUG', 'DmaDebugError', 'DMA API misuse') {
  /** The first finding's DmaDebugCode (`code` is always ERR_DMA_DEBUG). */
  declare readonly debugCode: string;
  /** The first finding. */
  declare readonly report: DmaDebugFinding;
  /** Every finding of the call. */
  declare readonly reports: readonly DmaDebugFinding[];
  /** The device's BDF. */
  declare readonly device: string;
  /** The DMA address the call named. */
  declare readonly address: number;
  /** The size the call named. */
  declare readonly size: number;
  /** The direction the call passed, by name. */
  declare readonly direction?: string;
  /** What the live mapping (or the device) says. */
  declare readonly expected?: number | string;
  /** What the call said. */
  declare readonly found?: number | string;
  /** Where the mapping involved was made, when stacks are recorded. */
  declare readonly stack?: string;
  /** LEAK: the mappings still live; OVERLAP: the live mapping overlapped. */
  declare readonly mappings?: readonly unknown[];
  /** LEAK: how many mappings were pending. */
  declare readonly count?: number;
}
/**
 * The call named a bounce mapping that is not live: still being mapped (its map has not resolved),
 * being unmapped, or already free. Nothing changed.
 */
export class MappingStateError extends coded('ERR_MAPPING_STATE', 'MappingStateError', 'The DMA mapping is not live') {
  /** The DMA address the call named. */
  declare readonly dmaAddress: number;
  /** The length the call named. */
  declare readonly length: number;
  /** The mapping's state: 'mapping', 'unmapping' or 'free'. */
  declare readonly state: 'mapping' | 'live' | 'unmapping' | 'free';
}
/** The DmaSystem was closed (or is closing): the call was refused, or a wait for pool space was cut short. */
export class SystemClosedError extends coded('ERR_SYSTEM_CLOSED', 'SystemClosedError', 'The DMA system is closed') {}

// --- tracing and replay
/** A dma: or swiotlb: line of a capture does not match its event's format. */
export class TraceParseError extends coded('ERR_TRACE_PARSE', 'TraceParseError', 'Cannot parse trace line') {
  /** The line, counted from 1. */
  declare readonly line: number;
  /** The event name the line gave ('' when the line was cut short before one). */
  declare readonly event: string;
  /** Where in the line the fault is, counted from 0. */
  declare readonly column: number;
}
/** A capture cannot be replayed as given: its memory does not fit the model, or the topology has no endpoint. */
export class TraceReplayError extends coded('ERR_TRACE_REPLAY', 'TraceReplayError', 'Cannot replay trace') {
  /** 'memory' or 'topology'. */
  declare readonly reason: 'memory' | 'topology';
}

// --- the union of every coded class, derived from the exports (so an appended class joins it)
type Instances<M> = { [K in keyof M]: M[K] extends abstract new (...args: never[]) => infer I ? (I extends DmaBounceError ? (string extends I['code'] ? never : I) : never) : never }[keyof M];

/**
 * Every coded error class's instance type, as one union discriminated by `code`: after
 * `isCodedError(err)`, `switch (err.code)` narrows `err` to the class and its fields.
 */
export type CodedError = Instances<typeof ThisModule>;

/** True when `err` is an error of one of the coded classes (narrows it to CodedError). Never throws. */
export function isCodedError(err: unknown): err is CodedError {
  return err instanceof DmaBounceError && byCode().get(err.code) !== undefined && err instanceof byCode().get(err.code)!;
}

// --- registry: every coded class exported above (and appended below) is found here.
type RegisteredClass = { readonly code: string } & (new (message?: string, fields?: ErrorFields) => DmaBounceError);

let registry: Map<string, RegisteredClass> | undefined;

// Built on first use: the module namespace is complete only once this file has run.
function byCode(): Map<string, RegisteredClass> {
  if (!registry) {
    registry = new Map();
    for (const value of Object.values(exported) as unknown[]) {
      if (typeof value === 'function' && value.prototype instanceof DmaBounceError && typeof (value as { code?: unknown }).code === 'string') {
        const Class = value as RegisteredClass;
        registry.set(Class.code, Class);
      }
    }
  }
  return registry;
}

/**
 * Rebuilds the coded class from its plain form (as carried back from a worker): the class whose
 * `code` matches, with the message and every other field; an unknown code gives a DmaBounceError
 * carrying that code. Never throws.
 */
export function errorFromJSON(plain: { code?: unknown; message?: unknown } & Record<string, unknown>): DmaBounceError {
  const { code, message, name: _name, stack: _stack, ...fields } = plain;
  const Class = typeof code === 'string' ? byCode().get(code) : undefined;
  const text = typeof message === 'string' ? message : 'Unknown error';
  if (Class) return new Class(text, fields);
  const err = new DmaBounceError(text);
  Object.defineProperty(err, 'code', { value: typeof code === 'string' ? code : 'ERR_DMA_BOUNCE', enumerable: true });
  return err;
}

/** Every error code the library throws, one per exported class, in the order of the classes' names. Never throws. */
export function errorCodes(): string[] {
  return [...byCode().keys()];
}

// --- IOMMU (iommu-dma)
/** The IOMMU refused a device's DMA: the IOVA is not mapped, or mapped without the permission the access needs. */
export class IommuFaultError extends coded('ERR_IOMMU_FAULT', 'IommuFaultError', 'IOMMU fault') {
  /** The requester, "SSSS:BB:DD.F". */
  declare readonly device: string;
  /** The IOVA of the first byte the IOMMU refused. */
  declare readonly address: number;
  /** 'read': the device read memory; 'write': it wrote. */
  declare readonly access: 'read' | 'write';
  /** 'not-present' (no translation) or 'permission' (mapped without IOMMU_READ / IOMMU_WRITE). */
  declare readonly reason: 'not-present' | 'permission';
  /** The kernel's log line for the fault (DMAR or AMD-Vi format). */
  declare readonly log: string;
}
/** An IOVA API call on a state that does not allow it (unallocated, destroyed, or another call in flight). */
export class IovaStateError extends coded('ERR_IOVA_STATE', 'IovaStateError', 'The IOVA state does not allow this call') {
  /** The state's life: 'unallocated', 'destroyed', or 'busy' (a link or unlink in flight). */
  declare readonly state: 'unallocated' | 'allocated' | 'destroyed' | 'busy';
}
/** An IOVA API call that breaks one of the API's rules (docs/iommu.md lists them). */
export class IovaRuleError extends coded('ERR_IOVA_RULE', 'IovaRuleError', 'IOVA API rule broken') {
  /** The rule, e.g. 'link-start-boundary'. */
  declare readonly rule: string;
}
