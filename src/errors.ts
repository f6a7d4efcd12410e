// Coded errors, in the style of undici's lib/core/errors.js: one class per failure kind,
// a stable `code` to branch on, a default message, and extra fields where they help.
// Errors cross worker boundaries as plain {code, message, ...fields}; errorFromJSON
// rebuilds the class on the other side.

export interface ErrorFields {
  readonly [field: string]: unknown;
}

/** Base of every error dma-bounce throws. Branch on `code`, never on the message. */
export class DmaBounceError extends Error {
  override name = 'DmaBounceError';
  readonly code: string = 'ERR_DMA_BOUNCE';

  constructor(message?: string, options?: { cause?: unknown }) {
    super(message, options);
  }

  /** The plain form that survives postMessage and JSON: code, message and own fields. */
  toJSON(): { code: string; message: string; name: string } & Record<string, unknown> {
    const fields: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(this)) {
      if (key !== 'name' && key !== 'code' && key !== 'cause') fields[key] = value;
    }
    return { ...fields, name: this.name, code: this.code, message: this.message };
  }
}

type ErrorClass = { readonly code: string } & (new (message?: string, fields?: ErrorFields) => DmaBounceError);

function coded<C extends string>(code: C, name: string, defaultMessage: string) {
  return class Coded extends DmaBounceError {
    static readonly code: C = code;
    override name = name;
    override readonly code: C = code;
    constructor(message?: string, fields?: ErrorFields) {
      super(message ?? defaultMessage, fields?.cause === undefined ? undefined : { cause: fields.cause });
      if (fields) {
        for (const [key, value] of Object.entries(fields)) if (key !== 'cause') Object.defineProperty(this, key, { value, enumerable: true });
      }
    }
  };
}

// --- arguments and sizes
/** A public entry point got an argument of the wrong type or out of range. Fields: `argument`. */
export class InvalidArgumentError extends coded('ERR_INVALID_ARGUMENT', 'InvalidArgumentError', 'Invalid argument') {}
/** A size was neither a byte count nor a string with a binary unit ("4KiB"). Fields: `value`. */
export class InvalidSizeError extends coded('ERR_INVALID_SIZE', 'InvalidSizeError', 'Invalid size') {}

// --- fabric
/** A CPU physical address (or range) falls outside every region, or crosses a region's end. Fields: `address`, `length`. */
export class AddressError extends coded('ERR_BAD_ADDRESS', 'AddressError', 'Address is outside every region') {}
/** A region overlaps another in fabric offsets or physical addresses, or does not fit the fabric. */
export class RegionConflictError extends coded('ERR_REGION_CONFLICT', 'RegionConflictError', 'Region conflicts with another region') {}
/** The fabric has no room left for a region of that size. Fields: `requested`, `available`. */
export class FabricFullError extends coded('ERR_FABRIC_FULL', 'FabricFullError', 'The fabric has no room for this region') {}
/** An allocator could not satisfy a request. Fields: `requested`, `alignment`, `free`. */
export class AllocationError extends coded('ERR_ALLOC_EXHAUSTED', 'AllocationError', 'Region allocator exhausted') {}
/** A span was freed twice. Fields: `offset`. */
export class DoubleFreeError extends coded('ERR_DOUBLE_FREE', 'DoubleFreeError', 'Span already freed') {}
/** A span was freed to an allocator that did not allocate it. Fields: `offset`. */
export class ForeignSpanError extends coded('ERR_FOREIGN_SPAN', 'ForeignSpanError', 'Span does not belong to this allocator') {}
/** A kernel call named memory outside the fabric's usable range; nothing was copied. Fields: `index`, `offset`, `length`. */
export class KernelBoundsError extends coded('ERR_KERNEL_BOUNDS', 'KernelBoundsError', 'Kernel argument outside the fabric') {}

// --- PCI topology
/** The topology JSON or API description is malformed. Fields: `path` (a JSON path such as `$.hostBridges[0].devices[1].bdf`). */
export class TopologyError extends coded('ERR_TOPOLOGY', 'TopologyError', 'Invalid topology') {}
/** `lspci -tv` text could not be parsed. Fields: `line` (1-based). */
export class LspciParseError extends coded('ERR_LSPCI_PARSE', 'LspciParseError', 'Cannot parse lspci output') {}
/** No device with that BDF in the topology. Fields: `bdf`. */
export class UnknownDeviceError extends coded('ERR_UNKNOWN_DEVICE', 'UnknownDeviceError', 'No such device') {}
/** A p2pmem provider could not satisfy an allocation, or was handed memory it did not allocate. */
export class P2pmemError extends coded('ERR_P2PMEM', 'P2pmemError', 'p2pmem allocation failed') {}

