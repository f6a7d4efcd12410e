// dma-bounce explain: why the kernel maps one provider/client pair the way it does, and what would change it.
import { UsageError } from '../errors.js';
import { explainPair, formatExplanation } from '../../pci/index.js';
import { parseArgs } from 'node:util';
import type { Command, Io } from '../command.js';
import { loadTopologySource, TOPOLOGY_OPTIONS, TOPOLOGY_USAGE } from '../topology-source.js';

const usage = `Usage: dma-bounce explain (--topology FILE | --lspci FILE) [--cpu VENDOR:FAMILY|this] PROVIDER CLIENT [--json]

The kernel's walk (calc_map_type_and_dist() in drivers/pci/p2pdma.c) for PROVIDER (the device whose
memory is used, a BDF such as 0000:03:00.0) and CLIENT (the device doing DMA): every hop with its ACS
bits, where the paths meet and the distance, the host bridges and the whitelist entry or CPU rule that
applied, the verdict with the kernel's warnings, and what would change it: the pci=disable_acs_redir=
parameter (with its exact device list) and the IOMMU groups it merges, or why no setting can.

Options:
${TOPOLOGY_USAGE}
  --json                    print the explanation as one JSON document
  -h, --help                show this help
`;

function run(argv: string[], io: Io): number {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...TOPOLOGY_OPTIONS, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(`explain: ${(err as Error).message.split('\n')[0]} (see dma-bounce explain --help)`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(usage);
    return 0;
  }
  if (positionals.length !== 2) throw new UsageError(`explain: give PROVIDER and CLIENT (two BDFs), got ${positionals.length} argument(s) (see dma-bounce explain --help)`);
  const { topology } = loadTopologySource('explain', values);
  const [provider, client] = positionals.map((bdf) => topology.device(bdf.trim().toLowerCase())) as [ReturnType<typeof topology.device>, ReturnType<typeof topology.device>];
  const explanation = explainPair(topology, provider, client);
  io.stdout(values.json ? `${JSON.stringify(explanation, null, 2)}\n` : formatExplanation(explanation));
  return 0;
}

export const command: Command = {
  name: 'explain',
  summary: 'why a provider/client pair gets its P2P verdict, and the kernel parameter that would change it',
  usage,
  run,
};
