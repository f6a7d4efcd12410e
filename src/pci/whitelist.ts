// The host-bridge whitelist for P2P through the root complex, and a host bridge's identity.
import { hex } from './bdf.js';
import type { HostBridge, PciDevice } from './topology.js';

/** One whitelist entry: a host bridge (or root port) by vendor:device ID. */
export interface WhitelistEntry {
  readonly vendor: number;
  readonly device: number;
  /** Listed only for P2P between devices under the same host bridge (the kernel's REQ_SAME_HOST_BRIDGE). */
  readonly requireSameHostBridge: boolean;
  readonly platform: string;
}

const INTEL = 0x8086;

/** models pci_p2pdma_whitelist[] (the entries kernel-facts.md lists; newer trees add DSA/IAA/QAT and Google entries). */
export const P2PDMA_WHITELIST: readonly WhitelistEntry[] = [
  { vendor: INTEL, device: 0x3c00, requireSameHostBridge: true, platform: 'Intel Xeon E5/Core i7' },
  { vendor: INTEL, device: 0x3c01, requireSameHostBridge: true, platform: 'Intel Xeon E5/Core i7' },
  { vendor: INTEL, device: 0x2f00, requireSameHostBridge: true, platform: 'Intel Xeon E7 v3/Xeon E5 v3/Core i7' },
  { vendor: INTEL, device: 0x2f01, requireSameHostBridge: true, platform: 'Intel Xeon E7 v3/Xeon E5 v3/Core i7' },
  { vendor: INTEL, device: 0x2030, requireSameHostBridge: false, platform: 'Intel Skylake-E' },
  { vendor: INTEL, device: 0x2031, requireSameHostBridge: false, platform: 'Intel Skylake-E' },
  { vendor: INTEL, device: 0x2032, requireSameHostBridge: false, platform: 'Intel Skylake-E' },
  { vendor: INTEL, device: 0x2033, requireSameHostBridge: false, platform: 'Intel Skylake-E' },
  { vendor: INTEL, device: 0x2020, requireSameHostBridge: false, platform: 'Intel Skylake-E' },
  { vendor: INTEL, device: 0x09a2, requireSameHostBridge: false, platform: '3rd Gen Intel Xeon Scalable' },
];

/**
 * The device that identifies a host bridge: the first device on its root bus, if that is devfn 00.0 or a
 * root port; otherwise null (models pci_host_bridge_dev()). Never throws.
 */
export function hostBridgeDevice(hostBridge: HostBridge): PciDevice | null {
  const first = hostBridge.devices[0];
  if (!first) return null;
  if (first.devfn === 0 || first.kind === 'root-port') return first;
  return null;
}

/** The whitelist entry for a device's IDs, or undefined. Never throws. */
export function whitelistEntry(device: PciDevice): WhitelistEntry | undefined {
  return P2PDMA_WHITELIST.find((entry) => entry.vendor === device.vendorId && entry.device === device.deviceId);
}

/** Whether a host bridge passes the whitelist, and if not, a message saying why. */
export interface WhitelistVerdict {
  readonly allowed: boolean;
  readonly reason?: string;
}

/**
 * Whether P2P may go through `hostBridge` (models __host_bridge_whitelist()). `sameHostBridge` says whether
 * provider and client share it. The kernel warns only for an unlisted bridge; `reason` also explains the two
 * silent refusals (no identity device; listed for same-host-bridge P2P only). Never throws.
 */
export function hostBridgeWhitelisted(hostBridge: HostBridge, sameHostBridge: boolean): WhitelistVerdict {
  const root = hostBridgeDevice(hostBridge);
  if (!root) {
    return {
      allowed: false,
      reason: `host bridge ${hostBridge.name} has no identifying device (its first device is neither 00.0 nor a root port), so it cannot be whitelisted`,
    };
  }
  const entry = whitelistEntry(root);
  if (!entry) {
    const ids = `${root.vendorId === undefined ? '????' : hex(root.vendorId, 4)}:${root.deviceId === undefined ? '????' : hex(root.deviceId, 4)}`;
    return { allowed: false, reason: `${root.bdf}: Host bridge not in P2PDMA whitelist: ${ids}` };
  }
  if (entry.requireSameHostBridge && !sameHostBridge) {
    return {
      allowed: false,
      reason: `${root.bdf}: host bridge ${root.ids} is whitelisted only for peer-to-peer DMA under the same host bridge`,
    };
  }
  return { allowed: true };
}
