// P2PDMA map type and distance, following drivers/pci/p2pdma.c (calc_map_type_and_dist() and its helpers).
import { InvalidArgumentError } from '../errors.js';
import { compareBdf } from './bdf.js';
import { cpuSupportsP2pdma } from './cpu.js';
import type { P2pmemProvider } from './p2pmem.js';
import type { PciDevice } from './topology.js';
import { hostBridgeWhitelisted, type WhitelistVerdict } from './whitelist.js';

export { cpuSupportsP2pdma } from './cpu.js';

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
  /** True when the verdict went to the host bridge step and the CPU decides it (AMD Zen: THRU_HOST_BRIDGE, else NOT_SUPPORTED). */
  readonly cpuDependent: boolean;
}

/** Every step of calc_map_type_and_dist() for one pair, as data (what explainPair() shows). @internal */
export interface MapTypeWalk {
  /** The provider and its upstream bridges, up to the common node (or to the root bus). */
  readonly providerPath: readonly PciDevice[];
  /** The client and its upstream bridges, up to (not including) the common node, or to the root bus. */
  readonly clientPath: readonly PciDevice[];
  readonly common: PciDevice | null;
  readonly distance: number;
  /** Bridges counted as ACS redirect, in the kernel's order (provider path first). */
  readonly acsList: readonly PciDevice[];
  /** acs_redirects: a common node exists and ACS redirect was counted. */
  readonly acsRedirects: boolean;
  /** Whether the walk went on to map_through_host_bridge. */
  readonly throughHostBridge: boolean;
  readonly cpuAllows: boolean;
  /** The whitelist checks the kernel makes, in order (it stops at the first refusal across two host bridges). */
  readonly whitelist: readonly { readonly verdict: WhitelistVerdict; readonly sameHostBridge: boolean; readonly checkedByKernel: boolean }[];
  readonly whitelistAllows: boolean;
  readonly type: P2pMapType;
  /** What the kernel prints for this pair with verbose warnings, in order. */
  readonly kernelWarnings: readonly string[];
  readonly reasons: readonly string[];
}

function sameTopology(provider: PciDevice, clients: readonly PciDevice[]): void {
  for (const client of clients) {
    if (client.topology !== provider.topology) {
      throw new InvalidArgumentError(`${client.bdf} and ${provider.bdf} belong to different topologies`, { argument: 'client' });
    }
  }
}

// The kernel prints the ACS list from a 128-byte seq_buf: "BDF;" per bridge, the final ';' dropped. When the
// list does not fit, the buffer holds the first 127 characters and no ';' is dropped.
function kernelAcsList(bridges: readonly PciDevice[]): string {
  const full = bridges.map((b) => `${b.bdf};`).join('');
  return full.length <= 127 ? full.slice(0, -1) : full.slice(0, 127);
}

/**
 * Whether a transaction from `client` to `provider`'s memory may be routed through the host
 * bridge(s): AMD Zen or newer, or the whitelist allows it (models cpu_supports_p2pdma() ||
 * host_bridge_whitelist()). Used by simulated devices deciding whether a BAR's CPU address is
 * reachable. Throws ERR_INVALID_ARGUMENT for devices of different topologies. Pure.
 */
export function hostBridgeRouteAllowed(provider: PciDevice, client: PciDevice): boolean {
  sameTopology(provider, [client]);
  return cpuSupportsP2pdma(provider.topology.cpu) || whitelistChecks(provider, client).allowed;
}

// models host_bridge_whitelist(): one host bridge -> it must be listed; two -> both, without REQ_SAME_HOST_BRIDGE,
// the second looked at only when the first passes.
function whitelistChecks(provider: PciDevice, client: PciDevice): { allowed: boolean; checks: MapTypeWalk['whitelist'] } {
  const a = provider.hostBridge;
  const b = client.hostBridge;
  if (a === b) {
    const verdict = hostBridgeWhitelisted(a, true);
    return { allowed: verdict.allowed, checks: [{ verdict, sameHostBridge: true, checkedByKernel: true }] };
  }
  const va = hostBridgeWhitelisted(a, false);
  const vb = hostBridgeWhitelisted(b, false);
  return {
    allowed: va.allowed && vb.allowed,
    checks: [
      { verdict: va, sameHostBridge: false, checkedByKernel: true },
      { verdict: vb, sameHostBridge: false, checkedByKernel: va.allowed },
    ],
  };
}

