// The options `p2p` and `topo` share: where the topology comes from, and what lspci cannot say.
import { UsageError } from './errors.js';
import { readInput } from './input.js';
import { loadLspci, loadTopologyJson, parseCpu, type Topology, type TopologyOverrides } from '../pci/index.js';

/** parseArgs option definitions for the topology source. */
export const TOPOLOGY_OPTIONS = {
  topology: { type: 'string' },
  lspci: { type: 'string' },
  'acs-redirect': { type: 'string', multiple: true },
  cpu: { type: 'string' },
} as const;

/** Usage lines for the topology source options. */
export const TOPOLOGY_USAGE = `  --topology FILE         topology JSON (see docs/topology.md); - reads stdin
  --lspci FILE            output of lspci -tv or lspci -tvnn; - reads stdin
  --acs-redirect BDF,...  functions with ACS redirect (RR, CR or EC) set; repeatable
  --cpu VENDOR:FAMILY     e.g. AuthenticAMD:25 or GenuineIntel:6 (family decimal or 0x-hex)`;

/** What loadTopologySource() needs from the parsed options. */
export interface TopologySourceValues {
  topology?: string | undefined;
  lspci?: string | undefined;
  'acs-redirect'?: string[] | undefined;
  cpu?: string | undefined;
}

/**
 * Loads the topology named by the options. Returns it with a label for output. Throws UsageError (ERR_USAGE)
 * unless exactly one of --topology and --lspci is given, InputFileError (ERR_INPUT_FILE) when the file
 * (`-`: stdin) cannot be read, InvalidArgumentError (ERR_INVALID_ARGUMENT) when an option is malformed, and the loaders' errors (ERR_TOPOLOGY, ERR_LSPCI_PARSE,
 * ERR_UNKNOWN_DEVICE).
 */
export function loadTopologySource(command: string, values: TopologySourceValues): { topology: Topology; source: string } {
  if ((values.topology === undefined) === (values.lspci === undefined)) {
    throw new UsageError(`${command}: give exactly one of --topology FILE and --lspci FILE (see dma-bounce ${command} --help)`);
  }
  const overrides: TopologyOverrides = {};
  if (values['acs-redirect'] !== undefined) {
    overrides.acsRedirect = values['acs-redirect'].flatMap((list) => list.split(',')).map((bdf) => bdf.trim().toLowerCase()).filter((bdf) => bdf !== '');
  }
  if (values.cpu !== undefined) overrides.cpu = parseCpu(values.cpu);
  const file = (values.topology ?? values.lspci)!;
  const text = readInput(file);
  const topology = values.topology !== undefined ? loadTopologyJson(text, overrides) : loadLspci(text, overrides);
  return { topology, source: file === '-' ? 'stdin' : file };
}
