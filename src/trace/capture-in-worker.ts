// readCapture() with the parsing on worker threads: this thread reads the source, cuts it into
// pieces of whole lines (capture-pieces.ts) and hands piece k to worker k % N; the workers parse
// and hand back the events in encoded batches; this thread takes them strictly in piece order,
// moves each piece's line numbers by the lines of the pieces before, calls onEvent for each, and
// merges the pieces' tallies (capture-tally-merger.ts). So a caller whose onEvent is the expensive
// part (a replay) overlaps it with the parsing of the lines that follow, and N workers parse N
// pieces at once. Bounded on both sides: per worker, at most MAX_TEXT_IN_FLIGHT of text sent and
// not yet parsed and a few batches of events not yet taken.
import { errorFromJSON, InvalidArgumentError, TraceParseError, WorkerDiedError } from '../errors.js';
import type { CaptureOptions, CaptureSource, CaptureSummary } from './capture.js';
import { snapshotCaptureOptions, type CaptureOptionsSnapshot } from './capture-options.js';
import { PieceCutter } from './capture-pieces.js';
import { claimSource, releaseSource } from './capture-source.js';
import { CaptureTallyMerger } from './capture-tally-merger.js';
import { CaptureWorkerHandle, Signal, type WorkerReply, type WorkerSetup } from './capture-worker-handle.js';
import type { TraceEvent } from './events.js';

/** A piece ends at the first newline after this many bytes (or characters): big enough that a piece's own costs vanish. */
const PIECE_SIZE = 2 ** 20;
/** Text sent to one worker and not yet taken by its parser. */
const MAX_TEXT_IN_FLIGHT = 4 * 2 ** 20;

/** readCaptureInWorker()'s options: readCapture()'s, and how many worker threads parse. */
export interface CaptureInWorkerOptions extends CaptureOptions {
  /** Worker threads parsing pieces of the capture at once, 1..8 (default 1). */
  readonly workers?: number;
}

/**
 * readCapture() (same arguments, same events in the same order with the same line numbers, same
 * summary, same errors) with the lines parsed on `options.workers` worker threads (default 1).
 * Rejects as readCapture() does: ERR_TRACE_PARSE with the line number for a malformed or too long
 * line (after every event before it was handed to onEvent), unless `lenient` for a malformed one;
 * ERR_INVALID_ARGUMENT for bad options (`workers` not an integer 1..8), a source that is not
 * async-iterable, fails, or yields neither text nor bytes; ERR_INVALID_STATE while another call
 * reads the same source; ERR_WORKER_DIED if a worker dies; whatever onEvent throws (the source is
 * closed then). Every worker is gone when the promise settles.
 */
export async function readCaptureInWorker(source: CaptureSource, onEvent: (event: TraceEvent, line: number) => void | Promise<void>, options?: CaptureInWorkerOptions): Promise<CaptureSummary> {
  return readCaptureInPieces(source, onEvent, options, PIECE_SIZE);
}

/** Batches of events (up to 4096 each) a worker parses ahead of onEvent by default. */
const BATCHES_AHEAD = 4;
/**
 * The most readCaptureAhead() allows: a batch ends at 4096 events or 512 KiB of numbers (with the
 * event that filled it), so up to ~64 MiB per worker for lines of ordinary length (46 MiB measured
 * for the million-event bench capture).
 */
export const MAX_BATCHES_AHEAD = 128;

/**
 * @internal readCaptureInWorker() whose workers parse up to `batches` batches of events (1..128,
 * 4096 events each at most) ahead of onEvent instead of four: a caller that starts the read
 * before it can take the events (a replay, while its first pass runs) has them parsed meanwhile,
 * with the memory they take bounded. ERR_INVALID_ARGUMENT for another `batches`.
 */
export async function readCaptureAhead(source: CaptureSource, onEvent: (event: TraceEvent, line: number) => void | Promise<void>, options: CaptureInWorkerOptions | undefined, batches: number): Promise<CaptureSummary> {
  if (!Number.isInteger(batches) || batches < 1 || batches > MAX_BATCHES_AHEAD) throw new InvalidArgumentError(`batches must be an integer 1..${MAX_BATCHES_AHEAD}`, { argument: 'batches' });
  return readCaptureInPieces(source, onEvent, options, PIECE_SIZE, batches);
}

/**
 * @internal readCaptureInWorker() with pieces of about `pieceSize` bytes or characters (an integer
 * 1..2^30; else ERR_INVALID_ARGUMENT): small pieces make a small capture many pieces.
 */
export async function readCaptureInPieces(source: CaptureSource, onEvent: (event: TraceEvent, line: number) => void | Promise<void>, options: CaptureInWorkerOptions | undefined, pieceSize: number, batchesAhead = BATCHES_AHEAD): Promise<CaptureSummary> {
  if (typeof onEvent !== 'function') throw new InvalidArgumentError('onEvent must be a function', { argument: 'onEvent' });
  if (!Number.isInteger(pieceSize) || pieceSize < 1 || pieceSize > 2 ** 30) throw new InvalidArgumentError('pieceSize must be an integer 1..2^30', { argument: 'pieceSize' });
  const snapshot = snapshotCaptureOptions(options, true);
  const chunks = claimSource(source);
  try {
    return await readChunksInWorkers(chunks, onEvent, snapshot, pieceSize, batchesAhead);
  } finally {
    releaseSource(source);
  }
}

