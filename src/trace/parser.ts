// Parses one line of a capture: the raw ftrace form (/sys/kernel/tracing/trace, trace_pipe), the
// `trace-cmd report` form and `perf script` lines, into the events of events.ts. A scanner with
// a cursor, no regular expressions: each line is read once, left to right, whatever its length.
import { InvalidArgumentError, TraceParseError } from '../errors.js';
import { TRACE_MAPPING_ERROR, type TraceEvent } from './events.js';
import { directionValue, TRACE_ATTR_BITS } from './formats.js';

/** What a line was. */
export const LineKind = {
  /** A dma: or swiotlb: event, parsed. */
  Event: 0,
  /** Another event (another subsystem's, or a dma_fence_*): counted and skipped. */
  Other: 1,
  /** A header or comment line ('#', cpus=, version =, "CPU n is empty", "##### CPU n buffer started"). */
  Comment: 2,
  Blank: 3,
  /** trace_pipe's "CPU:n [LOST m EVENTS]". */
  Lost: 4,
  /** A dma: or swiotlb: event whose payload the tool printed as "[FAILED TO PARSE] ..." (raw fields). */
  FailedToParse: 5,
  /** No event line at all (text pasted around a capture). */
  Unrecognised: 6,
  /** A dma:/swiotlb: event left unparsed because the parser was told to parse only others. */
  Skipped: 7,
} as const;
export type LineKind = (typeof LineKind)[keyof typeof LineKind];

const DMA_EVENTS: ReadonlySet<string> = new Set([
  'dma_map_phys', 'dma_unmap_phys', 'dma_map_page', 'dma_unmap_page', 'dma_map_resource', 'dma_unmap_resource',
  'dma_map_sg', 'dma_map_sg_err', 'dma_unmap_sg', 'dma_sync_single_for_cpu', 'dma_sync_single_for_device',
  'dma_sync_sg_for_cpu', 'dma_sync_sg_for_device', 'dma_alloc', 'dma_free', 'dma_alloc_pages', 'dma_free_pages',
  'dma_alloc_sgt', 'dma_alloc_sgt_err', 'dma_free_sgt', 'swiotlb_bounced',
]);

/** Whether `name` is an event of the dma or swiotlb trace systems. */
export function isDmaTraceEvent(name: string): boolean {
  return DMA_EVENTS.has(name);
}

const SPACE = 32;
const TAB = 9;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * A line parser. parse() returns the event of a dma:/swiotlb: line, or undefined with `kind`
 * saying what the line was; a malformed dma:/swiotlb: line throws TraceParseError (ERR_TRACE_PARSE)
 * with its line number. The fields after a parse describe the last line.
 */
export class TraceLineParser {
  kind: LineKind = LineKind.Blank as LineKind;
  /** The event name of the last event line (any system). */
  name = '';
  /** For LineKind.Lost: the events lost. */
  lost = 0;
  /** The timestamp of the last event line (any system). */
  ts = 0;
  /** Attribute names the supported formats do not know (ignored, counted). */
  unknownAttrs = 0;
  readonly #only: ReadonlySet<string> | undefined;

  /** `only`: the dma:/swiotlb: events to parse; others of those systems are recognised by name (LineKind.Skipped) without reading their payload. */
  constructor(only?: ReadonlySet<string>) {
    this.#only = only;
  }
  // The cursor over the payload being parsed.
  #s = '';
  #i = 0;
  #line = 0;

