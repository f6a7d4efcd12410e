// The command registry. Adding a command is one line here (and its file in this folder).
import type { Command } from '../command.js';

/** Command name -> loader; modules load only when their command runs (or when listing commands). */
export const registry: Readonly<Record<string, () => Promise<Command>>> = {
  bench: async () => (await import('./bench.js')).command,
  explain: async () => (await import('./explain.js')).command,
  'map-benchmark': async () => (await import('./map-benchmark.js')).command,
  p2p: async () => (await import('./p2p.js')).command,
  policies: async () => (await import('./policies.js')).command,
  replay: async () => (await import('./replay.js')).command,
  report: async () => (await import('./report.js')).command,
  topo: async () => (await import('./topo.js')).command,
};
