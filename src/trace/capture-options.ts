// The options of readCapture() and readCaptureInWorker(), read once into a checked snapshot: a
// getter, a Proxy or a Set changed later cannot make the check and the read disagree.
import { InvalidArgumentError } from '../errors.js';
import { isDmaTraceEvent } from './parser.js';

/** The snapshot both readers act on. */
export interface CaptureOptionsSnapshot {
  readonly lenient: boolean;
  readonly onProgress: ((bytes: number) => void) | undefined;
  readonly only: ReadonlySet<string> | undefined;
  readonly prefilter: readonly string[] | undefined;
  /** readCaptureInWorker()'s worker threads (1 where not given; readCapture() takes no `workers`). */
  readonly workers: number;
}

const KEYS: ReadonlySet<string> = new Set(['lenient', 'onProgress', 'only', 'prefilter']);
const WORKER_KEYS: ReadonlySet<string> = new Set([...KEYS, 'workers']);

/** The most worker threads a read may parse on. */
export const MAX_PARSE_WORKERS = 8;

/** Bounds the lists a caller may hand over (every kernel event name fits many times over). */
const MAX_ENTRIES = 4096;

const bad = (argument: string, message: string) => new InvalidArgumentError(`${argument}: ${message}`, { argument });

function stringList(value: unknown, argument: string): string[] {
  if (typeof value === 'string' || value === null || typeof value !== 'object' || typeof (value as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw bad(argument, 'must be a Set or an array of strings');
  }
  const out: string[] = [];
  for (const entry of value as Iterable<unknown>) {
    if (typeof entry !== 'string' || entry.length === 0) throw bad(argument, `every entry must be a non-empty string, got ${typeof entry === 'string' ? '""' : typeof entry}`);
    if (out.length === MAX_ENTRIES) throw bad(argument, `at most ${MAX_ENTRIES} entries`);
    out.push(entry);
  }
  return out;
}

/**
 * Reads `options` once and checks it: an object (or undefined) with only the known keys,
 * `lenient` a boolean, `onProgress` a function, `only` dma:/swiotlb: event names, `prefilter`
 * non-empty strings, and where `inWorkers` (readCaptureInWorker()) `workers` an integer
 * 1..MAX_PARSE_WORKERS. Throws InvalidArgumentError naming the option.
 */
export function snapshotCaptureOptions(options: unknown, inWorkers = false): CaptureOptionsSnapshot {
  if (options === undefined) return { lenient: false, onProgress: undefined, only: undefined, prefilter: undefined, workers: 1 };
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw bad('options', 'must be an object');
  const o = options as Record<string, unknown>;
  const keys = inWorkers ? WORKER_KEYS : KEYS;
  for (const key of Object.keys(o)) if (!keys.has(key)) throw bad(`options.${key}`, `unknown option (known: ${[...keys].join(', ')})`);
  const lenient = o.lenient;
  const onProgress = o.onProgress;
  const only = o.only;
  const prefilter = o.prefilter;
  const workers = inWorkers ? o.workers : undefined;
  if (workers !== undefined && (typeof workers !== 'number' || !Number.isInteger(workers) || workers < 1 || workers > MAX_PARSE_WORKERS)) {
    throw bad('options.workers', `must be an integer 1..${MAX_PARSE_WORKERS}, got ${typeof workers === 'number' ? workers : typeof workers}`);
  }
  if (lenient !== undefined && typeof lenient !== 'boolean') throw bad('options.lenient', 'must be a boolean');
  if (onProgress !== undefined && typeof onProgress !== 'function') throw bad('options.onProgress', 'must be a function');
  let onlySet: Set<string> | undefined;
  if (only !== undefined) {
    onlySet = new Set(stringList(only, 'options.only'));
    for (const name of onlySet) if (!isDmaTraceEvent(name)) throw bad('options.only', `"${name.slice(0, 60)}" is no dma: or swiotlb: trace event`);
  }
  return {
    lenient: lenient ?? false,
    onProgress: onProgress as ((bytes: number) => void) | undefined,
    only: onlySet,
    prefilter: prefilter === undefined ? undefined : stringList(prefilter, 'options.prefilter'),
    workers: (workers as number | undefined) ?? 1,
  };
}
