// The options every topology command shares: where the topology comes from, and what lspci cannot say.
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.js';
import { UsageError } from './errors.js';
import { readInput } from './input.js';
import { cpuFromCpuinfo, loadLspci, loadTopologyJson, parseCpu, type Cpu, type Topology, type TopologyOverrides } from '../pci/index.js';

/** parseArgs option definitions for the topology source. */
export const TOPOLOGY_OPTIONS = {
  topology: { type: 'string' },
  lspci: { type: 'string' },
  'acs-redirect': { type: 'string', multiple: true },
  'external-facing': { type: 'string', multiple: true },
  cpu: { type: 'string' },
} as const;

/** Usage lines for the topology source options. */
export const TOPOLOGY_USAGE = `  --topology FILE           topology JSON (see docs/topology.md); - reads stdin
  --lspci FILE              lspci output: the tree (-tv, -tvnn), the full dump (-vv, -vvv, -vvvnn, -D, -PP,
                            with or without -x hex dumps), or both one after the other; - reads stdin
  --acs-redirect BDF,...    functions with ACS redirect (RR, CR or EC) set; repeatable
  --external-facing BDF,... ports that face the outside (their devices are untrusted); repeatable
  --cpu VENDOR:FAMILY|this  e.g. AuthenticAMD:25 or GenuineIntel:6 (family decimal or 0x-hex); "this" reads
                            /proc/cpuinfo. Without it: the description's CPU, or one inferred from the host
                            bridge, or unknown (assumed not AMD Zen; the verdicts that depend on it are marked)`;

/** What loadTopologySource() needs from the parsed options. */
export interface TopologySourceValues {
  topology?: string | undefined;
  lspci?: string | undefined;
  'acs-redirect'?: string[] | undefined;
  'external-facing'?: string[] | undefined;
  cpu?: string | undefined;
}

function bdfList(values: string[] | undefined): string[] | undefined {
  return values?.flatMap((list) => list.split(',')).map((bdf) => bdf.trim().toLowerCase()).filter((bdf) => bdf !== '');
}

/**
 * The CPU a --cpu value names: VENDOR:FAMILY, or `this` (this machine's /proc/cpuinfo, or `cpuinfoPath`).
 * Throws InvalidArgumentError (ERR_INVALID_ARGUMENT, argument 'cpu') for a malformed value or an unreadable file.
 */
export function cpuOption(value: string, cpuinfoPath = '/proc/cpuinfo'): Cpu {
  if (value !== 'this') return parseCpu(value);
  let text: string;
  try {
    text = readFileSync(cpuinfoPath, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`--cpu this: cannot read ${cpuinfoPath}: ${(err as Error).message}`, { argument: 'cpu', cause: err });
  }
  return cpuFromCpuinfo(text);
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
  const acs = bdfList(values['acs-redirect']);
  if (acs !== undefined) overrides.acsRedirect = acs;
  const external = bdfList(values['external-facing']);
  if (external !== undefined) overrides.externalFacing = external;
  if (values.cpu !== undefined) overrides.cpu = cpuOption(values.cpu);
  const file = (values.topology ?? values.lspci)!;
  const text = readInput(file);
  const topology = values.topology !== undefined ? loadTopologyJson(text, overrides) : loadLspci(text, overrides);
  return { topology, source: file === '-' ? 'stdin' : file };
}
