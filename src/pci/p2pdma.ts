// P2PDMA map type and distance, following drivers/pci/p2pdma.c.
import { InvalidArgumentError } from '../errors.js';
import { compareBdf } from './bdf.js';
import type { P2pmemProvider } from './p2pmem.js';
import type { Cpu, PciDevice } from './topology.js';
import { hostBridgeWhitelisted } from './whitelist.js';

/** How a client reaches a provider's memory (the kernel's enum pci_p2pdma_map_type, minus UNKNOWN). */
export type P2pMapType = 'BUS_ADDR' | 'THRU_HOST_BRIDGE' | 'NOT_SUPPORTED';

/** The verdict for one (provider, client) pair. */
export interface MapTypeResult {
  readonly type: P2pMapType;
  /** Hops between the two: 0 same function, 2 two functions of one device, 4 two devices behind one switch. */
  readonly distance: number;
  /** True when a common upstream bridge exists but ACS redirect is set on the path. */
  readonly acsRedirect: boolean;
  /** The kernel's warnings for this pair (and why a host bridge was refused); empty for a clean BUS_ADDR. */
  readonly reasons: readonly string[];
}

/** Whether the CPU allows P2P through any host bridge: AMD Zen or newer (models cpu_supports_p2pdma()). Never throws. */
export function cpuSupportsP2pdma(cpu: Cpu | null): boolean {
  return cpu !== null && cpu.vendor === 'AuthenticAMD' && cpu.family >= 0x17;
}

function sameTopology(provider: PciDevice, clients: readonly PciDevice[]): void {
  for (const client of clients) {
    if (client.topology !== provider.topology) {
      throw new InvalidArgumentError(`${client.bdf} and ${provider.bdf} belong to different topologies`, { argument: 'client' });
    }
  }
}

// models host_bridge_whitelist(): same host bridge -> it must be listed; else both, without REQ_SAME_HOST_BRIDGE.
function hostBridgesAllow(provider: PciDevice, client: PciDevice, reasons: string[]): boolean {
  const a = provider.hostBridge;
  const b = client.hostBridge;
  if (a === b) {
    const verdict = hostBridgeWhitelisted(a, true);
    if (verdict.reason) reasons.push(verdict.reason);
    return verdict.allowed;
  }
  const va = hostBridgeWhitelisted(a, false);
  const vb = hostBridgeWhitelisted(b, false);
  if (va.reason) reasons.push(va.reason);
  if (vb.reason) reasons.push(vb.reason);
  return va.allowed && vb.allowed;
}

/**
 * Whether a transaction from `client` to `provider`'s memory may be routed through the host
 * bridge(s): AMD Zen or newer, or the whitelist allows it (models cpu_supports_p2pdma() ||
 * host_bridge_whitelist()). Used by simulated devices deciding whether a BAR's CPU address is
 * reachable. Throws ERR_INVALID_ARGUMENT for devices of different topologies. Pure.
 */
export function hostBridgeRouteAllowed(provider: PciDevice, client: PciDevice): boolean {
  sameTopology(provider, [client]);
  return cpuSupportsP2pdma(provider.topology.cpu) || hostBridgesAllow(provider, client, []);
}

/**
 * The P2PDMA map type and distance from `provider` (the device whose memory is used) to `client` (the device
 * doing DMA) (models calc_map_type_and_dist()). Walks pci_upstream_bridge() from both ends: a common node
 * gives BUS_ADDR unless ACS redirect is set on the provider's path (up to and including the common node) or on
 * the client's path below it; no common node, or ACS redirect, falls back to the host bridge: allowed
 * (THRU_HOST_BRIDGE) on AMD Zen or newer, or when the host bridge(s) pass the whitelist; else NOT_SUPPORTED.
 * Returns the result. Throws InvalidArgumentError (ERR_INVALID_ARGUMENT) when the two devices come from
 * different topologies. Pure: nothing changes.
 */
