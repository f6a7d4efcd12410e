// readCapture() with the parsing on a worker thread: this thread reads the source and hands its
// chunks over, the worker splits and parses the lines and hands back the events in encoded
// batches, and this thread calls onEvent for each, in order. So a caller whose onEvent is the
// expensive part (a replay) overlaps it with the parsing of the lines that follow. Bounded on both
// sides: at most MAX_CHUNK_BYTES of text and a few batches of events are in flight.
import { Worker } from 'node:worker_threads';
import { errorFromJSON, InvalidArgumentError, TraceParseError, WorkerDiedError, type PlainError } from '../errors.js';
import type { CaptureOptions, CaptureSource, CaptureSummary } from './capture.js';
import { snapshotCaptureOptions, type CaptureOptionsSnapshot } from './capture-options.js';
import { claimSource, releaseSource } from './capture-source.js';
import { EventDecoder, type EventBatch } from './event-codec.js';
import type { TraceEvent } from './events.js';

const MAX_CHUNK_BYTES = 8 * 2 ** 20;

/** @internal What the worker is started with. */
export interface WorkerSetup {
  readonly lenient: boolean;
  readonly only: readonly string[] | undefined;
  readonly prefilter: readonly string[] | undefined;
}

/** @internal This thread to the worker. */
export type WorkerRequest = { readonly t: 'chunk'; readonly chunk: string | Uint8Array } | { readonly t: 'end' } | { readonly t: 'fail' } | { readonly t: 'ack' };

/** @internal The worker to this thread. */
export type WorkerReply =
  | { readonly t: 'took'; readonly bytes: number }
  | { readonly t: 'batch'; readonly batch: EventBatch; readonly bytes: number }
  | { readonly t: 'done'; readonly summary: CaptureSummary }
  | { readonly t: 'error'; readonly kind: 'parse' | 'source' | 'coded' | 'other'; readonly message: string; readonly line?: number; readonly event?: string; readonly column?: number; readonly error?: PlainError };

type Inbox = WorkerReply | { readonly t: 'crash'; readonly error: unknown };

/**
 * readCapture() (same arguments, same events in the same order, same summary, same errors) with
 * the lines parsed on a worker thread. Rejects as readCapture() does: ERR_TRACE_PARSE with the
 * line number for a malformed line (after every event before it was handed to onEvent), unless
 * `lenient`; ERR_INVALID_ARGUMENT for a source that is not async-iterable, fails, or yields neither
 * text nor bytes; ERR_INVALID_STATE while another call reads the same source; whatever onEvent
 * throws (the source is closed then). The worker is gone when
 * the promise settles.
 */
export async function readCaptureInWorker(source: CaptureSource, onEvent: (event: TraceEvent, line: number) => void | Promise<void>, options?: CaptureOptions): Promise<CaptureSummary> {
  if (typeof onEvent !== 'function') throw new InvalidArgumentError('onEvent must be a function', { argument: 'onEvent' });
  const snapshot = snapshotCaptureOptions(options);
  const chunks = claimSource(source);
  try {
    return await readChunksInWorker(chunks, onEvent, snapshot);
  } finally {
    releaseSource(source);
  }
}

