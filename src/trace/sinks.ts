// Where trace lines go: a callback, a writable stream (with its back-pressure), or a bounded
// buffer an async iterator reads. A sink never throws into the DMA call that emitted the line.
import { InvalidStateError } from '../errors.js';
import type { TraceEvent } from './events.js';

/** Called with each line (no newline) and the event it prints. Its exceptions are counted, never thrown. */
export type TraceCallback = (line: string, event: TraceEvent) => void;

/** The part of a Node.js Writable the tracer uses. */
export interface TraceWritable {
  /** Writes the text; false asks the writer to wait for 'drain'. */
  write(chunk: string): boolean;
  /** Listens once: the tracer waits for 'drain' and counts an 'error'. */
  once(event: 'drain' | 'error' | 'close', listener: (...args: unknown[]) => void): unknown;
}

/** What a full iterator buffer does: make new DMA calls wait for the reader ('wait'), or drop lines and say how many ('drop'). */
export type TraceWhenFull = 'wait' | 'drop';

/** How much each sink took, dropped and failed. */
export interface TraceSinkStats {
  /** Lines handed to the sink. */
  readonly lines: number;
  /** Lines dropped (iterator 'drop' mode with a full buffer, or after the reader stopped). */
  readonly lost: number;
  /** Exceptions thrown by the callback, or stream errors. */
  readonly errors: number;
  /** The first of those, if any. */
  readonly firstError: unknown;
}

export interface LineSink {
  write(line: string, event: TraceEvent): void;
  /** Set while the reader is behind: a DMA call waits for it before it starts. */
  readonly blocked: Promise<void> | undefined;
  /** The system is closing: nothing waits any more (lines are still taken). */
  release(): void;
  /** The system closed: an iterator ends once its buffer is read. */
  end(): void;
  stats(): TraceSinkStats;
}

abstract class CountingSink {
  protected lines = 0;
  protected lost = 0;
  protected errors = 0;
  protected firstError: unknown = undefined;

  protected fail(error: unknown): void {
    if (this.errors++ === 0) this.firstError = error;
  }

  stats(): TraceSinkStats {
    return { lines: this.lines, lost: this.lost, errors: this.errors, firstError: this.firstError };
  }
}

export class CallbackSink extends CountingSink implements LineSink {
  readonly blocked = undefined;
  constructor(private readonly callback: TraceCallback) {
    super();
  }

  write(line: string, event: TraceEvent): void {
    this.lines++;
    try {
      this.callback(line, event);
    } catch (error) {
      this.fail(error);
    }
  }

  release(): void {}
  end(): void {}
}

/** Writes line + "\n"; when write() returns false, new DMA calls wait for 'drain' (or an error, or close()). */
export class StreamSink extends CountingSink implements LineSink {
  blocked: Promise<void> | undefined = undefined;
  #unblock: (() => void) | undefined;
  #released = false;
  #broken = false;

  constructor(private readonly stream: TraceWritable) {
    super();
    stream.once('error', (error) => {
      this.#broken = true;
      this.fail(error);
      this.#resolve();
    });
  }

  /** Writes text that is no event (the file header). */
  writeRaw(text: string): void {
    this.#write(text);
  }

  write(line: string): void {
    this.lines++;
    this.#write(line + '\n');
  }

