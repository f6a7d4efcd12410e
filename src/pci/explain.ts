// The kernel's verdict for one provider/client pair, explained: the walk of calc_map_type_and_dist() hop by hop,
// the rule that decided (common upstream bridge, the AMD Zen CPU rule, a whitelist entry), the kernel's warnings,
// and what would change the verdict: the ACS kernel parameter that makes it BUS_ADDR and what it costs in IOMMU
// isolation, or why no setting can.
import { acsNames, type AcsFlagName } from './acs.js';
import { hex } from './bdf.js';
import type { CpuOrigin } from './cpu.js';
import { iommuGroups } from './iommu-group.js';
import { applyAcsParameters } from './kernel-params.js';
import { walkMapType, type P2pMapType } from './p2pdma.js';
import { Topology, type DeviceKind, type PciDevice, type PortType } from './topology.js';
import { InvalidArgumentError } from '../errors.js';

/** One device on a path of the walk. */
export interface ExplainHop {
  readonly bdf: string;
  readonly kind: DeviceKind;
  readonly portType: PortType | undefined;
  readonly name: string | undefined;
  readonly ids: string | undefined;
  /** The ACS bits, or null when the device shows no ACS capability (or the description does not say). */
  readonly acs: { readonly capability: readonly AcsFlagName[]; readonly control: readonly AcsFlagName[] } | null;
  /** Counted by pci_bridge_has_acs_redir() on this walk (control has ReqRedir, CmpltRedir or EgressCtrl). */
  readonly redirect: boolean;
  /** Hops from its end of the path (dist_a or dist_b when the walk reached it). */
  readonly step: number;
}

/** A host bridge check of the whitelist step. */
export interface ExplainWhitelistCheck {
  readonly hostBridge: string;
  readonly identity: string | null;
  readonly ids: string | null;
  readonly entry: { readonly vendor: string; readonly device: string; readonly platform: string; readonly requireSameHostBridge: boolean } | null;
  readonly allowed: boolean;
  /** False when the kernel never looks at it (the CPU rule decided first, or the first host bridge already failed). */
  readonly checkedByKernel: boolean;
  readonly reason: string | null;
}

/** What would change the verdict. */
export type ExplainChange =
  | { readonly kind: 'none-needed' }
  | {
      readonly kind: 'kernel-parameter';
      /** The parameter that makes the pair BUS_ADDR at the next boot. */
      readonly parameter: string;
      /** The same with pci=config_acs= (only the redirect bits cleared, every other bit left as firmware set it). */
      readonly alternative: string;
      readonly becomes: 'BUS_ADDR';
      readonly bridges: readonly string[];
      readonly cost: {
        /** Functions that share an IOMMU group with more devices than before. */
        readonly devicesLosingIsolation: readonly string[];
        /** The groups after the change that join groups of before. */
        readonly mergedGroups: readonly { readonly devices: readonly string[]; readonly from: readonly (readonly string[])[] }[];
        readonly summary: string;
      };
    }
  | { readonly kind: 'impossible'; readonly reason: string };

/** The explanation of one pair, as data. */
export interface Explanation {
  readonly provider: string;
  readonly client: string;
  readonly cpu: { readonly vendor: string; readonly family: number } | null;
  readonly cpuOrigin: CpuOrigin;
  /** AMD Zen or newer: P2P through any host bridge (cpu_supports_p2pdma()). */
  readonly cpuSupportsP2pdma: boolean;
  /** The provider and its upstream bridges, up to the common node or the root bus. */
  readonly providerPath: readonly ExplainHop[];
  /** The client and its upstream bridges, below the common node (or up to the root bus). */
  readonly clientPath: readonly ExplainHop[];
  readonly common: string | null;
  readonly distance: number;
  /** Bridges counted as ACS redirect, provider path first (the kernel's disable_acs_redir list). */
  readonly acsRedirectBridges: readonly string[];
  readonly hostBridges: { readonly provider: string; readonly client: string; readonly same: boolean };
  /** Which rule decided, in words. */
  readonly rule: string;
  readonly whitelist: readonly ExplainWhitelistCheck[];
  readonly type: P2pMapType;
  /** The verdict would differ with another CPU (it went to the host bridge step and the whitelist refused). */
  readonly cpuDependent: boolean;
  /** The kernel's own warnings for this pair, in order (pci_warn() on the client). */
  readonly kernelWarnings: readonly string[];
  readonly change: ExplainChange;
  /** What the reader should know about the inputs (an assumed CPU, unreadable capabilities). */
  readonly notes: readonly string[];
}