export function mapType(provider: PciDevice, client: PciDevice): MapTypeResult {
  sameTopology(provider, [client]);
  const acsList: string[] = [];
  let common: PciDevice | null = null;
  let distA = 0;
  let distB = 0;
  for (let a: PciDevice | null = provider; a; a = a.upstream, distA++) {
    distB = 0;
    if (a.acsRedirect) acsList.push(a.bdf);
    for (let b: PciDevice | null = client; b; b = b.upstream, distB++) {
      if (a === b) {
        common = a;
        break;
      }
    }
    if (common) break;
  }
  const distance = distA + distB;
  const reasons: string[] = [];
  let acsRedirect = false;
  if (common) {
    for (let b: PciDevice | null = client; b && b !== common; b = b.upstream) if (b.acsRedirect) acsList.push(b.bdf);
    if (acsList.length === 0) return { type: 'BUS_ADDR', distance, acsRedirect: false, reasons };
    reasons.push(`${client.bdf}: ACS redirect is set between the client and provider (${provider.bdf})`);
    reasons.push(`${client.bdf}: to disable ACS redirect for this path, add the kernel parameter: pci=disable_acs_redir=${acsList.join(';')}`);
    acsRedirect = true;
  }
  // map_through_host_bridge:
  if (!cpuSupportsP2pdma(provider.topology.cpu) && !hostBridgesAllow(provider, client, reasons)) {
    reasons.push(
      `${client.bdf}: cannot be used for peer-to-peer DMA as the client and provider (${provider.bdf}) do not share an upstream bridge or whitelisted host bridge`,
    );
    return { type: 'NOT_SUPPORTED', distance, acsRedirect, reasons };
  }
  return { type: 'THRU_HOST_BRIDGE', distance, acsRedirect, reasons };
}

/**
 * The summed distance from `provider` to every client, or -1 if there are no clients or any pair is
 * NOT_SUPPORTED (models pci_p2pdma_distance_many()). THRU_HOST_BRIDGE pairs (including ACS-redirected ones)
 * count with their distance, as in the kernel. Throws InvalidArgumentError (ERR_INVALID_ARGUMENT) when a client
 * comes from another topology. Pure.
 */
export function distanceMany(provider: PciDevice, clients: readonly PciDevice[]): number {
  sameTopology(provider, clients);
  if (clients.length === 0) return -1;
  let total = 0;
  for (const client of clients) {
    const result = mapType(provider, client);
    if (result.type === 'NOT_SUPPORTED') return -1;
    total += result.distance;
  }
  return total;
}

/** The provider findProvider() chose and its summed distance to the clients. */
export interface FoundProvider {
  readonly provider: P2pmemProvider;
  readonly distance: number;
}

/**
 * The published p2pmem provider closest to all `clients` (models pci_p2pmem_find_many()): the smallest
 * distanceMany(), skipping devices with any NOT_SUPPORTED pair. Where the kernel picks at random among equally
 * close devices, this picks the lowest BDF (segment, bus, devfn), then the lowest BAR index, so results are
 * reproducible. Returns null when no published provider suits every client (or `clients` is empty).
 * Throws InvalidArgumentError (ERR_INVALID_ARGUMENT) when clients come from different topologies. Pure.
 */
export function findProvider(clients: readonly PciDevice[]): FoundProvider | null {
  const first = clients[0];
  if (!first) return null;
  sameTopology(first, clients);
  const candidates = first.topology
    .providers()
    .filter((provider) => provider.published)
    .sort((a, b) => compareBdf(a.bar.device, b.bar.device) || a.bar.index - b.bar.index);
  let best: FoundProvider | null = null;
  const distances = new Map<PciDevice, number>();
  for (const provider of candidates) {
    const device = provider.bar.device;
    let distance = distances.get(device);
    if (distance === undefined) {
      distance = distanceMany(device, clients);
      distances.set(device, distance);
    }
    if (distance < 0) continue;
    if (!best || distance < best.distance) best = { provider, distance };
  }
  return best;
}
