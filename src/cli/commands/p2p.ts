// dma-bounce p2p: the P2P map type and distance of every ordered pair of endpoint functions.
import { mapType } from '../../pci/index.js';
import { parseOptions } from '../args.js';
import type { Command, Io } from '../command.js';
import { describeCpu, describeHostBridge } from '../describe.js';
import { formatTable } from '../output.js';
import { loadTopologySource, TOPOLOGY_OPTIONS, TOPOLOGY_USAGE } from '../topology-source.js';

const usage = `Usage: dma-bounce p2p (--topology FILE | --lspci FILE) [--acs-redirect BDF,...] [--cpu VENDOR:FAMILY|this] [--json]

For every ordered pair of distinct endpoint functions (provider, client): the P2PDMA map type
(BUS_ADDR, THRU_HOST_BRIDGE or NOT_SUPPORTED), the distance, whether ACS redirect is in the way,
and the kernel's reasons, following calc_map_type_and_dist() in drivers/pci/p2pdma.c. A verdict
marked * depends on the CPU, which was not given (assumed or inferred): see dma-bounce explain.

Options:
${TOPOLOGY_USAGE}
  --json                    print one JSON document: { "pairs": [ { provider, client, type, distance,
                            acsRedirect, reasons, cpuDependent } ] }
  -h, --help                show this help
`;

function run(argv: string[], io: Io): number {
  const values = parseOptions('p2p', argv, { ...TOPOLOGY_OPTIONS, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    io.stdout(usage);
    return 0;
  }
  const { topology, source } = loadTopologySource('p2p', values);
  const endpoints = topology.endpoints();
  // n^2 pairs, each walked in time proportional to the depth of the two devices.
  const pairs: ({ provider: string; client: string } & ReturnType<typeof mapType>)[] = [];
  for (const provider of endpoints) {
    for (const client of endpoints) if (client !== provider) pairs.push({ provider: provider.bdf, client: client.bdf, ...mapType(provider, client) });
  }
  if (values.json) {
    io.stdout(JSON.stringify({ pairs }, null, 2) + '\n');
    return 0;
  }
  const assumed = topology.cpuOrigin === 'unknown' || topology.cpuOrigin === 'inferred';
  const parts: string[] = [`Topology: ${source}\nCPU: ${describeCpu(topology)}\n`];
  for (const note of topology.notes) parts.push(`note: ${note}\n`);
  for (const hb of topology.hostBridges) parts.push(`Host bridge ${hb.name}: ${describeHostBridge(hb)}\n`);
  parts.push('\n');
  if (pairs.length === 0) {
    io.stdout(parts.join('') + 'Fewer than two endpoint functions: no pairs.\n');
    return 0;
  }
  parts.push(formatTable(
    ['PROVIDER', 'CLIENT', 'TYPE', 'DISTANCE', 'ACS'],
    pairs.map((pair) => [pair.provider, pair.client, `${pair.type}${assumed && pair.cpuDependent ? '*' : ''}`, String(pair.distance), pair.acsRedirect ? 'redirect' : '-']),
    ['left', 'left', 'left', 'right', 'left'],
  ));
  if (assumed && pairs.some((pair) => pair.cpuDependent)) parts.push(`\n* depends on the CPU (${topology.cpu ? 'inferred' : 'unknown'}): AMD Zen allows P2P through any host bridge; give --cpu to be sure\n`);
  const explained = pairs.filter((pair) => pair.reasons.length > 0);
  if (explained.length > 0) {
    parts.push('\nWhy:\n');
    for (const pair of explained) parts.push(`  ${pair.provider} -> ${pair.client}:\n${pair.reasons.map((reason) => `    ${reason}\n`).join('')}`);
  }
  io.stdout(parts.join(''));
  return 0;
}

export const command: Command = {
  name: 'p2p',
  summary: 'P2P map type and distance matrix of a topology (JSON or lspci)',
  usage,
  run,
};