  #write(text: string): void {
    if (this.#broken) {
      this.lost++;
      return;
    }
    let more: boolean;
    try {
      more = this.stream.write(text);
    } catch (error) {
      this.#broken = true;
      this.fail(error);
      return;
    }
    if (!more && this.blocked === undefined && !this.#released) {
      this.blocked = new Promise<void>((resolve) => { this.#unblock = resolve; });
      this.stream.once('drain', () => this.#resolve());
    }
  }

  #resolve(): void {
    const unblock = this.#unblock;
    this.blocked = undefined;
    this.#unblock = undefined;
    unblock?.();
  }

  release(): void {
    this.#released = true;
    this.#resolve();
  }

  end(): void {}
}

/** trace_pipe's mark for lines dropped before the next one. */
export function lostLine(cpu: number, count: number): string {
  return `CPU:${cpu} [LOST ${count} EVENTS]`;
}

/**
 * A bounded buffer read through an async iterator (as trace_pipe is read). With 'wait', a full
 * buffer makes new DMA calls wait until the reader takes lines (calls already running still add
 * theirs, so the buffer can exceed `capacity` by what they emit); with 'drop', lines that do not
 * fit are counted and the reader gets a "CPU:0 [LOST n EVENTS]" line before the next one.
 */
export class IteratorSink extends CountingSink implements LineSink {
  blocked: Promise<void> | undefined = undefined;
  #unblock: (() => void) | undefined;
  #buffer: string[] = [];
  #head = 0;
  #pendingLost = 0;
  #reader: ((result: IteratorResult<string>) => void) | undefined;
  #iterating = false;
  #detached = false;
  #ended = false;
  #released = false;

  constructor(private readonly capacity: number, private readonly whenFull: TraceWhenFull) {
    super();
  }

  get buffered(): number {
    return this.#buffer.length - this.#head;
  }

  write(line: string): void {
    this.lines++;
    if (this.#detached) {
      this.lost++;
      return;
    }
    if (this.whenFull === 'drop' && this.buffered >= this.capacity) {
      this.lost++;
      this.#pendingLost++;
      return;
    }
    if (this.#pendingLost > 0) {
      this.#push(lostLine(0, this.#pendingLost));
      this.#pendingLost = 0;
    }
    this.#push(line);
    if (this.whenFull === 'wait' && !this.#released && this.blocked === undefined && this.buffered >= this.capacity) {
      this.blocked = new Promise<void>((resolve) => { this.#unblock = resolve; });
    }
  }

  #push(line: string): void {
    const reader = this.#reader;
    if (reader) {
      this.#reader = undefined;
      reader({ value: line, done: false });
      return;
    }
    this.#buffer.push(line);
  }

  #take(): string | undefined {
    if (this.#head >= this.#buffer.length) {
      if (this.#pendingLost > 0 && this.#ended) {
        const line = lostLine(0, this.#pendingLost);
        this.#pendingLost = 0;
        return line;
      }
      return undefined;
    }
    const line = this.#buffer[this.#head++]!;
    // Compact once the read part dominates, so the array never grows without bound.
    if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
      this.#buffer = this.#buffer.slice(this.#head);
      this.#head = 0;
    }
    if (this.blocked !== undefined && this.buffered < this.capacity) this.#resolve();
    return line;
  }

  #resolve(): void {
    const unblock = this.#unblock;
    this.blocked = undefined;
    this.#unblock = undefined;
    unblock?.();
  }

  /** The one reader. Throws ERR_INVALID_STATE when called a second time. */
  iterator(): AsyncIterableIterator<string> {
    if (this.#iterating) throw new InvalidStateError('the trace iterator was already taken: a system has one reader');
    this.#iterating = true;
    const self = this;
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      next(): Promise<IteratorResult<string>> {
        const line = self.#take();
        if (line !== undefined) return Promise.resolve({ value: line, done: false });
        if (self.#ended || self.#detached) return Promise.resolve({ value: undefined, done: true });
        if (self.#reader) return Promise.reject(new InvalidStateError('the trace iterator is already waiting for a line'));
        return new Promise((resolve) => { self.#reader = resolve; });
      },
      return(): Promise<IteratorResult<string>> {
        // The reader stopped: what is buffered and everything after it is lost, and counted.
        self.#detached = true;
        self.lost += self.buffered + self.#pendingLost;
        self.#buffer = [];
        self.#head = 0;
        self.#pendingLost = 0;
        self.#resolve();
        self.#reader?.({ value: undefined, done: true });
        self.#reader = undefined;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  release(): void {
    this.#released = true;
    this.#resolve();
  }

  end(): void {
    this.#ended = true;
    this.#resolve();
    const reader = this.#reader;
    if (reader) {
      this.#reader = undefined;
      const line = this.#take();
      reader(line === undefined ? { value: undefined, done: true } : { value: line, done: false });
    }
  }
}
