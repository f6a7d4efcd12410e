// The verdict and explanation of one (provider, client) cell: the only place the report learns why a pair
// maps as it does. The verdict comes from mapType() (type, distance, ACS redirect); the explanation is the
// one `dma-bounce explain` prints (explainPair() / formatExplanation(): the walk hop by hop, the rule that
// applied, the kernel's warnings, what would change it). It runs both where the report is built and inside
// the page itself.
import { explainPair, formatExplanation } from '../pci/explain.js';
import { mapType, type P2pMapType } from '../pci/p2pdma.js';
import type { PciDevice } from '../pci/topology.js';
import { CELL_STYLES } from './palette.js';

/** What a matrix cell is coloured by. */
export interface PairVerdict {
  readonly type: P2pMapType;
  readonly distance: number;
  readonly acsRedirect: boolean;
}

/** The verdict with its explanation, as plain text lines. */
export interface PairDetail extends PairVerdict {
  readonly provider: string;
  readonly client: string;
  /** B, H or N. */
  readonly letter: string;
  /** One line: "0000:03:00.0 -> 0000:04:00.0: BUS_ADDR, distance 4". */
  readonly headline: string;
  /** What the verdict means, then the explanation `dma-bounce explain` prints for this pair. */
  readonly lines: readonly string[];
}

const MEANING: Readonly<Record<P2pMapType, string>> = {
  BUS_ADDR: 'The client reaches the provider by bus address: the path stays below a common upstream bridge.',
  THRU_HOST_BRIDGE: 'The client reaches the provider through the host bridge: a normal mapping, routed by the root complex.',
  NOT_SUPPORTED: 'Mainline fails this mapping with -EREMOTEIO; dma-bounce\'s bounce policy copies it through swiotlb instead.',
};

/**
 * The map type, distance and ACS redirect of the pair (models calc_map_type_and_dist() through mapType()).
 * Throws InvalidArgumentError (ERR_INVALID_ARGUMENT) when the devices come from different topologies. Pure.
 */
export function pairVerdict(provider: PciDevice, client: PciDevice): PairVerdict {
  const { type, distance, acsRedirect } = mapType(provider, client);
  return { type, distance, acsRedirect };
}

/**
 * The verdict of the pair with its explanation: a headline, what the map type means, and the text of
 * `dma-bounce explain` (the walk, the whitelist or Zen rule, the kernel's warnings, the parameter that
 * would make it BUS_ADDR or why none can). Throws InvalidArgumentError (ERR_INVALID_ARGUMENT) when the
 * devices come from different topologies. Pure.
 */
export function pairDetail(provider: PciDevice, client: PciDevice): PairDetail {
  const result = mapType(provider, client);
  const explanation = formatExplanation(explainPair(provider.topology, provider, client)).split('\n');
  const lines = [MEANING[result.type], ...explanation.slice(1)];
  return {
    provider: provider.bdf,
    client: client.bdf,
    type: result.type,
    distance: result.distance,
    acsRedirect: result.acsRedirect,
    letter: CELL_STYLES[result.type].letter,
    headline: `${provider.bdf} -> ${client.bdf}: ${result.type}, distance ${result.distance}${result.acsRedirect ? ', ACS redirect' : ''}`,
    lines,
  };
}

/** The detail as plain text, one line each. Never throws. */
export function formatPairDetail(detail: PairDetail): string {
  return [detail.headline, ...detail.lines].join('\n');
}
