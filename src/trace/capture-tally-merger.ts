// The tallies of a capture's pieces (capture-pieces.ts), merged in the pieces' order into the
// summary one read of the whole capture gives: counts add up; line numbers move by the lines of
// the pieces before; the first timestamp is the first piece's with events, the last the last
// one's; the other-event names are admitted as one read admits them (the first OTHER_NAMES names
// seen, each piece's names in the order it first saw them), then the 50 most frequent listed.
import type { CaptureSummary } from './capture.js';
import { LISTED_MALFORMED, OTHER_NAMES, summaryOf, type CaptureTally } from './capture-tally.js';

export class CaptureTallyMerger {
  readonly #merged: CaptureTally = {
    counts: { lines: 0, bytes: 0, events: 0, otherEvents: 0, comments: 0, blank: 0, lostEvents: 0, failedToParse: 0, unrecognised: 0, filtered: 0, malformed: 0, firstTs: 0, lastTs: 0 },
    eventsByName: new Map(),
    otherByName: new Map(),
    malformedLines: [],
    unknownAttrs: 0,
  };
  #unknownAttrs = 0;

  /** Lines of the pieces merged so far: what the next piece's line numbers start after. */
  get lines(): number {
    return this.#merged.counts.lines;
  }

  /** Bytes of the pieces merged so far. */
  get bytes(): number {
    return this.#merged.counts.bytes;
  }

  /** Merges the tally of the next piece (each piece's other names must be all it saw: no cap). */
  add(piece: CaptureTally): void {
    const { counts, eventsByName, otherByName, malformedLines } = this.#merged;
    const c = piece.counts;
    const offset = counts.lines;
    for (const line of piece.malformedLines) {
      if (malformedLines.length === LISTED_MALFORMED) break;
      malformedLines.push(offset + line);
    }
    if (c.events > 0) {
      if (counts.events === 0) counts.firstTs = c.firstTs;
      counts.lastTs = c.lastTs;
    }
    counts.lines += c.lines;
    counts.bytes += c.bytes;
    counts.events += c.events;
    counts.otherEvents += c.otherEvents;
    counts.comments += c.comments;
    counts.blank += c.blank;
    counts.lostEvents += c.lostEvents;
    counts.failedToParse += c.failedToParse;
    counts.unrecognised += c.unrecognised;
    counts.filtered += c.filtered;
    counts.malformed += c.malformed;
    for (const [name, n] of piece.eventsByName) eventsByName.set(name, (eventsByName.get(name) ?? 0) + n);
    for (const [name, n] of piece.otherByName) {
      const seen = otherByName.get(name);
      if (seen !== undefined) otherByName.set(name, seen + n);
      else if (otherByName.size < OTHER_NAMES) otherByName.set(name, n);
    }
    this.#unknownAttrs += piece.unknownAttrs;
  }

  /** The summary of the pieces merged so far. */
  summary(): CaptureSummary {
    return summaryOf({ ...this.#merged, unknownAttrs: this.#unknownAttrs });
  }
}
