// The ACS part of the kernel command line: pci=disable_acs_redir= and pci=config_acs=, parsed as
// Documentation/admin-guide/kernel-parameters.txt describes them and applied as pci_enable_acs() does
// (__pci_config_acs(), pci_dev_str_match()). The result is a new topology whose ACS control bits are what the
// kernel would write at the next boot.
import { InvalidArgumentError } from '../errors.js';
import { ACS_REDIRECT_MASK, PCI_ACS_ALL, PCI_ACS_RR, acsNames } from './acs.js';
import { buildTopology, Topology, type DeviceSpec, type PciDevice } from './topology.js';

/** The ACS options found in a `pci=` parameter. */
export interface AcsParameters {
  /** The device list of disable_acs_redir=, when given. */
  readonly disableAcsRedir?: string;
  /** The list of config_acs= (`flags@device;...`), when given. */
  readonly configAcs?: string;
}

/**
 * Reads the ACS options of a kernel parameter: `pci=disable_acs_redir=0000:02:01.0;0000:02:02.0`,
 * `pci=config_acs=xx0x00xx@0000:02:01.0`, several `pci=` words, or options joined by ',' as pci_setup() splits
 * them. Returns the options. Throws InvalidArgumentError (ERR_INVALID_ARGUMENT, argument 'parameter') for text that
 * holds neither option. Pure.
 */
export function parseAcsParameters(parameter: string): AcsParameters {
  if (typeof parameter !== 'string' || parameter.length > 4096) throw new InvalidArgumentError('parameter must be a string of at most 4096 characters', { argument: 'parameter' });
  let disableAcsRedir: string | undefined;
  let configAcs: string | undefined;
  for (const word of parameter.split(/\s+/)) {
    if (word === '') continue;
    if (!word.startsWith('pci=')) throw new InvalidArgumentError(`parameter: expected pci=disable_acs_redir=... or pci=config_acs=..., got "${word.slice(0, 60)}"`, { argument: 'parameter' });
    for (const option of word.slice(4).split(',')) {
      if (option.startsWith('disable_acs_redir=')) disableAcsRedir = option.slice(18);
      else if (option.startsWith('config_acs=')) configAcs = option.slice(11);
      else throw new InvalidArgumentError(`parameter: pci option "${option.slice(0, 60)}" is neither disable_acs_redir= nor config_acs=`, { argument: 'parameter' });
    }
  }
  if (disableAcsRedir === undefined && configAcs === undefined) throw new InvalidArgumentError('parameter: no pci=disable_acs_redir= or pci=config_acs= option', { argument: 'parameter' });
  return { ...(disableAcsRedir !== undefined ? { disableAcsRedir } : {}), ...(configAcs !== undefined ? { configAcs } : {}) };
}

const HEX = /^[0-9a-fA-F]{1,8}$/;

// models pci_dev_str_match(): "pci:vvvv:dddd[:ssss:ssss]" (IDs; 0 matches any) or a path
// "[domain:]bus:dev.fn[/dev.fn]*" from the top bridge down. Returns 1 match, 0 no match, -1 malformed, and the
// text consumed (up to the next ';' or ',').
function matchDevice(device: PciDevice, text: string): { ret: number; rest: string } {
  let end = text.length;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === ';' || text[i] === ',') {
      end = i;
      break;
    }
  }
  const item = text.slice(0, end);
  const rest = text.slice(end);
  if (item.startsWith('pci:')) {
    const ids = item.slice(4).split(':');
    if ((ids.length !== 2 && ids.length !== 4) || !ids.every((part) => HEX.test(part))) return { ret: -1, rest };
    const [vendor, dev] = ids.map((part) => Number.parseInt(part, 16)) as [number, number];
    // Subsystem IDs are not in a topology: an entry that names them never matches.
    if (ids.length === 4 && (Number.parseInt(ids[2]!, 16) !== 0 || Number.parseInt(ids[3]!, 16) !== 0)) return { ret: 0, rest };
    const hit = (vendor === 0 || vendor === device.vendorId) && (dev === 0 || dev === device.deviceId);
    return { ret: hit ? 1 : 0, rest };
  }
  const components = item.split('/');
  let at: PciDevice | null = device;
  for (let i = components.length - 1; i >= 1; i--) {
    const m = /^([0-9a-fA-F]{1,2})\.([0-7])$/.exec(components[i]!);
    if (!m) return { ret: -1, rest };
    if (!at || at.devfn !== ((Number.parseInt(m[1]!, 16) << 3) | Number(m[2]))) return { ret: 0, rest };
    at = at.upstream;
    if (!at) return { ret: 0, rest };
  }
  const m = /^(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])$/.exec(components[0]!);
  if (!m) return { ret: -1, rest };
  const segment = m[1] === undefined ? 0 : Number.parseInt(m[1], 16);
  const hit = at !== null && at.segment === segment && at.bus === Number.parseInt(m[2]!, 16) && at.devfn === ((Number.parseInt(m[3]!, 16) << 3) | Number(m[4]));
  return { ret: hit ? 1 : 0, rest };
}

