// One reader per capture source: a second readCapture() of a stream another read is still pulling
// would get whatever chunks the first leaves (none, for a Node stream) and report a wrong summary.
import { InvalidArgumentError, InvalidStateError } from '../errors.js';
import type { CaptureSource } from './capture.js';

const reading = new WeakSet<object>();

/**
 * Checks that `source` is async-iterable and not being read by another call, and marks it read.
 * Throws InvalidArgumentError or InvalidStateError (state 'reading'); call releaseSource() once done.
 */
export function claimSource(source: unknown): AsyncIterator<unknown> {
  if (source === null || typeof source !== 'object' || typeof (source as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== 'function') {
    throw new InvalidArgumentError('source must be a readable stream or an async iterable of chunks', { argument: 'source' });
  }
  if (reading.has(source)) throw new InvalidStateError('the capture source is already being read by another call', { state: 'reading', argument: 'source' });
  const chunks = (source as CaptureSource)[Symbol.asyncIterator]();
  reading.add(source);
  return chunks;
}

/** Ends claimSource()'s mark: the source may be read again (an ended stream then gives nothing). */
export function releaseSource(source: object): void {
  reading.delete(source);
}
