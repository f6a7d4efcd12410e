// The options of replayCapture(), read once into a checked snapshot (unknown keys refused, each
// value's kind checked where it is given), so the replay acts on values that cannot change under it.
import { InvalidArgumentError } from '../errors.js';
import { Topology } from '../pci/index.js';

/** What replayCapture() acts on. */
export interface ReplayOptionsSnapshot {
  readonly topology: Topology | undefined;
  readonly lenient: boolean;
  readonly onProgress: ((pass: number, bytes: number) => void) | undefined;
  readonly provider: { readonly bdf: string; readonly bar: number | undefined } | undefined;
  readonly parseInWorker: boolean | undefined;
}

const KEYS: ReadonlySet<string> = new Set(['topology', 'lenient', 'onProgress', 'provider', 'parseInWorker']);

const bad = (argument: string, message: string) => new InvalidArgumentError(`${argument} ${message}`, { argument });

/** Reads `options` once and checks it. Throws InvalidArgumentError naming the option. */
export function snapshotReplayOptions(options: unknown): ReplayOptionsSnapshot {
  if (options === undefined) return { topology: undefined, lenient: false, onProgress: undefined, provider: undefined, parseInWorker: undefined };
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw bad('options', 'must be an object');
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!KEYS.has(key)) throw bad(key, `is no replay option (known: ${[...KEYS].join(', ')})`);
  const { topology, lenient, onProgress, provider, parseInWorker } = o;
  if (topology !== undefined && !(topology instanceof Topology)) throw bad('topology', 'must be a Topology (buildTopology(), loadTopologyJson(), loadLspci())');
  if (lenient !== undefined && typeof lenient !== 'boolean') throw bad('lenient', 'must be a boolean');
  if (onProgress !== undefined && typeof onProgress !== 'function') throw bad('onProgress', 'must be a function');
  if (parseInWorker !== undefined && typeof parseInWorker !== 'boolean') throw bad('parseInWorker', 'must be a boolean');
  let given: ReplayOptionsSnapshot['provider'];
  if (provider !== undefined) {
    if (provider === null || typeof provider !== 'object') throw bad('provider', 'must be { bdf, bar? }');
    const { bdf, bar } = provider as { bdf?: unknown; bar?: unknown };
    if (typeof bdf !== 'string') throw bad('provider', 'must be { bdf, bar? }: bdf must be a string');
    if (bar !== undefined && (typeof bar !== 'number' || !Number.isInteger(bar) || bar < 0 || bar > 5)) throw bad('provider', 'bar must be a BAR index 0..5');
    given = { bdf, bar };
  }
  return {
    topology,
    lenient: lenient ?? false,
    onProgress: onProgress as ReplayOptionsSnapshot['onProgress'],
    provider: given,
    parseInWorker,
  };
}
