// The host-bridge whitelist for P2P through the root complex, and a host bridge's identity.
import { hex } from './bdf.js';
import type { HostBridge, PciDevice } from './topology.js';

/** One whitelist entry: a host bridge (or root port) by vendor and device ID; `device` null matches every device (PCI_ANY_ID). */
export interface WhitelistEntry {
  readonly vendor: number;
  readonly device: number | null;
  /** Listed only for P2P between devices under the same host bridge (the kernel's REQ_SAME_HOST_BRIDGE). */
  readonly requireSameHostBridge: boolean;
  readonly platform: string;
}

const INTEL = 0x8086;
const GOOGLE = 0x1ae0;
const NVIDIA = 0x10de;
const entry = (vendor: number, device: number | null, platform: string, requireSameHostBridge = false): WhitelistEntry => ({ vendor, device, requireSameHostBridge, platform });

/**
 * models pci_p2pdma_whitelist[] of drivers/pci/p2pdma.c in mainline (torvalds/linux) as of the v7.3 merge window
 * (2026), in the kernel's order: the first entry whose vendor and device match decides. Not included: the Zhaoxin
 * entries (1d17:1003, 1005, 1006, 1007 same host bridge only, and 1008) queued for v7.4 but not in mainline.
 */
export const P2PDMA_WHITELIST: readonly WhitelistEntry[] = [
  entry(INTEL, 0x3c00, 'Intel Xeon E5/Core i7', true),
  entry(INTEL, 0x3c01, 'Intel Xeon E5/Core i7', true),
  entry(INTEL, 0x2f00, 'Intel Xeon E7 v3/Xeon E5 v3/Core i7', true),
  entry(INTEL, 0x2f01, 'Intel Xeon E7 v3/Xeon E5 v3/Core i7', true),
  entry(INTEL, 0x2030, 'Intel Skylake-E'),
  entry(INTEL, 0x2031, 'Intel Skylake-E'),
  entry(INTEL, 0x2032, 'Intel Skylake-E'),
  entry(INTEL, 0x2033, 'Intel Skylake-E'),
  entry(INTEL, 0x2020, 'Intel Skylake-E'),
  entry(INTEL, 0x09a2, '3rd Gen Intel Xeon Scalable'),
  // Intel accelerators that sit first on a root bus of their own (Sapphire Rapids and later).
  entry(INTEL, 0x0b25, 'Intel DSA (Sapphire Rapids)'),
  entry(INTEL, 0x0cfe, 'Intel IAX (Sapphire Rapids)'),
  entry(INTEL, 0x11fb, 'Intel DSA (Granite Rapids-D)'),
  entry(INTEL, 0x1212, 'Intel DSA (Diamond Rapids)'),
  entry(INTEL, 0x1216, 'Intel IAA (Diamond Rapids)'),
  entry(INTEL, 0x4940, 'Intel QAT 4xxx'),
  entry(INTEL, 0x4942, 'Intel QAT 401xx'),
  entry(INTEL, 0x4944, 'Intel QAT 402xx'),
  entry(INTEL, 0x4946, 'Intel QAT 420xx'),
  entry(INTEL, 0x4948, 'Intel QAT 6xxx'),
  entry(GOOGLE, null, 'Google SoCs'),
  entry(NVIDIA, 0x2f95, 'NVIDIA Vera'),
  entry(NVIDIA, 0x2f96, 'NVIDIA Vera'),
  entry(NVIDIA, 0x2f97, 'NVIDIA Vera'),
  entry(NVIDIA, 0x2f98, 'NVIDIA Vera'),
];

/**
 * The device that identifies a host bridge: the first device on its root bus, if that is devfn 00.0 or a
 * PCIe root port; otherwise null (models pci_host_bridge_dev()). Where the port type is unknown (lspci -t), a
 * bridge the tree shows on the root bus counts as a root port. Never throws.
 */
export function hostBridgeDevice(hostBridge: HostBridge): PciDevice | null {
  const first = hostBridge.devices[0];
  if (!first) return null;
  if (first.devfn === 0) return first;
  if (first.portType === 'root-port' || (first.portType === undefined && first.kind === 'root-port')) return first;
  return null;
}

/** The first whitelist entry matching a device's IDs, or undefined (the kernel's loop over pci_p2pdma_whitelist[]). Never throws. */
export function whitelistEntry(device: PciDevice): WhitelistEntry | undefined {
  if (device.vendorId === undefined) return undefined;
  return P2PDMA_WHITELIST.find((e) => e.vendor === device.vendorId && (e.device === null || e.device === device.deviceId));
}

/** Whether a host bridge passes the whitelist, and if not, a message saying why. */
export interface WhitelistVerdict {
  readonly allowed: boolean;
  /** The identity device that was looked up (null when the host bridge has none). */
  readonly identity: PciDevice | null;
  /** The entry that matched, if any. */
  readonly entry?: WhitelistEntry;
  readonly reason?: string;
  /** True when the kernel itself prints `reason` (only "Host bridge not in P2PDMA whitelist", and only when warning). */
  readonly kernelWarns?: boolean;
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
      identity: null,
      reason: `host bridge ${hostBridge.name} has no identifying device (its first device is neither 00.0 nor a root port), so it cannot be whitelisted`,
    };
  }
  const match = whitelistEntry(root);
  if (!match) {
    const ids = `${root.vendorId === undefined ? '????' : hex(root.vendorId, 4)}:${root.deviceId === undefined ? '????' : hex(root.deviceId, 4)}`;
    return { allowed: false, identity: root, reason: `${root.bdf}: Host bridge not in P2PDMA whitelist: ${ids}`, kernelWarns: true };
  }
  if (match.requireSameHostBridge && !sameHostBridge) {
    return {
      allowed: false,
      identity: root,
      entry: match,
      reason: `${root.bdf}: host bridge ${root.ids} is whitelisted only for peer-to-peer DMA under the same host bridge`,
    };
  }
  return { allowed: true, identity: root, entry: match };
}
