// The worker side of readCaptureInWorker(): runs readCapture() over the chunks the main thread
// posts and posts the events back in encoded batches, at most MAX_BATCHES ahead of the main
// thread, then the summary (or the error that stopped the read).
import { parentPort, workerData } from 'node:worker_threads';
import { DmaBounceError, TraceParseError } from '../errors.js';
import { readCapture } from './capture.js';
import { EventEncoder } from './event-codec.js';
import type { WorkerReply, WorkerRequest, WorkerSetup } from './capture-in-worker.js';

const port = parentPort!;
const setup = workerData as WorkerSetup;
const BATCH_EVENTS = 4096;
const BATCH_DOUBLES = 1 << 16;
const MAX_BATCHES = 4;

const chunks: (string | Uint8Array)[] = [];
let ended: 'end' | 'fail' | undefined;
let wakeReader: (() => void) | undefined;
let outstanding = 0;
let wakeWriter: (() => void) | undefined;

port.on('message', (message: WorkerRequest) => {
  if (message.t === 'chunk') chunks.push(message.chunk);
  else if (message.t === 'ack') {
    outstanding--;
    wakeWriter?.();
    return;
  } else ended = message.t;
  wakeReader?.();
});

const post = (reply: WorkerReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);

// The chunks as an async iterable: a 'fail' from the main thread (its source failed) throws here.
async function* source(): AsyncGenerator<string | Uint8Array> {
  for (;;) {
    while (chunks.length === 0 && ended === undefined) await new Promise<void>((resolve) => { wakeReader = resolve; });
    wakeReader = undefined;
    const chunk = chunks.shift();
    if (chunk !== undefined) {
      post({ t: 'took', bytes: typeof chunk === 'string' ? chunk.length : chunk.byteLength });
      yield chunk;
      continue;
    }
    if (ended === 'fail') throw new Error('the capture source failed');
    return;
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

try {
  const summary = await readCapture(source(), (event, line) => {
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
  }, {
    lenient: setup.lenient,
    ...(setup.only ? { only: new Set(setup.only) } : {}),
    ...(setup.prefilter ? { prefilter: setup.prefilter } : {}),
    onProgress: (n) => { bytes = n; },
  });
  flush();
  post({ t: 'done', summary });
} catch (error) {
  flush();
  if (error instanceof TraceParseError) post({ t: 'error', kind: 'parse', message: error.message, line: error.line, event: error.event, column: error.column });
  else if (ended === 'fail') post({ t: 'error', kind: 'source', message: '' });
  else if (error instanceof DmaBounceError) post({ t: 'error', kind: 'coded', message: error.message, error: error.toJSON() });
  else post({ t: 'error', kind: 'other', message: (error as Error)?.message ?? String(error) });
}
