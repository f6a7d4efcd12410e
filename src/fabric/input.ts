// What every entry point does with what a caller hands it: numbers are tested with typeof first
// (a BigInt, a string or an object is refused, not coerced or thrown on by `>>>`); values are
// described for messages without running the caller's code; and reading an argument (a getter,
// a Proxy) that throws becomes a coded error naming the argument.
import { describeValue as describe } from '../describe-value.js';
import { DmaBounceError, InvalidArgumentError } from '../errors.js';

/** True when `value` is a number that is an integer in 0..2^32-1. */
export function isU32(value: unknown): value is number {
  return typeof value === 'number' && value >>> 0 === value;
}

/** A short description of `value` for an error message; never calls into the value. */
export { describe };

/**
 * Runs `read` (which reads the caller's objects) and returns what it returns. A coded error it
 * throws passes through; anything else (a getter or Proxy trap of the caller's that threw)
 * becomes ERR_INVALID_ARGUMENT naming `argument`, with the original as `cause`.
 */
export function readInput<T>(argument: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof DmaBounceError) throw error;
    throw new InvalidArgumentError(`reading ${argument} threw: ${error instanceof Error ? error.message : describe(error)}`, { argument, cause: error });
  }
}

/** `value instanceof Class`, false (instead of a throw) for a Proxy whose traps throw. */
export function isInstance<T>(value: unknown, Class: abstract new (...args: never[]) => T): value is T {
  try {
    return value instanceof Class;
  } catch {
    return false;
  }
}