// models __pci_config_acs(): the first list entry naming the device decides its mask and flags; then
// ctrl = (fw_ctrl & ~mask) | (flags & mask). Returns the new control, or undefined when no entry names the device.
function configAcs(device: PciDevice, list: string, fixed: { mask: number; flags: number } | undefined, name: string): { mask: number; flags: number } | undefined {
  let p = list;
  while (p.length > 0) {
    let mask = fixed?.mask ?? 0;
    let flags = fixed?.flags ?? 0;
    if (!fixed) {
      const at = p.indexOf('@');
      if (at < 0) throw new InvalidArgumentError(`${name}: ACS flags missing (expected FLAGS@DEVICE, flags of 0, 1, x)`, { argument: 'parameter' });
      const bits = p.slice(0, at);
      if (bits.length > 16) throw new InvalidArgumentError(`${name}: ACS flags "${bits.slice(0, 20)}" are too long`, { argument: 'parameter' });
      for (let i = bits.length - 1, shift = 0; i >= 0; i--, shift++) {
        const c = bits[i];
        if (c === '0') mask |= 1 << shift;
        else if (c === '1') {
          mask |= 1 << shift;
          flags |= 1 << shift;
        } else if (c !== 'x' && c !== 'X') throw new InvalidArgumentError(`${name}: invalid ACS flags "${bits}" (each bit is 0, 1 or x)`, { argument: 'parameter' });
      }
      p = p.slice(at + 1);
    }
    if (mask & ~PCI_ACS_ALL) throw new InvalidArgumentError(`${name}: invalid ACS flags specified (bits above DirectTrans)`, { argument: 'parameter' });
    const { ret, rest } = matchDevice(device, p);
    if (ret < 0) throw new InvalidArgumentError(`${name}: cannot parse the device "${p.slice(0, 60)}" (expected [domain:]bus:dev.fn[/dev.fn]* or pci:vendor:device)`, { argument: 'parameter' });
    if (ret === 1) return { mask, flags };
    if (rest[0] !== ';' && rest[0] !== ',') return undefined;
    p = rest.slice(1);
  }
  return undefined;
}

/**
 * The topology as it would boot with `parameter` on the kernel command line: for every function with an ACS
 * capability that the parameter names, the control bits become (firmware value & ~mask) | (flags & mask), where
 * the control bits of the description stand for the firmware value (models pci_enable_acs(): disable_acs_redir=
 * first, then config_acs=, each from the firmware value). Returns a new topology (same CPU, notes and
 * addresses). Throws InvalidArgumentError (ERR_INVALID_ARGUMENT, argument 'parameter') for a malformed parameter
 * (the kernel would log the error and ignore it). `topology` is not changed.
 */
export function applyAcsParameters(topology: Topology, parameter: string): Topology {
  if (!(topology instanceof Topology)) throw new InvalidArgumentError('topology must be a Topology', { argument: 'topology' });
  const options = parseAcsParameters(parameter);
  const controls = new Map<string, number>();
  const shortForm = new Map<string, boolean>();
  for (const device of topology.devices()) {
    // A description with only the short form (acsRedirect) stands for control = ReqRedir.
    if (!device.acs && !device.acsRedirect) continue;
    const fw = device.acs ? device.acs.control : PCI_ACS_RR;
    let control = fw;
    if (options.disableAcsRedir !== undefined) {
      const hit = configAcs(device, options.disableAcsRedir, { mask: ACS_REDIRECT_MASK, flags: ~ACS_REDIRECT_MASK & 0xffff }, 'disable_acs_redir');
      if (hit) control = (fw & ~hit.mask) | (hit.flags & hit.mask);
    }
    if (options.configAcs !== undefined) {
      const hit = configAcs(device, options.configAcs, undefined, 'config_acs');
      if (hit) control = (fw & ~hit.mask) | (hit.flags & hit.mask);
    }
    if (control === fw) continue;
    if (device.acs) controls.set(device.bdf, control);
    else shortForm.set(device.bdf, (control & ACS_REDIRECT_MASK) !== 0);
  }
  const spec = topology.toSpec();
  const stack: DeviceSpec[] = spec.hostBridges.flatMap((hb) => hb.devices);
  while (stack.length > 0) {
    const d = stack.pop()!;
    const control = controls.get(d.bdf);
    if (control !== undefined && d.acs) d.acs = { capability: d.acs.capability, control: acsNames(control) };
    const redirect = shortForm.get(d.bdf);
    if (redirect !== undefined) d.acsRedirect = redirect;
    if (d.children) stack.push(...d.children);
  }
  return buildTopology(spec, { notes: topology.notes, cpuOrigin: topology.cpuOrigin });
}
