// The topology JSON format (docs/topology.md; schema/topology.schema.json), with the address keys.
import { TopologyError } from '../errors.js';
import { isDumpHeader } from './lspci-dump.js';
import { applyOverrides, buildTopology, overrideInPlace, type Topology, type TopologyOverrides, type TopologySpec } from './topology.js';

// lspci output given where JSON was expected: its first line is a tree ("-[0000:00]-", "-+-[") or a device header.
function looksLikeLspci(text: string): boolean {
  let start = 0;
  while (start < text.length && (text[start] === '\n' || text[start] === '\r' || text[start] === ' ')) start++;
  let end = text.indexOf('\n', start);
  if (end < 0) end = text.length;
  const line = text.slice(start, Math.min(end, start + 200));
  return (line[0] === '-' && (line[1] === '[' || line[1] === '+')) || isDumpHeader(line);
}

/**
 * Parses topology JSON text (a UTF-8 BOM is skipped) and builds the topology, with optional overrides (ACS
 * redirect and external-facing BDFs, CPU). Returns the topology. Throws TopologyError (ERR_TOPOLOGY, field `path`;
 * `$` when the text is not JSON, with a hint when it is lspci output) for malformed input, and for overrides
 * InvalidArgumentError (ERR_INVALID_ARGUMENT) or UnknownDeviceError (ERR_UNKNOWN_DEVICE). Nothing is built on
 * failure.
 */
export function loadTopologyJson(text: string, overrides: TopologyOverrides = {}): Topology {
  let value: unknown;
  const body = typeof text === 'string' && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    value = JSON.parse(body);
  } catch (err) {
    if (typeof body === 'string' && looksLikeLspci(body)) {
      throw new TopologyError('$: this is lspci output, not topology JSON: load it with --lspci FILE (loadLspci())', { path: '$', cause: err });
    }
    throw new TopologyError(`$: not valid JSON: ${(err as Error).message.slice(0, 200)}`, { path: '$', cause: err });
  }
  // Validate the description as given first, so that errors name paths in the user's file.
  const topology = buildTopology(value);
  if (overrides === null || typeof overrides !== 'object') return buildTopology(applyOverrides(value as TopologySpec, overrides));
  if (overrides.acsRedirect === undefined && overrides.cpu === undefined && overrides.externalFacing === undefined) return topology;
  // The parsed value is ours alone: override it in place (no deep copy of a large description).
  return buildTopology(overrideInPlace(value as TopologySpec, overrides), { cpuOrigin: overrides.cpu !== undefined ? (overrides.cpu ? 'option' : 'unknown') : topology.cpuOrigin });
}

/**
 * The topology as JSON text in the loader's format, with every assigned address written out
 * (so loadTopologyJson(topologyToJson(t)) rebuilds the same structure). Never throws.
 */
export function topologyToJson(topology: Topology): string {
  return JSON.stringify(topology.toSpec(), null, 2);
}
