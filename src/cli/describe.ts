// Shared one-line descriptions of a topology's CPU and host bridges for command output.
import { cpuSupportsP2pdma, hostBridgeDevice, whitelistEntry, type HostBridge, type Topology } from '../pci/index.js';

const ORIGIN: Readonly<Record<string, string>> = {
  description: 'from the topology',
  option: 'from --cpu',
  'this-machine': 'this machine',
  inferred: 'inferred from the host bridge',
};

/** "GenuineIntel family 6 (0x6)" or the assumption made; says whether P2P through host bridges is allowed by the CPU. */
export function describeCpu(topology: Topology): string {
  const cpu = topology.cpu;
  if (!cpu) return 'unknown: assumed not AMD Zen (P2P through a host bridge needs the whitelist); verdicts marked * depend on it (give --cpu)';
  const origin = ORIGIN[topology.cpuOrigin] ? ` [${ORIGIN[topology.cpuOrigin]}]` : '';
  const base = `${cpu.vendor} family ${cpu.family} (0x${cpu.family.toString(16)})${origin}`;
  return cpuSupportsP2pdma(cpu) ? `${base}: AMD Zen or newer, P2P through any host bridge` : `${base}: P2P through a host bridge needs the whitelist`;
}

/** The host bridge's identity device and whitelist status, in words. */
export function describeHostBridge(hb: HostBridge): string {
  const root = hostBridgeDevice(hb);
  if (!root) return 'no identity device (not whitelisted)';
  const entry = whitelistEntry(root);
  const ids = root.ids ?? 'IDs unknown';
  if (!entry) return `identity ${root.bdf} [${ids}], not whitelisted`;
  return `identity ${root.bdf} [${ids}], whitelisted${entry.requireSameHostBridge ? ' (same host bridge only)' : ''}`;
}
