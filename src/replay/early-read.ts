// The first run's read of a capture, started while the first pass (the scan) still reads it: the
// run cannot make a call before the scan's address plan exists, but its worker can parse the
// capture meanwhile, on the core the scan leaves free. The events it parses wait, at most
// MAX_BATCHES_AHEAD batches of them (readCaptureAhead() bounds the memory: 46 MiB on the bench's
// capture), until the run sets its handler with start(); progress is held until then too, so a
// progress bar sees the passes in order.
import { InvalidStateError } from '../errors.js';
import { MAX_BATCHES_AHEAD, readCaptureAhead } from '../trace/capture-in-worker.js';
import type { CaptureSource, CaptureSummary, TraceEvent } from '../trace/index.js';

type EventHandler = (event: TraceEvent, line: number) => void | Promise<void>;

export class EarlyRead {
  readonly #done: Promise<CaptureSummary>;
  readonly #ready: Promise<void>;
  #open!: () => void;
  #cancel!: (error: Error) => void;
  #handler: EventHandler | undefined;
  #onProgress: ((bytes: number) => void) | undefined;
  #heldBytes: number | undefined;

  /** Starts reading `source` on a worker (`lenient` as the replay reads). */
  constructor(source: CaptureSource, lenient: boolean) {
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#open = resolve;
      this.#cancel = reject;
    });
    this.#ready.catch(() => {}); // cancelled before the first event: nothing waits on it yet
    const onEvent: EventHandler = (event, line) => {
      const handler = this.#handler;
      if (handler !== undefined) return handler(event, line);
      return this.#ready.then(() => this.#handler!(event, line));
    };
    this.#done = readCaptureAhead(source, onEvent, { lenient, onProgress: (bytes) => this.#progress(bytes) }, MAX_BATCHES_AHEAD);
    this.#done.catch(() => {}); // observed by start() or cancel()
  }

  /** Hands the events (those parsed so far, then the rest) to `handler`; resolves as readCaptureInWorker() does. */
  start(handler: EventHandler, onProgress: ((bytes: number) => void) | undefined): Promise<CaptureSummary> {
    if (this.#handler !== undefined) throw new InvalidStateError('the early read was started already: its events go to one run');
    this.#handler = handler;
    this.#onProgress = onProgress;
    if (onProgress !== undefined && this.#heldBytes !== undefined) onProgress(this.#heldBytes);
    this.#open();
    return this.#done;
  }

  /** Ends the read without handing over any event (the replay failed before its run); resolves once its worker is gone. */
  async cancel(): Promise<void> {
    this.#cancel(new Error('the replay ended before its first run'));
    await this.#done.catch(() => {});
  }

  #progress(bytes: number): void {
    if (this.#handler === undefined) this.#heldBytes = bytes;
    else this.#onProgress?.(bytes);
  }
}