/**
 * The whole walk of calc_map_type_and_dist() for one pair. Linear in the depth of the two devices (a map of the
 * client's ancestors replaces the kernel's nested loop; the result is the same). @internal
 */
export function walkMapType(provider: PciDevice, client: PciDevice): MapTypeWalk {
  sameTopology(provider, [client]);
  const clientDepth = new Map<PciDevice, number>();
  let clientChainLength = 0;
  for (let b: PciDevice | null = client; b; b = b.upstream) clientDepth.set(b, clientChainLength++);
  const providerPath: PciDevice[] = [];
  const acsList: PciDevice[] = [];
  let common: PciDevice | null = null;
  let distB = clientChainLength;
  for (let a: PciDevice | null = provider; a; a = a.upstream) {
    providerPath.push(a);
    if (a.acsRedirect) acsList.push(a);
    const depth = clientDepth.get(a);
    if (depth !== undefined) {
      common = a;
      distB = depth;
      break;
    }
  }
  const distA = common ? providerPath.length - 1 : providerPath.length;
  const distance = distA + distB;
  const clientPath: PciDevice[] = [];
  for (let b: PciDevice | null = client; b && b !== common; b = b.upstream) clientPath.push(b);
  const kernelWarnings: string[] = [];
  const reasons: string[] = [];
  let acsRedirects = false;
  if (common) {
    for (const b of clientPath) if (b.acsRedirect) acsList.push(b);
    if (acsList.length === 0) {
      return { providerPath, clientPath, common, distance, acsList, acsRedirects, throughHostBridge: false, cpuAllows: false, whitelist: [], whitelistAllows: false, type: 'BUS_ADDR', kernelWarnings, reasons };
    }
    kernelWarnings.push(`${client.bdf}: ACS redirect is set between the client and provider (${provider.bdf})`);
    kernelWarnings.push(`${client.bdf}: to disable ACS redirect for this path, add the kernel parameter: pci=disable_acs_redir=${kernelAcsList(acsList)}`);
    reasons.push(...kernelWarnings);
    acsRedirects = true;
  }
  // map_through_host_bridge:
  const cpuAllows = cpuSupportsP2pdma(provider.topology.cpu);
  const { allowed, checks } = whitelistChecks(provider, client);
  // The whitelist is consulted only when the CPU does not allow P2P by itself.
  const whitelist = checks.map((c) => ({ ...c, checkedByKernel: c.checkedByKernel && !cpuAllows }));
  for (const c of whitelist) {
    if (c.verdict.reason && !cpuAllows) reasons.push(c.verdict.reason);
    if (c.checkedByKernel && acsRedirects && c.verdict.kernelWarns && c.verdict.reason) kernelWarnings.push(c.verdict.reason);
  }
  let type: P2pMapType = 'THRU_HOST_BRIDGE';
  if (!cpuAllows && !allowed) {
    const refusal = `${client.bdf}: cannot be used for peer-to-peer DMA as the client and provider (${provider.bdf}) do not share an upstream bridge or whitelisted host bridge`;
    kernelWarnings.push(refusal);
    reasons.push(refusal);
    type = 'NOT_SUPPORTED';
  }
  return { providerPath, clientPath, common, distance, acsList, acsRedirects, throughHostBridge: true, cpuAllows, whitelist, whitelistAllows: allowed, type, kernelWarnings, reasons };
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
  const walk = walkMapType(provider, client);
  return {
    type: walk.type,
    distance: walk.distance,
    acsRedirect: walk.acsRedirects,
    reasons: walk.reasons,
    cpuDependent: walk.throughHostBridge && !walk.whitelistAllows,
  };
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
