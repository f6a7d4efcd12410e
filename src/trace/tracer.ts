// DmaTracer: the model's tracepoints. The DMA layer hands it events as the kernel's trace_dma_*()
// and trace_swiotlb_bounced() calls would; it formats them in the chosen kernel version's text
// and passes each line to the sink. A system created without `trace` has no tracer at all.
import { InvalidArgumentError, InvalidStateError } from '../errors.js';
import { describeValue } from '../describe-value.js';
import type { TraceEvent } from './events.js';
import { checkTraceFormat, DEFAULT_TRACE_FORMAT, formatEvent, type TraceFormat } from './formats.js';
import { formatLine, TRACE_LINE_STYLES, traceHeader, type TraceLineStyle, type TraceTask } from './line.js';
import { CallbackSink, IteratorSink, StreamSink, type LineSink, type TraceCallback, type TraceSinkStats, type TraceWhenFull, type TraceWritable } from './sinks.js';

/** Where lines go: a callback, a writable stream, or 'iterator' (read them with DmaTracer.lines()). */
export type TraceSink = TraceCallback | TraceWritable | 'iterator';

/** The tracer's options; see docs/tracing.md. Each is read once. */
export interface TraceOptions {
  /** Where lines go. */
  readonly sink: TraceSink;
  /** The kernel version whose formats to print (default 'latest'). */
  readonly format?: TraceFormat;
  /** 'ftrace' (default) or 'trace-cmd' lines. */
  readonly style?: TraceLineStyle;
  /** The task column: comm (cut to 15 characters) and pid; default 'node' and process.pid. */
  readonly comm?: string;
  readonly pid?: number;
  /** Seconds for the timestamp column; default: seconds since the process started. */
  readonly clock?: () => number;
  /** Streams only: write the file header first (default true). */
  readonly header?: boolean;
  /** Iterator only: lines buffered before `whenFull` applies (default 65536). */
  readonly capacity?: number;
  /** Iterator only: 'wait' (default: new DMA calls wait for the reader) or 'drop' (counted, and marked in the stream). */
  readonly whenFull?: TraceWhenFull;
}

/** What DmaSystem.create({ trace }) takes: a sink alone, or options with one. */
export type TraceSpec = TraceSink | TraceOptions;

export interface TraceStats extends TraceSinkStats {
  readonly format: TraceFormat;
  readonly style: TraceLineStyle;
  /** Events the format prints nothing for (dma_map_sg_err before 6.13). */
  readonly unprinted: number;
}

const OPTION_KEYS: ReadonlySet<string> = new Set(['sink', 'format', 'style', 'comm', 'pid', 'clock', 'header', 'capacity', 'whenFull']);
const TASK_COMM_LEN = 16;

function isWritable(value: unknown): value is TraceWritable {
  return value !== null && typeof value === 'object' && typeof (value as TraceWritable).write === 'function' && typeof (value as TraceWritable).once === 'function';
}

/**
 * The model's tracepoints (one per system created with `trace`): formats each event the DMA layer
 * hands it in the chosen version's text and passes the line to its sink. `system.tracer`.
 */
export class DmaTracer {
  readonly format: TraceFormat;
  readonly style: TraceLineStyle;
  readonly #sink: LineSink;
  readonly #iterator: IteratorSink | undefined;
  readonly #task: TraceTask;
  readonly #clock: () => number;
  readonly #header: (() => void) | undefined;
  #unprinted = 0;