// --- copy engine
/** The engine (or a ring) was closed. */
export class EngineClosedError extends coded('ERR_ENGINE_CLOSED', 'EngineClosedError', 'Copy engine is closed') {}
/** The call is not allowed in the object's current state (e.g. start() with completions not gathered). */
export class InvalidStateError extends coded('ERR_INVALID_STATE', 'InvalidStateError', 'Invalid state for this call') {}
/** The ring is stopped: start() it before enqueueing. */
export class EngineStoppedError extends coded('ERR_ENGINE_STOPPED', 'EngineStoppedError', 'Copy engine ring is stopped') {}
/** A copy failed. Fields: `status` (the completion status name), `bytesCompleted`, `faultAddress`. */
export class CopyError extends coded('ERR_COPY_FAILED', 'CopyError', 'Copy failed') {}
/** The operation was cancelled through its AbortSignal before it ran. */
export class AbortError extends coded('ERR_ABORTED', 'AbortError', 'The operation was aborted') {}
/** A worker thread died while it held work. Fields: `threadId`. */
export class WorkerDiedError extends coded('ERR_WORKER_DIED', 'WorkerDiedError', 'Copy worker died') {}

// --- DMA mapping
/** A DMA mapping failed (the model of DMA_MAPPING_ERROR). Fields: `errno` ('EIO', 'ENOMEM', ...). */
export class DmaMappingError extends coded('ERR_DMA_MAPPING', 'DmaMappingError', 'DMA mapping failed') {}
/** P2P between provider and client is NOT_SUPPORTED and the policy rejects it (mainline: -EREMOTEIO). */
export class P2PNotSupportedError extends coded('ERR_DMA_P2P_NOT_SUPPORTED', 'P2PNotSupportedError', 'Peer-to-peer DMA not supported between these devices') {}
/** The swiotlb pool had no room: "swiotlb buffer is full". Fields: `size`, `totalSlots`, `usedSlots`. */
export class SwiotlbFullError extends coded('ERR_SWIOTLB_FULL', 'SwiotlbFullError', 'swiotlb buffer is full') {}
/** A simulated device touched a DMA address it cannot reach. Fields: `device`, `dmaAddress`, `length`. */
export class DeviceFaultError extends coded('ERR_DEVICE_FAULT', 'DeviceFaultError', 'Device DMA fault') {}
/** dma-debug found misuse of the DMA API (thrown only in throwing mode). Fields: the report. */
export class DmaDebugError extends coded('ERR_DMA_DEBUG', 'DmaDebugError', 'DMA API misuse') {}
/**
 * The call named a bounce mapping that is not live: still being mapped (its map has not resolved),
 * being unmapped, or already free. Nothing changed. Fields: `dmaAddress`, `length`, `state`.
 */
export class MappingStateError extends coded('ERR_MAPPING_STATE', 'MappingStateError', 'The DMA mapping is not live') {}
/** The DmaSystem was closed (or is closing): the call was refused, or a wait for pool space was cut short. */
export class SystemClosedError extends coded('ERR_SYSTEM_CLOSED', 'SystemClosedError', 'The DMA system is closed') {}

// --- tracing and replay
/** A dma: or swiotlb: line of a capture does not match its event's format. Fields: `line` (1-based), `event`, `column` (0-based). */
export class TraceParseError extends coded('ERR_TRACE_PARSE', 'TraceParseError', 'Cannot parse trace line') {}
/** A capture cannot be replayed as given (its memory does not fit the model, or its configuration is not available). Fields: `reason`. */
export class TraceReplayError extends coded('ERR_TRACE_REPLAY', 'TraceReplayError', 'Cannot replay trace') {}

// --- CLI
/** Bad command-line usage. */
export class UsageError extends coded('ERR_USAGE', 'UsageError', 'Invalid usage') {}

const byCode = new Map<string, ErrorClass>(
  ([
    InvalidArgumentError,
    InvalidSizeError,
    AddressError,
    RegionConflictError,
    FabricFullError,
    AllocationError,
    DoubleFreeError,
    ForeignSpanError,
    KernelBoundsError,
    TopologyError,
    LspciParseError,
    UnknownDeviceError,
    P2pmemError,
    EngineClosedError,
    InvalidStateError,
    EngineStoppedError,
    CopyError,
    AbortError,
    WorkerDiedError,
    DmaMappingError,
    P2PNotSupportedError,
    SwiotlbFullError,
    DeviceFaultError,
    DmaDebugError,
    MappingStateError,
    SystemClosedError,
    TraceParseError,
    TraceReplayError,
    UsageError,
  ] as ErrorClass[]).map((Class) => [Class.code, Class]),
);

/** Rebuilds the coded class from its plain form (as carried back from a worker). */
export function errorFromJSON(plain: { code?: unknown; message?: unknown } & Record<string, unknown>): DmaBounceError {
  const { code, message, name: _name, stack: _stack, ...fields } = plain;
  const Class = typeof code === 'string' ? byCode.get(code) : undefined;
  const text = typeof message === 'string' ? message : 'Unknown error';
  if (Class) return new Class(text, fields);
  const err = new DmaBounceError(text);
  Object.defineProperty(err, 'code', { value: typeof code === 'string' ? code : 'ERR_DMA_BOUNCE', enumerable: true });
  return err;
}

/** Every error code this library throws. */
export function errorCodes(): string[] {
  return [...byCode.keys()];
}
