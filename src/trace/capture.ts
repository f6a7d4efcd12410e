// Reads a capture line by line from a stream (never whole) and hands each dma:/swiotlb: event to
// the caller, counting everything else: other events, headers, lost-event marks, lines the
// trace tool could not format, and (with `lenient`) malformed lines. The reading itself is
// capture-tally.ts (a read split across worker threads runs it once per piece).
import { InvalidArgumentError } from '../errors.js';
import type { TraceEvent } from './events.js';
import { snapshotCaptureOptions } from './capture-options.js';
import { claimSource, releaseSource } from './capture-source.js';
import { OTHER_NAMES, summaryOf, tallyChunks } from './capture-tally.js';

export { MAX_TRACE_LINE } from './capture-tally.js';

/** How readCapture() reads. */
export interface CaptureOptions {
  /** Count and skip malformed dma:/swiotlb: lines instead of throwing (default false). */
  readonly lenient?: boolean;
  /** Called every 64 KiB or so with the bytes read so far. */
  readonly onProgress?: (bytes: number) => void;
  /** Parse only these dma:/swiotlb: events (by kernel name); the others are counted, not read nor checked. */
  readonly only?: ReadonlySet<string>;
  /** Lines holding none of these strings are counted as `filtered` and not parsed at all (a fast first look). */
  readonly prefilter?: readonly string[];
}

/** What a capture held. */
export interface CaptureSummary {
  readonly lines: number;
  readonly bytes: number;
  /** dma:/swiotlb: events parsed, by kernel event name. */
  readonly events: number;
  readonly eventsByName: Readonly<Record<string, number>>;
  /** Lines of other events, and how many of each name (the 50 most frequent names). */
  readonly otherEvents: number;
  readonly otherByName: Readonly<Record<string, number>>;
  readonly comments: number;
  readonly blank: number;
  /** Events the kernel reported lost ("CPU:n [LOST m EVENTS]"). */
  readonly lostEvents: number;
  /** dma:/swiotlb: lines printed as "[FAILED TO PARSE]" (perf, old libtraceevent): skipped. */
  readonly failedToParse: number;
  /** Lines that are no event line at all. */
  readonly unrecognised: number;
  /** Lines the `prefilter` passed over unread. */
  readonly filtered: number;
  /** Malformed dma:/swiotlb: lines skipped under `lenient`, and the first line numbers. */
  readonly malformed: number;
  readonly malformedLines: readonly number[];
  /** Attribute names no supported format has (ignored). */
  readonly unknownAttrs: number;
  /** First and last timestamps of the dma:/swiotlb: events (seconds), or 0. */
  readonly firstTs: number;
  readonly lastTs: number;
}

/** A source of text: a Readable (utf8 or Buffers) or any async iterable of string / Uint8Array chunks. */
export type CaptureSource = AsyncIterable<string | Uint8Array>;

/**
 * Streams `source`, calling `onEvent` for each dma:/swiotlb: event in order (awaited when it returns
 * a promise). Resolves with the summary. Rejects with TraceParseError (ERR_TRACE_PARSE, with the
 * line number) for a malformed dma:/swiotlb: line unless `lenient`, ERR_INVALID_ARGUMENT for a
 * source that is not async-iterable or bad options, ERR_INVALID_STATE while another call still reads
 * the same source (it would see only the chunks left over), and whatever `onEvent` throws.
 */
export async function readCapture(source: CaptureSource, onEvent: (event: TraceEvent, line: number) => void | Promise<void>, options?: CaptureOptions): Promise<CaptureSummary> {
  if (typeof onEvent !== 'function') throw new InvalidArgumentError('onEvent must be a function', { argument: 'onEvent' });
  const snapshot = snapshotCaptureOptions(options);
  const chunks = claimSource(source);
  try {
    return summaryOf(await tallyChunks(chunks, onEvent, snapshot, { continued: false, otherNames: OTHER_NAMES }));
  } finally {
    releaseSource(source);
  }
}