  /**
   * Parses one line (without its newline; `line` is its number, for errors). Returns the event of a
   * dma:/swiotlb: line, or undefined with `kind` saying what the line was. Throws TraceParseError
   * (ERR_TRACE_PARSE) for a malformed dma:/swiotlb: line and ERR_INVALID_ARGUMENT for a non-string.
   */
  parse(text: string, line: number): TraceEvent | undefined {
    if (typeof text !== 'string') throw new InvalidArgumentError('a trace line must be a string', { argument: 'text' });
    const n = text.length;
    let i = 0;
    while (i < n && (text.charCodeAt(i) === SPACE || text.charCodeAt(i) === TAB)) i++;
    if (i >= n || (i === n - 1 && text.charCodeAt(i) === 13)) return this.#is(LineKind.Blank);
    const c0 = text.charCodeAt(i);
    if (c0 === 35 /* # */) return this.#is(LineKind.Comment);
    if (c0 === 67 /* C */ && text.startsWith('CPU', i)) return this.#cpuLine(text, i);
    if ((c0 === 99 /* c */ && text.startsWith('cpus=', i)) || (c0 === 118 /* v */ && text.startsWith('version', i))) return this.#is(LineKind.Comment);
    // The CPU column: the first "[digits]" after a blank.
    let b = text.indexOf('[', i);
    let close = -1;
    while (b > 0) {
      let j = b + 1;
      while (j < n && isDigit(text.charCodeAt(j))) j++;
      const prev = text.charCodeAt(b - 1);
      if (j > b + 1 && j < n && text.charCodeAt(j) === 93 /* ] */ && (prev === SPACE || prev === TAB)) {
        close = j;
        break;
      }
      b = text.indexOf('[', b + 1);
    }
    if (close < 0) return this.#is(LineKind.Unrecognised);
    let cpu = 0;
    for (let d = b + 1; d < close; d++) cpu = cpu * 10 + (text.charCodeAt(d) - 48);
    // Flags (ftrace, newer trace-cmd) are optional; the timestamp ends with ':'.
    let j = skipBlanks(text, close + 1);
    let end = tokenEnd(text, j);
    if (!isTimestamp(text, j, end)) {
      j = skipBlanks(text, end);
      end = tokenEnd(text, j);
      if (!isTimestamp(text, j, end)) return this.#is(LineKind.Unrecognised);
    }
    const ts = timestampValue(text, j, end - 1);
    this.ts = ts;
    // The event name: "name:" (ftrace, trace-cmd) or "system:name:" (perf script).
    let k = skipBlanks(text, end);
    let colon = text.indexOf(':', k);
    if (colon < 0) return this.#is(LineKind.Unrecognised);
    if (colon + 1 < n && text.charCodeAt(colon + 1) !== SPACE) {
      k = colon + 1;
      colon = text.indexOf(':', k);
      if (colon < 0) return this.#is(LineKind.Unrecognised);
    }
    // A known name is matched in place (no substring per line); only other events' names are cut out.
    const name = knownName(text, k, colon) ?? text.slice(k, colon);
    this.name = name;
    if (!DMA_EVENTS.has(name)) return this.#is(LineKind.Other);
    if (this.#only !== undefined && !this.#only.has(name)) return this.#is(LineKind.Skipped);
    let p = skipBlanks(text, colon + 1);
    let last = n;
    if (last > p && text.charCodeAt(last - 1) === 13) last--;
    if (text.startsWith('[FAILED TO PARSE]', p)) return this.#is(LineKind.FailedToParse);
    this.#s = last === n ? text : text.slice(0, last);
    this.#i = p;
    this.#line = line;
    const event = this.#payload(name, ts, cpu);
    if (this.#i !== this.#s.length) this.#fail(`unexpected text after the last field`);
    this.kind = LineKind.Event;
    return event;
  }

  #is(kind: LineKind): undefined {
    this.kind = kind;
    return undefined;
  }

  // "CPU:2 [LOST 10 EVENTS]" (trace_pipe), "CPU 0 is empty" / "CPU0 data recorded at offset=..." (trace-cmd).
  #cpuLine(text: string, i: number): undefined {
    const lost = text.indexOf('[LOST ', i);
    if (lost >= 0) {
      let j = lost + 6;
      let count = 0;
      while (j < text.length && isDigit(text.charCodeAt(j))) count = count * 10 + (text.charCodeAt(j++) - 48);
      this.lost = count;
      return this.#is(LineKind.Lost);
    }
    return this.#is(LineKind.Comment);
  }

