// The worker side of readCaptureInWorker(): reads each piece of a capture the main thread posts
// (capture-tally.ts, the read readCapture() does, lines numbered from the piece's start) and posts
// the events back in encoded batches, at most setup.batchesAhead ahead of the main thread, then the
// piece's tally; or the error that stopped the read, after which it reads nothing more.
import { parentPort, workerData } from 'node:worker_threads';
import { DmaBounceError, TraceParseError } from '../errors.js';
import { tallyChunks } from './capture-tally.js';
import type { CaptureOptionsSnapshot } from './capture-options.js';
import { EventEncoder } from './event-codec.js';
import type { WorkerReply, WorkerRequest, WorkerSetup } from './capture-worker-handle.js';

const port = parentPort!;
const setup = workerData as WorkerSetup;
const BATCH_EVENTS = 4096;
const BATCH_DOUBLES = 1 << 16;
const MAX_BATCHES = setup.batchesAhead;

// The requests of the pieces in order (acks are handled as they come).
let requests: (WorkerRequest | undefined)[] = [];
let head = 0;
let wakeReader: (() => void) | undefined;
let outstanding = 0;
let wakeWriter: (() => void) | undefined;

port.on('message', (message: WorkerRequest) => {
  if (message.t === 'ack') {
    outstanding--;
    wakeWriter?.();
    return;
  }
  requests.push(message);
  const wake = wakeReader;
  wakeReader = undefined;
  wake?.();
});

async function nextRequest(): Promise<WorkerRequest> {
  while (head === requests.length) await new Promise<void>((resolve) => { wakeReader = resolve; });
  const request = requests[head]!;
  requests[head++] = undefined;
  if (head > 4096 && head * 2 > requests.length) {
    requests = requests.slice(head);
    head = 0;
  }
  return request;
}

const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);

// One piece's chunks as an async iterable: a 'fail' (the main thread's source failed) throws here.
let failed = false;
async function* piece(): AsyncGenerator<string | Uint8Array> {
  for (;;) {
    const request = await nextRequest();
    if (request.t === 'chunk') {
      post({ t: 'took', units: typeof request.chunk === 'string' ? request.chunk.length : request.chunk.byteLength });
      yield request.chunk;
    } else if (request.t === 'end') return;
    else {
      failed = true;
      throw new Error('the capture source failed');
    }
  }
}

const encoder = new EventEncoder();
let bytes = 0;
const flush = (): void => {
  if (encoder.count === 0) return;
  const batch = encoder.take();
  outstanding++;
  post({ t: 'batch', batch, bytes }, [batch.data.buffer as ArrayBuffer]);
};

const onEvent = (event: Parameters<EventEncoder['push']>[0], line: number): void | Promise<void> => {
  encoder.push(event, line);
  if (encoder.count < BATCH_EVENTS && encoder.size < BATCH_DOUBLES) return undefined;
  flush();
  if (outstanding < MAX_BATCHES) return undefined;
  return new Promise<void>((resolve) => {
    wakeWriter = () => {
      if (outstanding >= MAX_BATCHES) return;
      wakeWriter = undefined;
      resolve();
    };
  });
};

const options: CaptureOptionsSnapshot = {
  lenient: setup.lenient,
  only: setup.only ? new Set(setup.only) : undefined,
  prefilter: setup.prefilter,
  onProgress: (n) => { bytes = n; },
  workers: 1,
};

for (;;) {
  const start = await nextRequest();
  if (start.t !== 'piece') break;
  bytes = 0;
  try {
    // Every other-event name the piece saw is kept: the merge admits them as one read would.
    const tally = await tallyChunks(piece(), onEvent, options, { continued: start.continued, otherNames: Infinity });
    flush();
    post({ t: 'done', tally });
  } catch (error) {
    flush();
    if (error instanceof TraceParseError) post({ t: 'error', kind: 'parse', message: error.message, line: error.line, event: error.event, column: error.column });
    else if (failed) post({ t: 'error', kind: 'source', message: '' });
    else if (error instanceof DmaBounceError) post({ t: 'error', kind: 'coded', message: error.message, error: error.toJSON() });
    else post({ t: 'error', kind: 'other', message: (error as Error)?.message ?? String(error) });
    break;
  }
}
