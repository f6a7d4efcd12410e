// The data the page script reads: the topology (so the page can explain any pair with the same code as the
// command line), the endpoints in matrix order with their classes, and the encoded matrix.
import type { Topology, TopologySpec } from '../pci/topology.js';
import type { DeviceClass } from './device-class.js';
import { deviceFacts } from './device-facts.js';
import { encodeMatrix, type EncodedMatrix } from './matrix-codec.js';
import { pairVerdict } from './pair-detail.js';
import type { P2pMapType } from '../pci/p2pdma.js';

/** One matrix axis entry: an endpoint function. */
export interface PageEndpoint {
  readonly bdf: string;
  readonly name?: string;
  readonly deviceClass: DeviceClass;
}

/** Everything the page script needs, embedded as JSON. */
export interface PageData {
  readonly spec: TopologySpec;
  /** What buildTopology() needs besides the spec for the same explanations: the importer's notes and where the CPU came from. */
  readonly build: { readonly notes: readonly string[]; readonly cpuOrigin: Topology['cpuOrigin'] };
  /** Endpoint functions in tree order: row i and column i of the matrix. */
  readonly endpoints: readonly PageEndpoint[];
  readonly matrix: EncodedMatrix;
  /** Ordered pairs of distinct endpoints per map type. */
  readonly pairCounts: Readonly<Record<P2pMapType, number>>;
}

/**
 * The page data for `topology`: every ordered pair of endpoints through pairVerdict(). Linear in the number
 * of pairs. Never throws for a built topology.
 */
export function pageData(topology: Topology): PageData {
  const endpoints = topology.endpoints();
  const pairCounts: Record<P2pMapType, number> = { BUS_ADDR: 0, THRU_HOST_BRIDGE: 0, NOT_SUPPORTED: 0 };
  const matrix = encodeMatrix(endpoints.length, (p, c) => {
    const verdict = pairVerdict(endpoints[p]!, endpoints[c]!);
    pairCounts[verdict.type]++;
    return verdict;
  });
  return {
    spec: topology.toSpec(),
    build: { notes: topology.notes, cpuOrigin: topology.cpuOrigin },
    endpoints: endpoints.map((device) => {
      const facts = deviceFacts(device);
      return { bdf: facts.bdf, ...(facts.name !== undefined ? { name: facts.name } : {}), deviceClass: facts.deviceClass };
    }),
    matrix,
    pairCounts,
  };
}
