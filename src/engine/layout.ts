// The ring's shared-memory layout. It must match assembly/ring.ts: ringAbi() (the kernel's
// checksum of its constants) is compared with RING_ABI before a ring is served.

/** Control block byte offsets. */
export const CTRL = {
  HEAD: 0,
  DOORBELL: 32,
  TAIL: 64,
  SLEEPING: 68,
  STATE: 128,
  SLOTS: 192,
  DESCS: 196,
  COMPS: 200,
  DATA_LO: 204,
  DATA_HI: 208,
  TABLE_LO: 212,
  TABLE_HI: 216,
  CRC_TABLE: 220,
  SPIN: 224,
  SERVED: 228,
  /** threadId of the server holding the claim (written by the server once it holds it). */
  WORKER: 232,
  /** The ring's one-consumer claim: an even reservation token (0: none), | 1 while a server holds it. */
  CLAIM: 236,
} as const;
export const CONTROL_SIZE = 256;
export const DESC_SIZE = 32;
export const COMP_SIZE = 16;

/** Descriptor opcodes. */
export const OP = { COPY: 1, COPY_SG: 2, FILL: 3, COPY_CRC: 4, COPY_TABLE: 5 } as const;
/** Descriptor flags as the server reads them. */
export const DESC_FLAG = { FENCE: 1, CANCELLED: 2 } as const;
export const STATE = { RUN: 0, STOP: 1, STOPPED: 2 } as const;
/** Completion status word of an op the server has not finished (never handed to callers). */
export const STATUS_PENDING = 9;
/** serveRing()'s result when the claim failed (another server holds the ring, or the token is not its reservation). */
export const SERVE_BUSY = -1;

/** The same checksum ringAbi() computes in the kernel. */
export const RING_ABI = (() => {
  const values = [
    CTRL.HEAD, CTRL.DOORBELL, CTRL.TAIL, CTRL.SLEEPING, CTRL.STATE, CTRL.SLOTS, CTRL.DESCS, CTRL.COMPS, CTRL.DATA_LO,
    CTRL.DATA_HI, CTRL.TABLE_LO, CTRL.TABLE_HI, CTRL.CRC_TABLE, CTRL.SPIN, CTRL.SERVED, CONTROL_SIZE, DESC_SIZE,
    COMP_SIZE, OP.COPY, OP.COPY_SG, OP.FILL, OP.COPY_CRC, OP.COPY_TABLE, DESC_FLAG.FENCE, DESC_FLAG.CANCELLED,
    5 /* INVALID_LENGTH */, 6 /* INVALID_OPCODE */, STATUS_PENDING, STATE.STOPPED, CTRL.WORKER, CTRL.CLAIM,
    SERVE_BUSY >>> 0,
  ];
  let h = 17;
  for (const v of values) h = (Math.imul(h, 31) + v) >>> 0;
  return h;
})();