async function readChunksInWorker(chunks: AsyncIterator<unknown>, onEvent: (event: TraceEvent, line: number) => void | Promise<void>, { lenient, onProgress, only, prefilter }: CaptureOptionsSnapshot): Promise<CaptureSummary> {
  const setup: WorkerSetup = { lenient, only: only ? [...only] : undefined, prefilter };
  const worker = new Worker(new URL('./capture-worker.js', import.meta.url), { workerData: setup });
  const inbox: Inbox[] = [];
  let wake: (() => void) | undefined;
  let inFlight = 0;
  let credit: (() => void) | undefined;
  const deliver = (message: Inbox) => {
    inbox.push(message);
    const w = wake;
    wake = undefined;
    w?.();
  };
  worker.on('message', (message: WorkerReply) => {
    if (message.t !== 'took') return deliver(message);
    inFlight -= message.bytes;
    const c = credit;
    credit = undefined;
    c?.();
  });
  // A worker that dies or throws outside the parse rejects the read with a coded error, its cause kept.
  worker.on('error', (error) => deliver({ t: 'crash', error: new WorkerDiedError(`the capture parser's worker failed: ${(error as Error)?.message ?? String(error)}`, { cause: error }) }));
  worker.on('exit', (code) => deliver({ t: 'crash', error: new WorkerDiedError(`the capture parser's worker exited (code ${code})`) }));

  // Reads the source and posts its chunks, at most MAX_CHUNK_BYTES ahead of the worker.
  let stopped = false;
  let reading = false;
  let pumpDone = false;
  let sourceError: unknown;
  const pump = (async () => {
    for (;;) {
      let step: IteratorResult<unknown>;
      reading = true;
      try {
        step = await chunks.next();
      } catch (error) {
        sourceError = new InvalidArgumentError(`reading the capture failed: ${(error as Error)?.message ?? String(error)}`, { argument: 'source', cause: error });
        break;
      } finally {
        reading = false;
      }
      if (stopped) {
        await chunks.return?.();
        return;
      }
      if (step.done) break;
      const chunk = step.value;
      if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
        await chunks.return?.();
        sourceError = new InvalidArgumentError('the capture source must yield strings or bytes', { argument: 'source' });
        break;
      }
      while (inFlight > MAX_CHUNK_BYTES && !stopped) await new Promise<void>((resolve) => { credit = resolve; });
      if (stopped) {
        await chunks.return?.();
        return;
      }
      if (typeof chunk === 'string') {
        inFlight += chunk.length;
        worker.postMessage({ t: 'chunk', chunk } satisfies WorkerRequest);
      } else {
        const copy = new Uint8Array(chunk); // the source may reuse its buffer: the worker gets its own
        inFlight += copy.byteLength;
        worker.postMessage({ t: 'chunk', chunk: copy } satisfies WorkerRequest, [copy.buffer]);
      }
    }
    pumpDone = true;
    worker.postMessage({ t: sourceError === undefined ? 'end' : 'fail' } satisfies WorkerRequest);
  })().catch(() => {}); // a source whose return() throws: the read's own outcome stands

  const decoder = new EventDecoder();
  let nextProgress = 65536;
  try {
    for (;;) {
      while (inbox.length === 0) await new Promise<void>((resolve) => { wake = resolve; });
      const message = inbox.shift()!;
      switch (message.t) {
        case 'batch': {
          decoder.begin(message.batch);
          for (let event = decoder.next(); event !== undefined; event = decoder.next()) {
            const result = onEvent(event, decoder.line);
            if (result !== undefined && typeof (result as Promise<void>).then === 'function') await result;
          }
          worker.postMessage({ t: 'ack' } satisfies WorkerRequest);
          if (onProgress && message.bytes >= nextProgress) {
            onProgress(message.bytes);
            nextProgress = message.bytes + 65536;
          }
          break;
        }
        case 'done':
          onProgress?.(message.summary.bytes);
          return message.summary;
        case 'error':
          if (message.kind === 'parse') throw new TraceParseError(message.message, { line: message.line!, event: message.event!, column: message.column! });
          if (message.kind === 'source' && sourceError !== undefined) throw sourceError;
          // Errors cross the thread as {code, message, fields} and are rebuilt as their class.
          if (message.kind === 'coded' && message.error) throw errorFromJSON(message.error);
          throw new WorkerDiedError(`the capture parser's worker failed: ${message.message}`);
        case 'crash':
          throw message.error;
        default:
      }
    }
  } catch (error) {
    // onEvent or the parse failed: close the source as readCapture() does. The pump closes it
    // when it next has control (a read in progress, a wait for room); once it is done, here.
    stopped = true;
    const c = credit;
    credit = undefined;
    c?.();
    if (pumpDone && error !== sourceError) await chunks.return?.();
    throw error;
  } finally {
    stopped = true;
    worker.removeAllListeners('exit');
    await worker.terminate();
    if (!reading) await pump;
  }
}
