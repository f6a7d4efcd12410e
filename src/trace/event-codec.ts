// Parsed events as numbers, to hand them from the thread that parses a capture to the thread that
// replays it: each batch is one Float64Array (transferred, not copied) and the strings first seen
// in it. A Float64Array keeps every JS number exactly, so an event decodes to the object the parser
// made, field for field.
import type { TraceEvent } from './events.js';

const KIND = ['map', 'unmap', 'map_sg', 'map_sg_err', 'unmap_sg', 'sync_single', 'sync_sg', 'bounced', 'coherent'] as const;
const KIND_OF: Readonly<Record<TraceEvent['type'], number>> = { map: 0, unmap: 1, map_sg: 2, map_sg_err: 3, unmap_sg: 4, sync_single: 5, sync_sg: 6, bounced: 7, coherent: 8 };

/** One batch of encoded events: `strings` are those first used in it, in the order they were numbered. */
export interface EventBatch {
  readonly data: Float64Array;
  readonly count: number;
  readonly strings: readonly string[];
}

/** Encodes events one by one; take() hands out what was encoded since the last take(). */
export class EventEncoder {
  readonly #ids = new Map<string, number>();
  #fresh: string[] = [];
  #data = new Float64Array(1 << 16);
  #at = 0;
  #count = 0;

  /** Encoded events not yet taken. */
  get count(): number {
    return this.#count;
  }

  /** Doubles encoded since the last take(). */
  get size(): number {
    return this.#at;
  }

  push(event: TraceEvent, line: number): void {
    // The fixed fields of the longest kind fit in 12 doubles; lists make room for themselves.
    this.#room(12);
    const d = this.#data;
    let i = this.#at;
    d[i++] = KIND_OF[event.type];
    d[i++] = line;
    d[i++] = event.ts;
    d[i++] = event.cpu;
    d[i++] = this.#id(event.device);
    switch (event.type) {
      case 'map':
        d[i++] = this.#id(event.name); d[i++] = event.dir; d[i++] = event.dmaAddr; d[i++] = event.size; d[i++] = event.physAddr; d[i++] = event.attrs;
        break;
      case 'unmap':
        d[i++] = this.#id(event.name); d[i++] = event.dir; d[i++] = event.dmaAddr; d[i++] = event.size; d[i++] = event.attrs;
        break;
      case 'map_sg':
        d[i++] = event.dir; d[i++] = event.nents; d[i++] = event.ents; d[i++] = event.truncated ? 1 : 0; d[i++] = event.attrs;
        this.#at = i;
        this.#list(event.dmaAddrs);
        this.#list(event.sizes);
        this.#list(event.physAddrs);
        this.#count++;
        return;
      case 'map_sg_err':
        d[i++] = event.dir; d[i++] = event.err; d[i++] = event.attrs;
        this.#at = i;
        this.#list(event.physAddrs);
        this.#count++;
        return;
      case 'unmap_sg':
        d[i++] = event.dir; d[i++] = event.attrs;
        this.#at = i;
        this.#list(event.physAddrs);
        this.#count++;
        return;
      case 'sync_single':
        d[i++] = event.target === 'cpu' ? 0 : 1; d[i++] = event.dir; d[i++] = event.dmaAddr; d[i++] = event.size;
        break;
      case 'sync_sg':
        d[i++] = event.target === 'cpu' ? 0 : 1; d[i++] = event.dir;
        this.#at = i;
        this.#list(event.dmaAddrs);
        this.#list(event.sizes);
        this.#count++;
        return;
      case 'bounced':
        d[i++] = this.#id(event.dmaMask); d[i++] = event.devAddr; d[i++] = event.size; d[i++] = this.#id(event.force);
        break;
      case 'coherent':
        d[i++] = this.#id(event.name);
        break;
    }
    this.#at = i;
    this.#count++;
  }

  /** The batch encoded since the last take() (its buffer is the caller's: transfer it). */
  take(): EventBatch {
    const batch = { data: this.#data.slice(0, this.#at), count: this.#count, strings: this.#fresh };
    this.#fresh = [];
    this.#at = 0;
    this.#count = 0;
    return batch;
  }

  #id(text: string): number {
    let id = this.#ids.get(text);
    if (id === undefined) {
      id = this.#ids.size;
      this.#ids.set(text, id);
      this.#fresh.push(text);
    }
    return id;
  }

