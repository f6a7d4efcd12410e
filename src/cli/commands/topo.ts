// dma-bounce topo: the topology tree with each function's BARs and addresses.
import { formatSize } from '../../size.js';
import type { PciDevice } from '../../pci/index.js';
import { topologyToJson } from '../../pci/index.js';
import { parseOptions } from '../args.js';
import type { Command, Io } from '../command.js';
import { describeCpu, describeHostBridge } from '../describe.js';
import { hexAddress } from '../output.js';
import { loadTopologySource, TOPOLOGY_OPTIONS, TOPOLOGY_USAGE } from '../topology-source.js';

const usage = `Usage: dma-bounce topo (--topology FILE | --lspci FILE) [--acs-redirect BDF,...] [--cpu VENDOR:FAMILY] [--json]

Prints the topology as a tree: host bridges (MMIO window, bus offset, whitelist identity), bridges with
their secondary bus and ACS redirect, endpoints with their BARs (CPU physical base, bus address, p2pmem).

Options:
${TOPOLOGY_USAGE}
  --json                  print the topology in the JSON loader format with every address filled in
                          (so lspci output can be converted to topology JSON)
  -h, --help              show this help
`;

function deviceLines(device: PciDevice, depth: number): string {
  const pad = '  '.repeat(depth);
  const parts = [device.bdf, device.kind];
  if (device.ids) parts.push(`[${device.ids}]`);
  if (device.isBridge) parts.push(device.secondaryBus === undefined ? '-> (no secondary bus)' : `-> bus ${device.secondaryBus.toString(16).padStart(2, '0')}`);
  if (device.acsRedirect) parts.push('ACS-redirect');
  if (device.name) parts.push(device.name);
  let text = `${pad}${parts.join('  ')}\n`;
  for (const bar of device.bars) {
    const provider = bar.provider ? `  p2pmem${bar.provider.published ? '' : ' (unpublished)'}` : '';
    text += `${pad}    BAR${bar.index}  ${formatSize(bar.size)}  phys ${hexAddress(bar.phys)}  bus ${hexAddress(bar.busAddress)}${provider}\n`;
  }
  for (const child of device.children) text += deviceLines(child, depth + 1);
  return text;
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
  let text = `Topology: ${source}\nCPU: ${describeCpu(topology)}\n`;
  for (const hb of topology.hostBridges) {
    text += `\nHost bridge ${hb.name}: MMIO ${hexAddress(hb.mmioBase)} (${formatSize(hb.mmioSize)}), bus offset ${hexAddress(hb.busOffset)}, ${describeHostBridge(hb)}\n`;
    for (const device of hb.devices) text += deviceLines(device, 1);
  }
  io.stdout(text);
  return 0;
}

export const command: Command = {
  name: 'topo',
  summary: 'the PCI topology tree with BARs, addresses and p2pmem',
  usage,
  run,
};
