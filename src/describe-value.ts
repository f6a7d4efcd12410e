// How an error message names a value a caller passed: without running the caller's code (no
// valueOf(), toString() or toJSON()) and without throwing (a Symbol, a BigInt). Every layer's
// entry points use it, so it sits beside errors and sizes at the bottom.

/** A short description of `value` for an error message; never calls into the value. */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      return value === null ? 'null' : 'an object';
  }
}
