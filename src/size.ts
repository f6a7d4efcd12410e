// Sizes everywhere a size is taken: a byte count, or a whole number with a binary unit.
import { InvalidSizeError } from './errors.js';

/** A size argument: bytes as a number, or a string such as "4096", "4KiB", "64MiB", "1GiB". */
export type Size = number | string;

const UNITS: Readonly<Record<string, number>> = { B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 };
const SIZE_PATTERN = /^(\d+)(B|KiB|MiB|GiB|TiB)?$/;

/**
 * Parses a size to bytes. Throws InvalidSizeError (ERR_INVALID_SIZE) for anything else:
 * negative, fractional, unsafe integers, decimal units ("4KB", "4K"), spaces.
 * `what` names the argument in the message.
 */
export function parseSize(value: unknown, what = 'size'): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw new InvalidSizeError(`${what}: ${value} is not a whole, non-negative number of bytes`, { value });
  }
  if (typeof value === 'string') {
    const match = SIZE_PATTERN.exec(value);
    if (match) {
      const bytes = Number(match[1]) * UNITS[match[2] ?? 'B']!;
      if (Number.isSafeInteger(bytes)) return bytes;
    }
    throw new InvalidSizeError(`${what}: "${value}" is not a size (use bytes or a binary unit: "4096", "4KiB", "64MiB", "1GiB")`, { value });
  }
  throw new InvalidSizeError(`${what}: expected a number of bytes or a string such as "4KiB", got ${describe(value)}`, { value });
}

/** Formats bytes with the largest binary unit that divides them exactly ("64MiB", "4097B"). */
export function formatSize(bytes: number): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    const scale = UNITS[unit]!;
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale}${unit}`;
  }
  return `${bytes}B`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
