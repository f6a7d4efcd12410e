// Public names of the PCI topology layer. Re-exports only.
export { parseBdf, formatBdf, formatBus, compareBdf, type Bdf } from './bdf.js';
export {
  Topology,
  HostBridge,
  PciDevice,
  PciBar,
  buildTopology,
  applyOverrides,
  parseCpu,
  DEVICE_KINDS,
  DEFAULT_MMIO_BASE,
  DEFAULT_MMIO_SIZE,
  DEFAULT_MMIO_STRIDE,
  DEFAULT_BUS_OFFSET,
  MIN_BAR_SIZE,
  type DeviceKind,
  type Cpu,
  type AddressSpec,
  type BarSpec,
  type DeviceSpec,
  type HostBridgeSpec,
  type TopologySpec,
  type TopologyOverrides,
} from './topology.js';
export { loadTopologyJson, topologyToJson } from './json.js';
export { parseLspciTree, loadLspci, type LspciOptions } from './lspci.js';
export { mapType, distanceMany, findProvider, cpuSupportsP2pdma, hostBridgeRouteAllowed, type P2pMapType, type MapTypeResult, type FoundProvider } from './p2pdma.js';
export { P2PDMA_WHITELIST, hostBridgeDevice, hostBridgeWhitelisted, whitelistEntry, type WhitelistEntry, type WhitelistVerdict } from './whitelist.js';
export { P2pmemProvider, P2PMEM_PAGE_SIZE, type P2pmemAllocation } from './p2pmem.js';