function hop(device: PciDevice, redirect: boolean, step: number): ExplainHop {
  return {
    bdf: device.bdf,
    kind: device.kind,
    portType: device.portType,
    name: device.name,
    ids: device.ids,
    acs: device.acs ? { capability: acsNames(device.acs.capability), control: acsNames(device.acs.control) } : null,
    redirect,
    step,
  };
}

function describeCpuOrigin(topology: Topology): string | undefined {
  if (topology.cpuOrigin === 'unknown') return 'CPU unknown: assumed not AMD Zen (give --cpu VENDOR:FAMILY or --cpu this); every verdict marked as depending on the CPU may change';
  return undefined;
}

// Groups before and after, as sets of BDFs: which devices now share with more, which groups joined.
function isolationCost(before: Topology, after: Topology): Extract<ExplainChange, { kind: 'kernel-parameter' }>['cost'] {
  const groupBefore = new Map<string, string[]>();
  for (const g of iommuGroups(before)) {
    const bdfs = g.devices.map((d) => d.bdf);
    for (const bdf of bdfs) groupBefore.set(bdf, bdfs);
  }
  const losing: string[] = [];
  const merged: { devices: string[]; from: string[][] }[] = [];
  for (const g of iommuGroups(after)) {
    const bdfs = g.devices.map((d) => d.bdf);
    const from: string[][] = [];
    for (const bdf of bdfs) {
      const old = groupBefore.get(bdf)!;
      if (!from.includes(old)) from.push(old);
      if (bdfs.length > old.length) losing.push(bdf);
    }
    if (from.length > 1) merged.push({ devices: bdfs, from });
  }
  const summary = merged.length === 0
    ? 'no IOMMU group changes: the bridges were not isolating anything the groups rely on'
    : `${losing.length} function(s) leave their isolation: ${merged.map((m) => `groups {${m.from.map((f) => f.join(' ')).join('} + {')}} merge`).join('; ')}`;
  return { devicesLosingIsolation: losing, mergedGroups: merged, summary };
}

/**
 * Explains the kernel's verdict for `provider` (the device whose memory is used) and `client` (the device doing
 * DMA): the walk of calc_map_type_and_dist() hop by hop with each device's ACS bits, where the paths meet and the
 * distance, the host bridges and which whitelist entry or CPU rule applied, the verdict with the kernel's
 * warnings, and what would change it (the pci=disable_acs_redir= parameter with its exact device list and the
 * IOMMU groups it merges, or why no setting can). Returns the explanation. Throws InvalidArgumentError
 * (ERR_INVALID_ARGUMENT) for devices that are not of `topology`. Pure: nothing changes.
 */
