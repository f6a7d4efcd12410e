// Public names of the PCI topology layer. Re-exports only.
export { parseBdf, formatBdf, formatBus, compareBdf, type Bdf } from './bdf.js';
export {
  Topology,
  HostBridge,
  PciDevice,
  PciBar,
  buildTopology,
  applyOverrides,
  DEVICE_KINDS,
  PORT_TYPES,
  DEFAULT_MMIO_BASE,
  DEFAULT_MMIO_SIZE,
  DEFAULT_MMIO_STRIDE,
  DEFAULT_BUS_OFFSET,
  MIN_BAR_SIZE,
  type DeviceKind,
  type PortType,
  type AddressSpec,
  type BarSpec,
  type BarDetails,
  type AcsSpec,
  type SlotSpec,
  type SriovSpec,
  type SriovBarSpec,
  type ResizableBarSpec,
  type DeviceSpec,
  type HostBridgeSpec,
  type TopologySpec,
  type TopologyOverrides,
  type BuildOptions,
} from './topology.js';
export { parseCpu, cpuFromCpuinfo, cpuSupportsP2pdma, inferCpuFromHostBridge, type Cpu, type CpuOrigin, type InferredCpu } from './cpu.js';
export {
  ACS_FLAG_NAMES,
  ACS_REDIRECT_MASK,
  REQ_ACS_FLAGS,
  PCI_ACS_SV,
  PCI_ACS_TB,
  PCI_ACS_RR,
  PCI_ACS_CR,
  PCI_ACS_UF,
  PCI_ACS_EC,
  PCI_ACS_DT,
  type AcsFlagName,
  type AcsState,
} from './acs.js';
export { loadTopologyJson, topologyToJson } from './json.js';
export { parseLspciTree, parseLspciDump, parseLspci, loadLspci, type LspciOptions, type ParsedLspci, type DumpFunction } from './lspci.js';
export { mapType, distanceMany, findProvider, hostBridgeRouteAllowed, type P2pMapType, type MapTypeResult, type FoundProvider } from './p2pdma.js';
export { P2PDMA_WHITELIST, hostBridgeDevice, hostBridgeWhitelisted, whitelistEntry, type WhitelistEntry, type WhitelistVerdict } from './whitelist.js';
export { iommuGroups, iommuGroupOf, acsEnabled, acsPathEnabled, type IommuGroup } from './iommu-group.js';
export { parseAcsParameters, applyAcsParameters, type AcsParameters } from './kernel-params.js';
export { P2pmemProvider, P2PMEM_PAGE_SIZE, type P2pmemAllocation } from './p2pmem.js';
export { explainPair, formatExplanation, type Explanation, type ExplainHop, type ExplainChange, type ExplainWhitelistCheck } from './explain.js';