async function readChunksInWorkers(chunks: AsyncIterator<unknown>, onEvent: (event: TraceEvent, line: number) => void | Promise<void>, { lenient, onProgress, only, prefilter, workers: count }: CaptureOptionsSnapshot, pieceSize: number, batchesAhead: number): Promise<CaptureSummary> {
  const setup: WorkerSetup = { lenient, only: only ? [...only] : undefined, prefilter, batchesAhead };
  const signal = new Signal();
  const workers: CaptureWorkerHandle[] = [];
  try {
    while (workers.length < count) workers.push(new CaptureWorkerHandle(setup, signal));
  } catch (error) {
    // A thread that cannot start (too many threads): those started are stopped, the read fails coded.
    await Promise.all(workers.map((w) => w.terminate()));
    throw new WorkerDiedError(`the capture parser's worker could not start: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
  const crashed = () => workers.find((w) => w.crash !== undefined)?.crash;

  // Reads the source, cuts it into pieces and posts them, piece k to worker k % count, each worker at
  // most MAX_TEXT_IN_FLIGHT ahead of its parser.
  const cutter = new PieceCutter(pieceSize);
  let pieces = 0;
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
      for (const part of cutter.cut(chunk)) {
        if (part.starts) workers[pieces++ % count]!.startPiece(part.continued);
        const worker = workers[(pieces - 1) % count]!;
        while (worker.inFlight > MAX_TEXT_IN_FLIGHT && !stopped) await signal.wait();
        if (stopped) {
          await chunks.return?.();
          return;
        }
        worker.sendChunk(part.text);
        if (part.ends) worker.endPiece(false);
      }
    }
    // The piece the source ended in is read to its end; the one it failed in stops there (a failure
    // between pieces gets a piece of its own, so the error comes after every line before it).
    if (sourceError !== undefined && !cutter.open) workers[pieces++ % count]!.startPiece(cutter.continued);
    if (sourceError !== undefined || cutter.open) workers[(pieces - 1) % count]!.endPiece(sourceError !== undefined);
    pumpDone = true;
    signal.notify();
  })().catch(() => {}); // a source whose return() throws: the read's own outcome stands

  // Takes the next reply of `worker`, waiting for it; any worker's crash rejects.
  const reply = async (worker: CaptureWorkerHandle): Promise<WorkerReply> => {
    for (;;) {
      const crash = crashed();
      if (crash) throw crash;
      const next = worker.nextReply();
      if (next !== undefined) return next;
      await signal.wait();
    }
  };

  const merger = new CaptureTallyMerger();
  let nextProgress = 65536;
  try {
    for (let piece = 0; ; piece++) {
      while (piece >= pieces && !pumpDone && crashed() === undefined) await signal.wait();
      if (piece >= pieces && pumpDone) {
        onProgress?.(merger.bytes);
        return merger.summary();
      }
      const worker = workers[piece % count]!;
      const lines = merger.lines;
      for (let done = false; !done;) {
        const message = await reply(worker);
        switch (message.t) {
          case 'batch': {
            const decoder = worker.decoder;
            decoder.begin(message.batch);
            for (let event = decoder.next(); event !== undefined; event = decoder.next()) {
              const result = onEvent(event, lines + decoder.line);
              if (result !== undefined && typeof (result as Promise<void>).then === 'function') await result;
            }
            worker.ack();
            const bytes = merger.bytes + message.bytes;
            if (onProgress && bytes >= nextProgress) {
              onProgress(bytes);
              nextProgress = bytes + 65536;
            }
            break;
          }
          case 'done':
            merger.add(message.tally);
            done = true;
            break;
          case 'error':
            if (message.kind === 'parse') {
              // The worker numbered the line within its piece: the error names it in the capture.
              const local = message.line!;
              const prefix = `line ${local}:`;
              const text = message.message.startsWith(prefix) ? `line ${lines + local}:${message.message.slice(prefix.length)}` : message.message;
              throw new TraceParseError(text, { line: lines + local, event: message.event!, column: message.column! });
            }
            if (message.kind === 'source' && sourceError !== undefined) throw sourceError;
            // Errors cross the thread as {code, message, fields} and are rebuilt as their class.
            if (message.kind === 'coded' && message.error) throw errorFromJSON(message.error);
            throw new WorkerDiedError(`the capture parser's worker failed: ${message.message}`);
          default:
        }
      }
    }
  } catch (error) {
    // onEvent or the parse failed: close the source as readCapture() does. The pump closes it
    // when it next has control (a read in progress, a wait for room); once it is done, here.
    stopped = true;
    signal.notify();
    if (pumpDone && error !== sourceError) await chunks.return?.();
    throw error;
  } finally {
    stopped = true;
    signal.notify();
    await Promise.all(workers.map((w) => w.terminate()));
    if (!reading) await pump;
  }
}