  /**
   * Builds a tracer from a sink or options (each read once). Throws ERR_INVALID_ARGUMENT for a
   * sink that is no function, writable or 'iterator', an unknown option or a bad value.
   */
  constructor(spec: TraceSpec) {
    const options = toOptions(spec);
    const format = options.format ?? DEFAULT_TRACE_FORMAT;
    checkTraceFormat(format, 'trace.format');
    const style = options.style ?? 'ftrace';
    if (!TRACE_LINE_STYLES.includes(style)) throw new InvalidArgumentError(`trace.style must be ftrace or trace-cmd, got ${describeValue(style)}`, { argument: 'trace.style' });
    const comm = options.comm ?? 'node';
    if (typeof comm !== 'string' || comm === '' || /\s/.test(comm)) throw new InvalidArgumentError('trace.comm must be a non-empty string without spaces', { argument: 'trace.comm' });
    const pid = options.pid ?? process.pid;
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid < 0 || pid > 2 ** 22) throw new InvalidArgumentError('trace.pid must be an integer in 0..4194304', { argument: 'trace.pid' });
    const clock = options.clock ?? (() => performance.now() / 1000);
    if (typeof clock !== 'function') throw new InvalidArgumentError('trace.clock must be a function returning seconds', { argument: 'trace.clock' });
    const sink = options.sink;
    this.format = format;
    this.style = style;
    this.#task = { comm: comm.slice(0, TASK_COMM_LEN - 1), pid };
    this.#clock = clock;
    if (sink === 'iterator') {
      const capacity = options.capacity ?? 65536;
      if (typeof capacity !== 'number' || !Number.isSafeInteger(capacity) || capacity < 1) throw new InvalidArgumentError('trace.capacity must be a positive integer', { argument: 'trace.capacity' });
      const whenFull = options.whenFull ?? 'wait';
      if (whenFull !== 'wait' && whenFull !== 'drop') throw new InvalidArgumentError('trace.whenFull must be wait or drop', { argument: 'trace.whenFull' });
      this.#sink = this.#iterator = new IteratorSink(capacity, whenFull);
    } else {
      if (options.capacity !== undefined || options.whenFull !== undefined) throw new InvalidArgumentError('trace.capacity and trace.whenFull apply to the iterator sink only', { argument: 'trace' });
      if (typeof sink === 'function') {
        this.#sink = new CallbackSink(sink);
      } else if (isWritable(sink)) {
        const stream = new StreamSink(sink);
        const header = options.header ?? true;
        if (typeof header !== 'boolean') throw new InvalidArgumentError('trace.header must be a boolean', { argument: 'trace.header' });
        if (header) this.#header = () => stream.writeRaw(traceHeader(style, 1));
        this.#sink = stream;
      } else {
        throw new InvalidArgumentError("trace.sink must be a function, a writable stream or 'iterator'", { argument: 'trace.sink' });
      }
    }
  }

  /** Writes the stream's header: DmaSystem calls it once the system is built, so a failed create writes nothing. */
  start(): void {
    this.#header?.();
  }

  /** Set while the sink is behind (a stream that wants 'drain', a full iterator buffer in 'wait' mode): calls wait for it. */
  get blocked(): Promise<void> | undefined {
    return this.#sink.blocked;
  }

  /** The timestamp for an event happening now, in seconds. */
  now(): number {
    return this.#clock();
  }

  /** Formats and emits one event (the DMA layer calls this). Never throws. */
  emit(event: TraceEvent): void {
    const formatted = formatEvent(event, this.format);
    if (formatted === undefined) {
      this.#unprinted++;
      return;
    }
    // The model's map and unmap events get the name this version prints (dma_map_phys, dma_map_page, ...).
    if ((event.type === 'map' || event.type === 'unmap') && event.name === '') (event as { name: string }).name = formatted.name;
    this.#sink.write(formatLine(this.style, this.#task, event.cpu, event.ts, formatted), event);
  }

  /**
   * The lines, for a tracer made with sink 'iterator': resolves each line as it is emitted and ends
   * once the system closed and the buffer is read. Breaking out of the loop drops what is buffered
   * and every later line (counted in stats().lost). Throws ERR_INVALID_STATE for another sink, or
   * when called a second time.
   */
  lines(): AsyncIterableIterator<string> {
    if (!this.#iterator) throw new InvalidStateError("trace lines can be iterated only when the sink is 'iterator'");
    return this.#iterator.iterator();
  }

  /** Counters: lines emitted, lost, sink errors (the first one kept), events the format does not print. */
  stats(): TraceStats {
    return { ...this.#sink.stats(), format: this.format, style: this.style, unprinted: this.#unprinted };
  }

  /** Closing: calls waiting for the sink go on (their lines are still taken). */
  release(): void {
    this.#sink.release();
  }

  /** Closed: the iterator ends after its buffered lines. */
  end(): void {
    this.#sink.end();
  }
}

function toOptions(spec: unknown): TraceOptions {
  if (typeof spec === 'function' || spec === 'iterator' || isWritable(spec)) return { sink: spec as TraceSink };
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw new InvalidArgumentError("trace must be a callback, a writable stream, 'iterator' or { sink, ... }", { argument: 'trace' });
  }
  const copy: Record<string, unknown> = { ...(spec as Record<string, unknown>) };
  for (const key of Object.keys(copy)) if (!OPTION_KEYS.has(key)) throw new InvalidArgumentError(`trace has no option ${key}`, { argument: `trace.${key}` });
  return copy as unknown as TraceOptions;
}
