// dma-bounce topo: the topology tree with each function's BARs, ACS bits, IOMMU group and trust.
import { formatSize } from '../../size.js';
import { acsNames } from '../../pci/acs.js';
import { iommuGroupOf, iommuGroups, topologyToJson, type PciBar, type PciDevice } from '../../pci/index.js';
import { parseOptions } from '../args.js';
import type { Command, Io } from '../command.js';
import { describeCpu, describeHostBridge } from '../describe.js';
import { hexAddress } from '../output.js';
import { loadTopologySource, TOPOLOGY_OPTIONS, TOPOLOGY_USAGE } from '../topology-source.js';

const usage = `Usage: dma-bounce topo (--topology FILE | --lspci FILE) [--acs-redirect BDF,...] [--external-facing BDF,...] [--cpu VENDOR:FAMILY|this] [--json]

Prints the topology as a tree: host bridges (MMIO window, bus offset, whitelist identity), bridges with
their secondary bus, port type and ACS bits, every function's IOMMU group (as pci_device_group() forms
it) and whether it is untrusted (below an external-facing port), and the BARs: the machine's own address
and size as lspci showed them, flags, Resizable BAR sizes, and the model's address map (phys, bus, p2pmem).

Options:
${TOPOLOGY_USAGE}
  --json                    print the topology in the JSON loader format with every address filled in
                            (so lspci output can be converted to topology JSON)
  -h, --help                show this help
`;

function barLine(bar: PciBar, pad: string): string {
  const x = bar.details;
  const real = x.reportedSize === null ? 'size ?' : formatSize(x.reportedSize);
  // Flags only where the description says something (lspci does; a hand-written JSON may not).
  const known = x.address !== undefined || x.prefetchable || x.is64bit || x.unassigned;
  const flags = known ? ` (${[x.is64bit ? '64-bit' : '32-bit', x.prefetchable ? 'prefetchable' : 'non-prefetchable', x.disabled ? 'disabled' : '', x.virtual ? 'virtual' : '', x.unassigned ? 'unassigned' : ''].filter(Boolean).join(', ')})` : '';
  const at = x.address ? ` at ${x.address}` : '';
  const rebar = x.resizable ? `  resizable ${formatSize(x.resizable.current)} of ${x.resizable.supported.map(formatSize).join(' ')}` : '';
  const provider = bar.provider ? `  p2pmem${bar.provider.published ? '' : ' (unpublished)'}` : '';
  return `${pad}    BAR${bar.index}  ${real}${at}${flags}${rebar}  phys ${hexAddress(bar.phys)}  bus ${hexAddress(bar.busAddress)}${provider}\n`;
}

function deviceLines(device: PciDevice, depth: number, out: string[]): void {
  const pad = '  '.repeat(depth);
  const parts = [device.bdf, device.portType && device.portType !== device.kind ? `${device.kind} (${device.portType})` : device.kind];
  if (device.ids) parts.push(`[${device.ids}]`);
  if (device.isBridge) parts.push(device.secondaryBus === undefined ? '-> (no secondary bus)' : `-> bus ${device.secondaryBus.toString(16).padStart(2, '0')}`);
  parts.push(`group ${iommuGroupOf(device).id}`);
  if (device.externalFacing) parts.push('external-facing');
  if (device.untrusted) parts.push('untrusted');
  if (device.acs) parts.push(`ACS ${acsNames(device.acs.control).join('+') || '-'}${device.acsRedirect ? ' (redirect)' : ''}`);
  else if (device.acsRedirect) parts.push('ACS-redirect');
  if (device.slot) parts.push(`slot ${device.slot.physical ?? device.slot.number ?? '?'}${device.slot.hotPlug ? ' hot-plug' : ''}${device.slot.surprise ? ' surprise' : ''}`);
  if (device.sriov?.totalVfs !== undefined) parts.push(`SR-IOV ${device.sriov.numVfs ?? 0}/${device.sriov.totalVfs} VFs`);
  if (device.name) parts.push(device.name);
  out.push(`${pad}${parts.join('  ')}\n`);
  for (const bar of device.bars) out.push(barLine(bar, pad));
}

function run(argv: string[], io: Io): number {
  const values = parseOptions('topo', argv, { ...TOPOLOGY_OPTIONS, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    io.stdout(usage);
    return 0;
  }
  const { topology, source } = loadTopologySource('topo', values);
  if (values.json) {
    io.stdout(topologyToJson(topology) + '\n');
    return 0;
  }
  const out: string[] = [`Topology: ${source}\nCPU: ${describeCpu(topology)}\n`];
  for (const note of topology.notes) out.push(`note: ${note}\n`);
  for (const hb of topology.hostBridges) {
    out.push(`\nHost bridge ${hb.name}: MMIO ${hexAddress(hb.mmioBase)} (${formatSize(hb.mmioSize)}), bus offset ${hexAddress(hb.busOffset)}, ${describeHostBridge(hb)}\n`);
    // Depth first with an explicit stack: a deep chain of bridges cannot overflow the call stack.
    const stack: { device: PciDevice; depth: number }[] = [];
    for (let i = hb.devices.length - 1; i >= 0; i--) stack.push({ device: hb.devices[i]!, depth: 1 });
    while (stack.length > 0) {
      const { device, depth } = stack.pop()!;
      deviceLines(device, depth, out);
      for (let i = device.children.length - 1; i >= 0; i--) stack.push({ device: device.children[i]!, depth: depth + 1 });
    }
  }
  const groups = iommuGroups(topology);
  const shared = groups.filter((g) => g.devices.length > 1);
  out.push(`\nIOMMU groups: ${groups.length} (pci_device_group(); ${shared.length} shared by several functions)\n`);
  for (const g of shared) out.push(`  group ${g.id}: ${g.devices.map((d) => d.bdf).join(' ')}\n`);
  const untrusted = topology.devices().filter((d) => d.untrusted);
  out.push(`Untrusted functions: ${untrusted.length === 0 ? 'none' : untrusted.map((d) => d.bdf).join(' ')}\n`);
  io.stdout(out.join(''));
  return 0;
}

export const command: Command = {
  name: 'topo',
  summary: 'the PCI topology tree with BARs, ACS, IOMMU groups and untrusted functions',
  usage,
  run,
};
