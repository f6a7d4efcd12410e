// This thread's end of one capture-parsing worker (capture-worker.ts): what it is sent (pieces of a
// capture, chunk by chunk), what it sends back (encoded event batches, each piece's tally, or the
// error that stopped it), in order, and how much text it has been sent and not yet taken.
import { Worker } from 'node:worker_threads';
import { WorkerDiedError, type PlainError } from '../errors.js';
import type { CaptureTally } from './capture-tally.js';
import { EventDecoder, type EventBatch } from './event-codec.js';

/** What the worker is started with. */
export interface WorkerSetup {
  readonly lenient: boolean;
  readonly only: readonly string[] | undefined;
  readonly prefilter: readonly string[] | undefined;
  /** Batches of events the worker may post before the main thread has taken them (its credit). */
  readonly batchesAhead: number;
}

/**
 * This thread to the worker: each piece is 'piece', its chunks, then 'end' (read its last line)
 * or 'fail' (the source failed there: its unfinished line is not read); 'ack' returns a batch's credit.
 */
export type WorkerRequest =
  | { readonly t: 'piece'; readonly continued: boolean }
  | { readonly t: 'chunk'; readonly chunk: string | Uint8Array }
  | { readonly t: 'end' }
  | { readonly t: 'fail' }
  | { readonly t: 'ack' };

/** The worker to this thread: batches and then the tally of each piece, in order; line numbers count from the piece's start. */
export type WorkerReply =
  | { readonly t: 'took'; readonly units: number }
  | { readonly t: 'batch'; readonly batch: EventBatch; readonly bytes: number }
  | { readonly t: 'done'; readonly tally: CaptureTally }
  | { readonly t: 'error'; readonly kind: 'parse' | 'source' | 'coded' | 'other'; readonly message: string; readonly line?: number; readonly event?: string; readonly column?: number; readonly error?: PlainError };

/** Wakes whoever waits for a change (a reply, room for text, a crash); waiters check again. */
export class Signal {
  #waiters: (() => void)[] = [];

  wait(): Promise<void> {
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  notify(): void {
    const waiters = this.#waiters;
    if (waiters.length === 0) return;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

export class CaptureWorkerHandle {
  readonly #worker: Worker;
  readonly #signal: Signal;
  readonly #replies: WorkerReply[] = [];
  #head = 0;
  /** Text (bytes or characters) sent and not yet taken by the parser. */
  #inFlight = 0;
  /** Decodes this worker's batches (their strings are numbered per worker). */
  readonly decoder = new EventDecoder();
  /** Set when the worker failed outside the parse or exited. */
  crash: WorkerDiedError | undefined;

  constructor(setup: WorkerSetup, signal: Signal) {
    this.#signal = signal;
    this.#worker = new Worker(new URL('./capture-worker.js', import.meta.url), { workerData: setup });
    this.#worker.on('message', (reply: WorkerReply) => {
      if (reply.t === 'took') this.#inFlight -= reply.units;
      else this.#replies.push(reply);
      signal.notify();
    });
    // A worker that dies or throws outside the parse rejects the read with a coded error, its cause kept.
    this.#worker.on('error', (error) => this.#crashed(new WorkerDiedError(`the capture parser's worker failed: ${(error as Error)?.message ?? String(error)}`, { cause: error })));
    this.#worker.on('exit', (code) => this.#crashed(new WorkerDiedError(`the capture parser's worker exited (code ${code})`)));
  }

  #crashed(error: WorkerDiedError): void {
    this.crash ??= error;
    this.#signal.notify();
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** The next reply, if one has come. */
  nextReply(): WorkerReply | undefined {
    if (this.#head === this.#replies.length) return undefined;
    const reply = this.#replies[this.#head]!;
    this.#head++;
    if (this.#head === this.#replies.length) {
      this.#replies.length = 0;
      this.#head = 0;
    }
    return reply;
  }

  startPiece(continued: boolean): void {
    this.#post({ t: 'piece', continued });
  }

  /** Sends a chunk of the current piece (bytes are copied: the source may reuse its buffer, and the copy is transferred). */
  sendChunk(chunk: string | Uint8Array): void {
    if (typeof chunk === 'string') {
      this.#inFlight += chunk.length;
      this.#post({ t: 'chunk', chunk });
    } else {
      const copy = new Uint8Array(chunk);
      this.#inFlight += copy.byteLength;
      this.#worker.postMessage({ t: 'chunk', chunk: copy } satisfies WorkerRequest, [copy.buffer]);
    }
  }

  endPiece(failed: boolean): void {
    this.#post({ t: failed ? 'fail' : 'end' });
  }

  ack(): void {
    this.#post({ t: 'ack' });
  }

  #post(request: WorkerRequest): void {
    this.#worker.postMessage(request);
  }

  /** Stops the worker; its exit is no crash then. Settles once the thread is gone. */
  async terminate(): Promise<void> {
    this.#worker.removeAllListeners('exit');
    await this.#worker.terminate();
  }
}
