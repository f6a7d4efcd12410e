// The life of a DmaSystem as its calls see it: open, closing, closed. Every DMA API call enters
// before it touches anything and leaves when it has settled, so close() can refuse new calls, cut
// short the waits for pool space, and wait for what is in flight before the engine stops.
import { SystemClosedError } from '../errors.js';

/** A DmaSystem's life: 'open', 'closing' (close() waits for the calls in flight), 'closed'. */
export type SystemState = 'open' | 'closing' | 'closed';

export class SystemLifecycle {
  #state: SystemState = 'open';
  #inFlight = 0;
  #idle: (() => void) | undefined;
  readonly #closing = new AbortController();

  get state(): SystemState {
    return this.#state;
  }

  /** Aborted when close() starts: waits for swiotlb space listen to it and end with SystemClosedError. */
  get closingSignal(): AbortSignal {
    return this.#closing.signal;
  }

  /** Calls in flight. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** A call starts. Throws SystemClosedError (ERR_SYSTEM_CLOSED) once close() has begun. */
  enter(): void {
    if (this.#state !== 'open') throw new SystemClosedError(`the DMA system is ${this.#state}: no new DMA API calls`);
    this.#inFlight++;
  }

  /** A call has settled. */
  leave(): void {
    if (--this.#inFlight === 0 && this.#idle) {
      const idle = this.#idle;
      this.#idle = undefined;
      idle();
    }
  }

  /** Runs `call` between enter() and leave(). */
  async run<T>(call: () => Promise<T>): Promise<T> {
    this.enter();
    try {
      return await call();
    } finally {
      this.leave();
    }
  }

  /**
   * Starts closing: new calls are refused, waits for pool space end, and the promise resolves
   * when every call in flight has settled. Returns false when close() had already begun.
   */
  async close(): Promise<boolean> {
    if (this.#state !== 'open') return false;
    this.#state = 'closing';
    this.#closing.abort(new SystemClosedError('the DMA system was closed while this call waited for swiotlb space'));
    if (this.#inFlight > 0) await new Promise<void>((resolve) => { this.#idle = resolve; });
    return true;
  }

  /** The system is closed for good. */
  markClosed(): void {
    this.#state = 'closed';
  }
}