  #payload(name: string, ts: number, cpu: number): TraceEvent {
    switch (name) {
      case 'dma_map_phys':
      case 'dma_map_page':
      case 'dma_map_resource': {
        const device = this.#device();
        const dir = this.#dir();
        const dmaAddr = this.#hexField(' dma_addr=');
        const size = this.#decField(' size=');
        const physAddr = this.#hexField(' phys_addr=');
        const attrs = this.#attrs();
        return { type: 'map', name, ts, cpu, device, dir, dmaAddr, size, physAddr, attrs };
      }
      case 'dma_unmap_phys':
      case 'dma_unmap_page':
      case 'dma_unmap_resource': {
        const device = this.#device();
        const dir = this.#dir();
        const dmaAddr = this.#hexField(' dma_addr=');
        const size = this.#decField(' size=');
        const attrs = this.#attrs();
        return { type: 'unmap', name, ts, cpu, device, dir, dmaAddr, size, attrs };
      }
      case 'dma_map_sg': {
        const device = this.#device();
        const dir = this.#dir();
        let nents = -1;
        let ents = -1;
        let truncated = false;
        if (this.#s.startsWith(' nents=', this.#i)) {
          // mainline: nents=%d/%d ents=%d/%d%s
          this.#i += 7;
          this.#dec();
          this.#literal('/');
          nents = this.#dec();
          this.#literal(' ents=');
          this.#dec();
          this.#literal('/');
          ents = this.#dec();
          if (this.#s.startsWith(' [TRUNCATED]', this.#i)) {
            this.#i += 12;
            truncated = true;
          }
        }
        this.#literal(' dma_addrs=');
        const dmaAddrs = this.#array();
        this.#literal(' sizes=');
        const sizes = this.#array();
        this.#literal(' phys_addrs=');
        const physAddrs = this.#array();
        const attrs = this.#attrs();
        if (dmaAddrs.length !== sizes.length) this.#fail(`dma_addrs has ${dmaAddrs.length} entries but sizes ${sizes.length}`);
        if (nents < 0) {
          nents = physAddrs.length;
          ents = dmaAddrs.length;
        } else if (Math.min(nents, 128) !== physAddrs.length || Math.min(ents, 128) !== dmaAddrs.length) {
          this.#fail('the nents/ents counts do not match the arrays');
        }
        return { type: 'map_sg', ts, cpu, device, dir, nents, ents, truncated, dmaAddrs, sizes, physAddrs, attrs };
      }
      case 'dma_map_sg_err': {
        const device = this.#device();
        const dir = this.#dir();
        this.#literal(' dma_addrs=');
        const physAddrs = this.#array();
        this.#literal(' err=');
        const err = this.#dec();
        const attrs = this.#attrs();
        return { type: 'map_sg_err', ts, cpu, device, dir, physAddrs, err, attrs };
      }
      case 'dma_unmap_sg': {
        const device = this.#device();
        const dir = this.#dir();
        this.#literal(' phys_addrs=');
        const physAddrs = this.#array();
        const attrs = this.#attrs();
        return { type: 'unmap_sg', ts, cpu, device, dir, physAddrs, attrs };
      }
      case 'dma_sync_single_for_cpu':
      case 'dma_sync_single_for_device': {
        const device = this.#device();
        const dir = this.#dir();
        const dmaAddr = this.#hexField(' dma_addr=');
        const size = this.#decField(' size=');
        return { type: 'sync_single', target: name.endsWith('cpu') ? 'cpu' : 'device', ts, cpu, device, dir, dmaAddr, size };
      }
      case 'dma_sync_sg_for_cpu':
      case 'dma_sync_sg_for_device': {
        const device = this.#device();
        const dir = this.#dir();
        this.#literal(' dma_addrs=');
        const dmaAddrs = this.#array();
        this.#literal(' sizes=');
        const sizes = this.#array();
        if (dmaAddrs.length !== sizes.length) this.#fail(`dma_addrs has ${dmaAddrs.length} entries but sizes ${sizes.length}`);
        return { type: 'sync_sg', target: name.endsWith('cpu') ? 'cpu' : 'device', ts, cpu, device, dir, dmaAddrs, sizes };
      }
      case 'swiotlb_bounced': {
        this.#literal('dev_name: ');
        const device = this.#token('device name');
        this.#literal(' dma_mask=');
        const start = this.#i;
        this.#hex();
        const dmaMask = this.#s.slice(start, this.#i);
        const devAddr = this.#hexField(' dev_addr=');
        const size = this.#decField(' size=');
        this.#literal(' ');
        const force = this.#token('FORCE or NORMAL');
        if (force !== 'FORCE' && force !== 'NORMAL' && force !== 'NO_FORCE') this.#fail(`"${force}" is not FORCE, NORMAL or NO_FORCE`);
        return { type: 'bounced', ts, cpu, device, dmaMask, devAddr, size, force };
      }
      default: {
        // Coherent allocations: the device, and the rest as the kernel printed it.
        const device = this.#device();
        this.#i = this.#s.length;
        return { type: 'coherent', name, ts, cpu, device };
      }
    }
  }

  #fail(why: string): never {
    throw new TraceParseError(`line ${this.#line}: ${this.name}: ${why} (column ${this.#i + 1})`, { line: this.#line, event: this.name, column: this.#i });
  }

  #literal(text: string): void {
    if (!this.#s.startsWith(text, this.#i)) this.#fail(`expected "${text.trim()}"`);
    this.#i += text.length;
  }

  #token(what: string): string {
    const s = this.#s;
    const start = this.#i;
    let i = start;
    while (i < s.length && s.charCodeAt(i) !== SPACE) i++;
    if (i === start) this.#fail(`expected the ${what}`);
    this.#i = i;
    return s.slice(start, i);
  }

  // Captures name few devices: the last few names are reused when the text matches, so a line costs no new string.
  #devices: string[] = [];

  #device(): string {
    const s = this.#s;
    const i = this.#i;
    for (const d of this.#devices) {
      if (s.startsWith(d, i) && (i + d.length === s.length || s.charCodeAt(i + d.length) === SPACE)) {
        this.#i = i + d.length;
        return d;
      }
    }
    const name = this.#token('device name');
    if (this.#devices.length >= 8) this.#devices.shift();
    this.#devices.push(name);
    return name;
  }

  #dir(): number {
    this.#literal(' dir=');
    const s = this.#s;
    for (let d = 0; d < DIRECTION_NAMES.length; d++) {
      const name = DIRECTION_NAMES[d]!;
      if (s.startsWith(name, this.#i) && s.charCodeAt(this.#i + name.length) === SPACE) {
        this.#i += name.length;
        return d;
      }
    }
    const start = this.#i;
    const text = this.#token('direction');
    const dir = directionValue(text);
    if (dir >= 0) return dir;
    if (text.startsWith('0x')) {
      this.#i = start + 2;
      const value = this.#hex();
      if (this.#i === start + text.length) return value;
    }
    this.#i = start;
    return this.#fail(`"${text}" is no DMA direction`);
  }

  #hexField(label: string): number {
    this.#literal(label);
    return this.#hex();
  }

  #decField(label: string): number {
    this.#literal(label);
    return this.#dec();
  }

  // %llx: up to 16 hex digits; all ones is DMA_MAPPING_ERROR.
  #hex(): number {
    const s = this.#s;
    let i = this.#i;
    let value = 0;
    let fs = 0;
    const start = i;
    for (; i < s.length; i++) {
      const d = hexDigit(s.charCodeAt(i));
      if (d < 0) break;
      value = value * 16 + d;
      if (d === 15) fs++;
    }
    const digits = i - start;
    if (digits === 0) this.#fail('expected a hex number');
    if (digits > 16) this.#fail('a hex number longer than 64 bits');
    this.#i = i;
    return digits === 16 && fs === 16 ? TRACE_MAPPING_ERROR : value;
  }

  // %d, %zu: decimal, optionally negative.
  #dec(): number {
    const s = this.#s;
    let i = this.#i;
    const negative = s.charCodeAt(i) === 45;
    if (negative) i++;
    const start = i;
    let value = 0;
    for (; i < s.length && isDigit(s.charCodeAt(i)); i++) value = value * 10 + (s.charCodeAt(i) - 48);
    if (i === start || i - start > 20) this.#fail('expected a decimal number');
    this.#i = i;
    return negative ? -value : value;
  }

  // __print_array(): {0x1,0x2} or {}.
  #array(): number[] {
    const s = this.#s;
    if (s.charCodeAt(this.#i) !== 123 /* { */) this.#fail('expected "{"');
    this.#i++;
    const out: number[] = [];
    if (s.charCodeAt(this.#i) === 125 /* } */) {
      this.#i++;
      return out;
    }
    for (;;) {
      if (s.charCodeAt(this.#i) !== 48 || s.charCodeAt(this.#i + 1) !== 120) this.#fail('expected 0x in an array');
      this.#i += 2;
      out.push(this.#hex());
      const c = s.charCodeAt(this.#i);
      this.#i++;
      if (c === 125) return out;
      if (c !== 44 /* , */) {
        this.#i--;
        this.#fail('expected "," or "}" in an array');
      }
    }
  }

  // " attrs=NAME|NAME|0x..": the names of decode_dma_attrs(), the last field; empty for none.
  #attrs(): number {
    this.#literal(' attrs=');
    const s = this.#s;
    let attrs = 0;
    let i = this.#i;
    if (i >= s.length) return 0;
    for (;;) {
      const start = i;
      while (i < s.length) {
        const c = s.charCodeAt(i);
        if (!((c >= 65 && c <= 90) || c === 95 || isDigit(c) || c === 120 || (c >= 97 && c <= 102))) break;
        i++;
      }
      const word = s.slice(start, i);
      if (word === '') {
        this.#i = i;
        this.#fail('expected an attribute name');
      }
      const bit = TRACE_ATTR_BITS.get(word);
      if (bit !== undefined) attrs |= bit;
      else if (word.startsWith('0x') && word.length > 2 && word.length <= 10) attrs |= Number(word) >>> 0;
      else if (/^[A-Z][A-Z0-9_]*$/.test(word)) this.unknownAttrs++;
      else {
        this.#i = start;
        this.#fail(`"${word}" is no DMA attribute`);
      }
      if (i < s.length && s.charCodeAt(i) === 124 /* | */) {
        i++;
        continue;
      }
      this.#i = i;
      return attrs >>> 0;
    }
  }
}

// "12345.678901" to seconds without a substring.
function timestampValue(text: string, start: number, end: number): number {
  let whole = 0;
  let i = start;
  for (; i < end && text.charCodeAt(i) !== 46; i++) whole = whole * 10 + (text.charCodeAt(i) - 48);
  if (i >= end) return whole;
  let frac = 0;
  let scale = 1;
  for (i++; i < end; i++) {
    frac = frac * 10 + (text.charCodeAt(i) - 48);
    scale *= 10;
  }
  // Both exact integers, so the one division rounds as Number() of the text would.
  return (whole * scale + frac) / scale;
}

const DIRECTION_NAMES = ['BIDIRECTIONAL', 'TO_DEVICE', 'FROM_DEVICE', 'NONE'] as const;
// Our event names by length, so a name is found with a couple of comparisons.
const NAMES_BY_LENGTH: readonly (readonly string[])[] = (() => {
  const table: string[][] = Array.from({ length: 32 }, () => []);
  for (const name of DMA_EVENTS) table[name.length]!.push(name);
  return table;
})();

// The event name between k and colon if it is one of ours, as the one shared string.
function knownName(text: string, k: number, colon: number): string | undefined {
  const length = colon - k;
  if (length >= NAMES_BY_LENGTH.length) return undefined;
  const c = text.charCodeAt(k);
  if (c !== 100 /* d */ && c !== 115 /* s */) return undefined;
  for (const name of NAMES_BY_LENGTH[length]!) if (text.startsWith(name, k)) return name;
  return undefined;
}

function skipBlanks(text: string, i: number): number {
  while (i < text.length && (text.charCodeAt(i) === SPACE || text.charCodeAt(i) === TAB)) i++;
  return i;
}

function tokenEnd(text: string, i: number): number {
  while (i < text.length && text.charCodeAt(i) !== SPACE && text.charCodeAt(i) !== TAB) i++;
  return i;
}

// "12345.678901:" (or "12345:" from a raw-counter clock).
function isTimestamp(text: string, start: number, end: number): boolean {
  if (end - start < 2 || text.charCodeAt(end - 1) !== 58 /* : */) return false;
  let dot = false;
  for (let i = start; i < end - 1; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 && !dot && i > start) dot = true;
    else if (!isDigit(c)) return false;
  }
  return true;
}