export function explainPair(topology: Topology, provider: PciDevice, client: PciDevice): Explanation {
  if (!(topology instanceof Topology)) throw new InvalidArgumentError('topology must be a Topology', { argument: 'topology' });
  for (const [name, device] of [['provider', provider], ['client', client]] as const) {
    if (!device || typeof device !== 'object' || device.topology !== topology) throw new InvalidArgumentError(`${name} must be a device of this topology (topology.device(bdf))`, { argument: name });
  }
  const walk = walkMapType(provider, client);
  const redirectSet = new Set(walk.acsList);
  const providerPath = walk.providerPath.map((d, i) => hop(d, redirectSet.has(d), i));
  const clientPath = walk.clientPath.map((d, i) => hop(d, redirectSet.has(d), i));
  const same = provider.hostBridge === client.hostBridge;
  const whitelist: ExplainWhitelistCheck[] = walk.whitelist.map(({ verdict, checkedByKernel }, i) => {
    const hb = i === 0 ? provider.hostBridge : client.hostBridge;
    return {
      hostBridge: hb.name,
      identity: verdict.identity?.bdf ?? null,
      ids: verdict.identity ? `${verdict.identity.vendorId === undefined ? '????' : hex(verdict.identity.vendorId, 4)}:${verdict.identity.deviceId === undefined ? '????' : hex(verdict.identity.deviceId, 4)}` : null,
      entry: verdict.entry ? { vendor: hex(verdict.entry.vendor, 4), device: verdict.entry.device === null ? 'any' : hex(verdict.entry.device, 4), platform: verdict.entry.platform, requireSameHostBridge: verdict.entry.requireSameHostBridge } : null,
      allowed: verdict.allowed,
      checkedByKernel,
      reason: verdict.reason ?? null,
    };
  });
  let rule: string;
  if (walk.type === 'BUS_ADDR') rule = `common upstream bridge ${walk.common!.bdf}${walk.common === provider && provider === client ? ' (the same function)' : ''} with no ACS redirect on either path: BUS_ADDR`;
  else if (walk.cpuAllows) rule = `${walk.common ? 'ACS redirect sends the traffic up to the root complex' : 'no common upstream bridge'}; the CPU is AMD Zen or newer (cpu_supports_p2pdma()), so P2P through the host bridge is allowed`;
  else if (walk.whitelistAllows) {
    const entries = whitelist.filter((w) => w.entry).map((w) => `${w.entry!.vendor}:${w.entry!.device} (${w.entry!.platform})`);
    rule = `${walk.common ? 'ACS redirect sends the traffic up to the root complex' : 'no common upstream bridge'}; ${same ? 'the host bridge is' : 'both host bridges are'} whitelisted: ${entries.join(', ')}`;
  } else {
    const refused = whitelist.find((w) => w.checkedByKernel && !w.allowed);
    rule = `${walk.common ? 'ACS redirect sends the traffic up to the root complex' : 'no common upstream bridge'}; the CPU is not AMD Zen and ${refused?.reason ?? 'the whitelist refuses'}`;
  }
  let change: ExplainChange;
  if (walk.type === 'BUS_ADDR') change = { kind: 'none-needed' };
  else if (walk.common) {
    const bridges = walk.acsList.map((d) => d.bdf);
    const parameter = `pci=disable_acs_redir=${bridges.join(';')}`;
    const alternative = `pci=config_acs=${bridges.map((b) => `x0x00xx@${b}`).join(';')}`;
    change = { kind: 'kernel-parameter', parameter, alternative, becomes: 'BUS_ADDR', bridges, cost: isolationCost(topology, applyAcsParameters(topology, parameter)) };
  } else {
    const hbs = same ? `host bridge ${provider.hostBridge.name}` : `host bridges ${provider.hostBridge.name} and ${client.hostBridge.name}`;
    const why = `${provider.bdf} and ${client.bdf} share no upstream bridge (${same ? 'they sit below different root ports of' : 'they sit below'} ${hbs}), so their traffic always goes through the root complex: no ACS setting can give BUS_ADDR`;
    if (walk.type === 'NOT_SUPPORTED') {
      const listed = whitelist.filter((w) => w.allowed).length;
      const detail = same
        ? `and the host bridge ${whitelist[0]?.ids ?? ''} is not whitelisted`
        : listed === 0 ? 'and neither host bridge is whitelisted' : 'and one of the host bridges is not whitelisted (or only for P2P under the same host bridge)';
      change = { kind: 'impossible', reason: `${why}, ${detail}; only a CPU the kernel trusts (AMD Zen or newer) or a whitelisted host bridge would allow THRU_HOST_BRIDGE` };
    } else change = { kind: 'impossible', reason: `${why}; THRU_HOST_BRIDGE is the best this machine can do` };
  }
  const notes = [...topology.notes];
  const cpuNote = describeCpuOrigin(topology);
  if (cpuNote) notes.unshift(cpuNote);
  const unknownAcs = [...walk.providerPath, ...walk.clientPath].filter((d) => d.isBridge && !d.acs && d.portType === undefined);
  if (unknownAcs.length > 0) notes.push(`ACS bits unknown for ${unknownAcs.map((d) => d.bdf).join(', ')} (a tree carries none): give a full dump (lspci -vvv) or --acs-redirect`);
  return {
    provider: provider.bdf,
    client: client.bdf,
    cpu: topology.cpu ? { vendor: topology.cpu.vendor, family: topology.cpu.family } : null,
    cpuOrigin: topology.cpuOrigin,
    cpuSupportsP2pdma: walk.cpuAllows,
    providerPath,
    clientPath,
    common: walk.common?.bdf ?? null,
    distance: walk.distance,
    acsRedirectBridges: walk.acsList.map((d) => d.bdf),
    hostBridges: { provider: provider.hostBridge.name, client: client.hostBridge.name, same },
    rule,
    whitelist,
    type: walk.type,
    cpuDependent: walk.throughHostBridge && !walk.whitelistAllows,
    kernelWarnings: walk.kernelWarnings,
    change,
    notes,
  };
}

