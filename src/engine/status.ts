// Completion statuses, after DPDK's enum rte_dma_status_code.

/** The completion statuses a ring reports (after DPDK's `enum rte_dma_status_code`). */
export const Status = {
  SUCCESS: 0,
  /** Cancelled (AbortSignal) or still queued when the ring was stopped. */
  USER_ABORT: 1,
  /** A fenced op whose predecessor failed. */
  NOT_ATTEMPTED: 2,
  INVALID_SRC: 3,
  INVALID_DST: 4,
  /** SG lists whose totals differ. */
  INVALID_LENGTH: 5,
  INVALID_OPCODE: 6,
  /** The op started but did not finish (its worker died): see bytesCompleted and faultAddress. */
  FAULT: 7,
  UNKNOWN: 8,
} as const;
/** A completion status code (a value of `Status`). */
export type StatusCode = (typeof Status)[keyof typeof Status];

const NAMES = Object.fromEntries(Object.entries(Status).map(([name, code]) => [code, name])) as Record<number, StatusName>;
/** A completion status name (`'SUCCESS'`, `'INVALID_SRC'`, ...). */
export type StatusName = keyof typeof Status;

/** The status's name ('SUCCESS', 'INVALID_SRC', ...), or 'UNKNOWN' for a code out of range. */
export function statusName(code: number): StatusName {
  return NAMES[code] ?? 'UNKNOWN';
}
