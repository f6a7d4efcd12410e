// One read of a capture's chunks, line by line, into a tally of what the lines were: the heart of
// readCapture(). readCaptureInWorker() runs it on each piece of a capture cut at newlines, on
// several worker threads, and merges the tallies (capture-tally-merger.ts): so the tally keeps
// what a merge needs (every other-event name it may count, in the order first seen).
import { InvalidArgumentError, TraceParseError } from '../errors.js';
import type { TraceEvent } from './events.js';
import type { CaptureSummary } from './capture.js';
import type { CaptureOptionsSnapshot } from './capture-options.js';
import { LineKind, TraceLineParser } from './parser.js';

/** The longest line accepted (an old-format dma_map_sg of ~400,000 entries); longer is a parse error. */
export const MAX_TRACE_LINE = 16 * 2 ** 20;
/** How many malformed line numbers a summary lists. */
export const LISTED_MALFORMED = 20;
/** How many other-event names a read keeps counting; the summary lists the 50 most frequent of them. */
export const OTHER_NAMES = 1000;
const LISTED_OTHERS = 50;

/** Bytes decoded into one string (well under V8's largest young-generation object). */
const DECODE_PIECE = 64 * 1024;

/** What a read counted, before it becomes a CaptureSummary. */
export interface CaptureTally {
  readonly counts: { lines: number; bytes: number; events: number; otherEvents: number; comments: number; blank: number; lostEvents: number; failedToParse: number; unrecognised: number; filtered: number; malformed: number; firstTs: number; lastTs: number };
  /** By name, in the order the names first occurred. */
  readonly eventsByName: Map<string, number>;
  readonly otherByName: Map<string, number>;
  /** The first LISTED_MALFORMED. */
  readonly malformedLines: number[];
  readonly unknownAttrs: number;
}

/** Where a read starts. */
export interface TallyStart {
  /** Bytes of the same stream were decoded before (a byte-order mark is then text, as the stream's one decoder would see it). */
  readonly continued: boolean;
  /** At most this many other-event names are counted (a name first seen once they are all taken is not). */
  readonly otherNames: number;
}

/** The summary of a tally: the 50 most frequent other-event names (the first seen among equals). */
export function summaryOf({ counts, eventsByName, otherByName, malformedLines, unknownAttrs }: CaptureTally): CaptureSummary {
  return {
    ...counts,
    eventsByName: Object.fromEntries(eventsByName),
    otherByName: Object.fromEntries([...otherByName].sort((a, b) => b[1] - a[1]).slice(0, LISTED_OTHERS)),
    malformedLines,
    unknownAttrs,
  };
}

/**
 * Reads `chunks` (lines numbered from 1), calling onEvent for each dma:/swiotlb: event in order.
 * Throws as readCapture() does; closes `chunks` when a line or onEvent fails.
 */