function hopLine(h: ExplainHop, side: string): string {
  const what = [h.portType ?? h.kind, h.ids ? `[${h.ids}]` : undefined, h.name].filter(Boolean).join(' ');
  const acs = h.acs ? `ACSCap ${h.acs.capability.join(' ') || '(none)'}; ACSCtl ${h.acs.control.join(' ') || '(none set)'}` : 'no ACS capability shown';
  return `  ${side} ${String(h.step).padStart(2)}  ${h.bdf}  ${what}\n        ${acs}${h.redirect ? '  <- ACS redirect (counted)' : ''}`;
}

/**
 * The explanation as plain text, one fact per line (for terminals and report cells). Throws InvalidArgumentError
 * (ERR_INVALID_ARGUMENT) for something that is not an explanation.
 */
export function formatExplanation(e: Explanation): string {
  if (e === null || typeof e !== 'object' || !Array.isArray(e.providerPath) || !Array.isArray(e.clientPath) || typeof e.change !== 'object' || e.change === null) {
    throw new InvalidArgumentError('formatExplanation() takes what explainPair() returns', { argument: 'explanation' });
  }
  const out: string[] = [];
  out.push(`${e.provider} (provider) -> ${e.client} (client): ${e.type}, distance ${e.distance}${e.cpuDependent ? ' (depends on the CPU)' : ''}`);
  const cpu = e.cpu ? `${e.cpu.vendor} family 0x${e.cpu.family.toString(16)}` : 'unknown';
  out.push(`CPU: ${cpu} (${e.cpuOrigin}); ${e.cpuSupportsP2pdma ? 'AMD Zen or newer: P2P through any host bridge' : 'not AMD Zen: host bridges need the whitelist'}`);
  for (const note of e.notes) out.push(`note: ${note}`);
  out.push('', 'Walk (calc_map_type_and_dist):');
  for (const h of e.providerPath) out.push(hopLine(h, 'provider'));
  for (const h of e.clientPath) out.push(hopLine(h, 'client  '));
  out.push(e.common ? `  paths meet at ${e.common}; distance ${e.distance}` : `  no common upstream bridge (host bridge ${e.hostBridges.provider}${e.hostBridges.same ? '' : ` and ${e.hostBridges.client}`}); distance ${e.distance}`);
  if (e.acsRedirectBridges.length > 0) out.push(`  ACS redirect counted on: ${e.acsRedirectBridges.join(', ')}`);
  if (e.whitelist.length > 0) {
    out.push('', 'Host bridge step:');
    for (const w of e.whitelist) {
      const entry = w.entry ? `whitelist entry ${w.entry.vendor}:${w.entry.device} (${w.entry.platform}${w.entry.requireSameHostBridge ? ', same host bridge only' : ''})` : 'no whitelist entry';
      out.push(`  ${w.hostBridge}: identity ${w.identity ?? 'none'}${w.ids ? ` [${w.ids}]` : ''}, ${entry}: ${w.allowed ? 'allowed' : 'refused'}${w.checkedByKernel ? '' : ' (not consulted by the kernel)'}`);
    }
  }
  out.push('', `Rule: ${e.rule}`, `Verdict: ${e.type}`);
  if (e.kernelWarnings.length > 0) {
    out.push('Kernel warnings:');
    for (const w of e.kernelWarnings) out.push(`  ${w}`);
  }
  out.push('');
  if (e.change.kind === 'none-needed') out.push('Change: none needed (already BUS_ADDR)');
  else if (e.change.kind === 'kernel-parameter') {
    out.push(`Change: boot with  ${e.change.parameter}  (quote it in the boot loader: ';' separates devices) -> BUS_ADDR`);
    out.push(`        or         ${e.change.alternative}`);
    out.push(`Cost: ${e.change.cost.summary}`);
  } else out.push(`Change: none possible: ${e.change.reason}`);
  return `${out.join('\n')}\n`;
}
