// The topology JSON format (CONTRACTS.md "Topology JSON", plus the address keys in docs/topology.md).
import { TopologyError } from '../errors.js';
import { applyOverrides, buildTopology, type Topology, type TopologyOverrides, type TopologySpec } from './topology.js';

/**
 * Parses topology JSON text and builds the topology, with optional overrides (ACS redirect BDFs, CPU).
 * Returns the topology. Throws TopologyError (ERR_TOPOLOGY, field `path`; `$` when the text is not JSON) for
 * malformed input, and for overrides InvalidArgumentError (ERR_INVALID_ARGUMENT) or UnknownDeviceError
 * (ERR_UNKNOWN_DEVICE). Nothing is built on failure.
 */
export function loadTopologyJson(text: string, overrides: TopologyOverrides = {}): Topology {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new TopologyError(`$: not valid JSON: ${(err as Error).message}`, { path: '$', cause: err });
  }
  // Validate the description as given first, so that errors name paths in the user's file.
  const topology = buildTopology(value);
  if (overrides.acsRedirect === undefined && overrides.cpu === undefined) return topology;
  return buildTopology(applyOverrides(value as TopologySpec, overrides));
}

/**
 * The topology as JSON text in the loader's format, with every assigned address written out
 * (so loadTopologyJson(topologyToJson(t)) rebuilds the same structure). Never throws.
 */
export function topologyToJson(topology: Topology): string {
  return JSON.stringify(topology.toSpec(), null, 2);
}