export async function tallyChunks(chunks: AsyncIterator<unknown>, onEvent: (event: TraceEvent, line: number) => void | Promise<void>, { lenient, onProgress, only, prefilter }: CaptureOptionsSnapshot, start: TallyStart): Promise<CaptureTally> {
  const parser = new TraceLineParser(only);
  const decoder = new TextDecoder('utf-8', { ignoreBOM: start.continued });
  const eventsByName = new Map<string, { n: number }>();
  const otherByName = new Map<string, number>();
  const otherNames = start.otherNames;
  const malformedLines: number[] = [];
  const counts = { lines: 0, bytes: 0, events: 0, otherEvents: 0, comments: 0, blank: 0, lostEvents: 0, failedToParse: 0, unrecognised: 0, filtered: 0, malformed: 0, firstTs: 0, lastTs: 0 };
  let nextProgress = 65536;
  // A line that spans chunks is kept as pieces and joined once its end arrives.
  let pieces: string[] = [];
  let pending = 0;

  // Where each prefilter string next occurs in the current text (at or after the line being read):
  // found once per occurrence, so a rare string is not searched for again on every line.
  // Reset whenever handle() moves to another text (a new chunk, a joined line).
  const nextAt: number[] = prefilter ? prefilter.map(() => -1) : [];

  // The line text[start, end) (the character at `end`, if any, is its newline).
  const handle = (text: string, start: number, end: number): void | Promise<void> => {
    const line = ++counts.lines;
    if (prefilter !== undefined) {
      let wanted = false;
      for (let i = 0; i < prefilter.length && !wanted; i++) {
        const word = prefilter[i]!;
        if (nextAt[i]! < start && nextAt[i] !== Infinity) {
          const at = text.indexOf(word, start);
          nextAt[i] = at < 0 ? Infinity : at;
        }
        wanted = nextAt[i]! + word.length <= end;
      }
      if (!wanted) {
        counts.filtered++;
        return;
      }
    }
    let event: TraceEvent | undefined;
    try {
      event = parser.parseRange(text, start, end, line);
    } catch (error) {
      if (!lenient || !(error instanceof TraceParseError)) throw error;
      counts.malformed++;
      if (malformedLines.length < LISTED_MALFORMED) malformedLines.push(line);
      return;
    }
    if (event !== undefined) {
      counts.events++;
      const name = parser.name;
      const count = eventsByName.get(name);
      if (count) count.n++;
      else eventsByName.set(name, { n: 1 });
      if (counts.events === 1) counts.firstTs = event.ts;
      counts.lastTs = event.ts;
      return onEvent(event, line);
    }
    switch (parser.kind) {
      case LineKind.Skipped: {
        if (++counts.events === 1) counts.firstTs = parser.ts;
        counts.lastTs = parser.ts;
        const count = eventsByName.get(parser.name);
        if (count) count.n++;
        else eventsByName.set(parser.name, { n: 1 });
        break;
      }
      case LineKind.Other:
        counts.otherEvents++;
        if (otherByName.size < otherNames || otherByName.has(parser.name)) otherByName.set(parser.name, (otherByName.get(parser.name) ?? 0) + 1);
        break;
      case LineKind.Comment: counts.comments++; break;
      case LineKind.Blank: counts.blank++; break;
      case LineKind.Lost: counts.lostEvents += parser.lost; break;
      case LineKind.FailedToParse: counts.failedToParse++; break;
      default: counts.unrecognised++;
    }
  };

  const tooLong = (): never => {
    throw new TraceParseError(`line ${counts.lines + 1}: longer than ${MAX_TRACE_LINE} characters`, { line: counts.lines + 1, event: '', column: MAX_TRACE_LINE });
  };

  // The source's own failures (a file that cannot be read) come back coded; onEvent's pass through as they are.
  const nextChunk = async (): Promise<IteratorResult<unknown>> => {
    try {
      return await chunks.next();
    } catch (error) {
      throw new InvalidArgumentError(`reading the capture failed: ${(error as Error)?.message ?? String(error)}`, { argument: 'source', cause: error });
    }
  };
  // Reads every whole line of `text` (one that began in an earlier text is joined), keeps the rest.
  const consume = async (text: string): Promise<void> => {
    let start = 0;
    nextAt.fill(-1);
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      // A line inside this text is read in place; one that began in an earlier text is joined.
      let lineText = text;
      let from = start;
      let to = nl;
      const joined = pending > 0;
      if (joined) {
        pieces.push(text.slice(start, nl));
        lineText = pieces.join('');
        pieces = [];
        pending = 0;
        from = 0;
        to = lineText.length;
        nextAt.fill(-1);
      }
      if (to - from > MAX_TRACE_LINE) tooLong();
      let result: void | Promise<void>;
      try {
        result = handle(lineText, from, to);
        if (result !== undefined && typeof (result as Promise<void>).then === 'function') await result;
      } catch (error) {
        await chunks.return?.();
        throw error;
      }
      if (joined) nextAt.fill(-1); // back from the joined line to this text
      start = nl + 1;
    }
    if (start < text.length) {
      pieces.push(start === 0 ? text : text.slice(start));
      pending += text.length - start;
      if (pending > MAX_TRACE_LINE) {
        await chunks.return?.();
        tooLong();
      }
    }
  };

  for (let step = await nextChunk(); !step.done; step = await nextChunk()) {
    const chunk = step.value;
    if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
      await chunks.return?.();
      throw new InvalidArgumentError('the capture source must yield strings or bytes', { argument: 'source' });
    }
    counts.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    if (typeof chunk === 'string') await consume(chunk);
    else {
      // Bytes are decoded DECODE_PIECE at a time: a string of a whole 1 MiB chunk would be a large
      // object in the old generation, and a capture's worth of them makes V8 run a full GC every
      // few chunks once its old-space limit has shrunk (parsing then ran at half speed).
      for (let at = 0; at < chunk.byteLength; at += DECODE_PIECE) {
        await consume(decoder.decode(chunk.subarray(at, Math.min(at + DECODE_PIECE, chunk.byteLength)), { stream: true }));
      }
    }
    if (onProgress && counts.bytes >= nextProgress) {
      onProgress(counts.bytes);
      nextProgress = counts.bytes + 65536;
    }
  }
  const tail = decoder.decode();
  if (tail !== '') pieces.push(tail);
  if (pieces.length > 0) {
    const last = pieces.join('');
    nextAt.fill(-1);
    try {
      await handle(last, 0, last.length);
    } catch (error) {
      // As for every other line: a failing onEvent (or parse) closes the source.
      await chunks.return?.();
      throw error;
    }
  }
  onProgress?.(counts.bytes);
  return {
    counts,
    eventsByName: new Map([...eventsByName].map(([name, c]) => [name, c.n])),
    otherByName,
    malformedLines,
    unknownAttrs: parser.unknownAttrs,
  };
}