  #room(n: number): void {
    if (this.#at + n <= this.#data.length) return;
    const grown = new Float64Array(Math.max(this.#data.length * 2, this.#at + n));
    grown.set(this.#data.subarray(0, this.#at));
    this.#data = grown;
  }

  #list(values: readonly number[]): void {
    const n = values.length;
    this.#room(n + 1);
    const d = this.#data;
    let i = this.#at;
    d[i++] = n;
    for (let k = 0; k < n; k++) d[i++] = values[k]!;
    this.#at = i;
  }
}

/** Decodes the batches of one EventEncoder, in order (each batch's strings extend the table): begin() a batch, then next() until undefined. */
export class EventDecoder {
  readonly #strings: string[] = [];
  #d: Float64Array = new Float64Array(0);
  #i = 0;
  #left = 0;
  /** The line number of the event next() returned last. */
  line = 0;

  begin(batch: EventBatch): void {
    for (const text of batch.strings) this.#strings.push(text);
    this.#d = batch.data;
    this.#i = 0;
    this.#left = batch.count;
  }

  next(): TraceEvent | undefined {
    if (this.#left === 0) return undefined;
    this.#left--;
    const d = this.#d;
    const s = this.#strings;
    let i = this.#i;
    const type = KIND[d[i++]!]!;
    this.line = d[i++]!;
    const ts = d[i++]!;
    const cpu = d[i++]!;
    const device = s[d[i++]!]!;
    let event: TraceEvent;
    switch (type) {
      case 'map': {
        const name = s[d[i++]!]!, dir = d[i++]!, dmaAddr = d[i++]!, size = d[i++]!, physAddr = d[i++]!, attrs = d[i++]!;
        event = { type, name, ts, cpu, device, dir, dmaAddr, size, physAddr, attrs };
        break;
      }
      case 'unmap': {
        const name = s[d[i++]!]!, dir = d[i++]!, dmaAddr = d[i++]!, size = d[i++]!, attrs = d[i++]!;
        event = { type, name, ts, cpu, device, dir, dmaAddr, size, attrs };
        break;
      }
      case 'map_sg': {
        const dir = d[i++]!, nents = d[i++]!, ents = d[i++]!, truncated = d[i++] === 1, attrs = d[i++]!;
        this.#i = i;
        const dmaAddrs = this.#list(), sizes = this.#list(), physAddrs = this.#list();
        i = this.#i;
        event = { type, ts, cpu, device, dir, nents, ents, truncated, dmaAddrs, sizes, physAddrs, attrs };
        break;
      }
      case 'map_sg_err': {
        const dir = d[i++]!, err = d[i++]!, attrs = d[i++]!;
        this.#i = i;
        const physAddrs = this.#list();
        i = this.#i;
        event = { type, ts, cpu, device, dir, physAddrs, err, attrs };
        break;
      }
      case 'unmap_sg': {
        const dir = d[i++]!, attrs = d[i++]!;
        this.#i = i;
        const physAddrs = this.#list();
        i = this.#i;
        event = { type, ts, cpu, device, dir, physAddrs, attrs };
        break;
      }
      case 'sync_single': {
        const target = d[i++] === 0 ? 'cpu' : 'device', dir = d[i++]!, dmaAddr = d[i++]!, size = d[i++]!;
        event = { type, target, ts, cpu, device, dir, dmaAddr, size };
        break;
      }
      case 'sync_sg': {
        const target = d[i++] === 0 ? 'cpu' : 'device', dir = d[i++]!;
        this.#i = i;
        const dmaAddrs = this.#list(), sizes = this.#list();
        i = this.#i;
        event = { type, target, ts, cpu, device, dir, dmaAddrs, sizes };
        break;
      }
      case 'bounced': {
        const dmaMask = s[d[i++]!]!, devAddr = d[i++]!, size = d[i++]!, force = s[d[i++]!]! as 'FORCE' | 'NORMAL' | 'NO_FORCE';
        event = { type, ts, cpu, device, dmaMask, devAddr, size, force };
        break;
      }
      case 'coherent': {
        const name = s[d[i++]!]!;
        event = { type, name, ts, cpu, device };
        break;
      }
    }
    this.#i = i;
    return event;
  }

  #list(): number[] {
    const d = this.#d;
    let i = this.#i;
    const n = d[i++]!;
    const out: number[] = new Array(n);
    for (let k = 0; k < n; k++) out[k] = d[i++]!;
    this.#i = i;
    return out;
  }
}
