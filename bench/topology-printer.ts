// Prints a topology description the way pciutils prints it: the tree of ls-tree.c (lspci -tvnn) and the dump of
// lspci.c (lspci -vvvnn: header, Bus: line, Express and ACS capabilities, regions). Used to make large inputs
// for the loader benchmark and round trips for the tests; iterative, so deep or wide topologies print in
// proportion to their size.
import type { DeviceSpec, TopologySpec } from '../src/pci/index.js';

const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');
const busOf = (bdf: string) => Number.parseInt(bdf.split(':')[1]!, 16);

function secondaryOf(d: DeviceSpec): number | undefined {
  return d.secondaryBus ?? (d.children && d.children.length > 0 ? busOf(d.children[0]!.bdf) : undefined);
}

// Every device of a description, parents before their children, walked without recursion.
function preorder(spec: TopologySpec): DeviceSpec[] {
  const order: DeviceSpec[] = [];
  const stack: DeviceSpec[] = spec.hostBridges.flatMap((hb) => hb.devices);
  while (stack.length > 0) {
    const d = stack.pop()!;
    order.push(d);
    if (d.children) stack.push(...d.children);
  }
  return order;
}

// Highest bus number below each bridge (its subordinate bus), computed bottom-up without recursion.
function subordinates(spec: TopologySpec): Map<DeviceSpec, number> {
  const order = preorder(spec);
  const sub = new Map<DeviceSpec, number>();
  for (let i = order.length - 1; i >= 0; i--) {
    const d = order[i]!;
    const sec = secondaryOf(d);
    if (sec === undefined) continue;
    let max = sec;
    for (const child of d.children ?? []) max = Math.max(max, sub.get(child) ?? 0);
    sub.set(d, max);
  }
  return sub;
}

/** lspci -tvnn text of a description (names and IDs of endpoints, as ls-tree.c prints them). */
export function printTree(spec: TopologySpec, name: (d: DeviceSpec) => string = (d) => `${d.name ?? 'Device'}${d.vendor && d.device ? ` [${d.vendor}:${d.device}]` : ''}`): string {
  const sub = subordinates(spec);
  const out: string[] = [];
  // print_it(): emit a line, and turn it into the prefix of the next one ('+' and '|' become '|', the rest blanks).
  const printIt = (line: string): string => {
    out.push(line);
    let prefix = '';
    for (const c of line) prefix += c === '+' || c === '|' ? '|' : ' ';
    return prefix;
  };
  type Frame = { devices: readonly DeviceSpec[]; i: number; base: string };
  // Each bus is a frame; a device that is a bridge pushes the frame of its secondary bus.
  const showBus = (devices: readonly DeviceSpec[], line: string): string => {
    let current = line;
    const stack: Frame[] = [];
    const enter = (list: readonly DeviceSpec[], prefix: string): void => {
      if (list.length === 0) {
        current = printIt(prefix);
        return;
      }
      if (list.length === 1) {
        stack.push({ devices: list, i: 0, base: `${prefix}--` });
        return;
      }
      stack.push({ devices: list, i: 0, base: prefix });
    };
    enter(devices, current);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      if (frame.i >= frame.devices.length) {
        stack.pop();
        continue;
      }
      const d = frame.devices[frame.i]!;
      const many = frame.devices.length > 1;
      const start = many ? `${(frame.i === 0 ? frame.base : current).slice(0, frame.base.length)}${frame.i < frame.devices.length - 1 ? '+-' : '\\-'}` : frame.base;
      frame.i++;
      let text = `${start}${d.bdf.split(':')[2]}`;
      const sec = secondaryOf(d);
      if (sec !== undefined || d.kind === 'bridge' || d.kind === 'root-port' || d.kind === 'upstream-port' || d.kind === 'downstream-port') {
        const s = sec ?? 0;
        const u = sub.get(d) ?? s;
        text += s === u ? `-[${hex(s, 2)}]-` : `-[${hex(s, 2)}-${hex(u, 2)}]-`;
        enter(d.children ?? [], `${text}-`);
        continue;
      }
      current = printIt(`${text}  ${name(d)}`);
    }
    return current;
  };
  const roots = spec.hostBridges;
  if (roots.length === 1) showBus(roots[0]!.devices, `-[${hex(roots[0]!.segment, 4)}:${hex(roots[0]!.bus, 2)}]-`);
  else {
    let line = '-';
    roots.forEach((hb, i) => {
      line = showBus(hb.devices, `${line.slice(0, 1)}${i < roots.length - 1 ? '+-' : '\\-'}[${hex(hb.segment, 4)}:${hex(hb.bus, 2)}]-`);
    });
  }
  return `${out.join('\n')}\n`;
}

const EXPRESS: Readonly<Record<string, string>> = {
  endpoint: 'Endpoint',
  'legacy-endpoint': 'Legacy Endpoint',
  'root-port': 'Root Port (Slot-)',
  'upstream-port': 'Upstream Port',
  'downstream-port': 'Downstream Port (Slot-)',
  'pcie-to-pci-bridge': 'PCI-Express to PCI/PCI-X Bridge',
  'pci-to-pcie-bridge': 'PCI/PCI-X to PCI-Express Bridge (Slot-)',
  'rc-integrated-endpoint': 'Root Complex Integrated Endpoint',
  'rc-event-collector': 'Root Complex Event Collector',
};
const ACS = ['SrcValid', 'TransBlk', 'ReqRedir', 'CmpltRedir', 'UpstreamFwd', 'EgressCtrl', 'DirectTrans'];
const flags = (set: readonly string[]) => ACS.map((name) => `${name}${set.includes(name) ? '+' : '-'}`).join(' ');

function sizeText(bytes: number): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let n = bytes;
  let u = 0;
  while (u < units.length - 1 && n % 1024 === 0) {
    n /= 1024;
    u++;
  }
  return `${n}${units[u]}`;
}

/** lspci -vvvnn text of a description, devices in bus order as lspci sorts them. `-D` domains are printed when any segment is not 0. */
export function printDump(spec: TopologySpec): string {
  const sub = subordinates(spec);
  const all = preorder(spec);
  all.sort((a, b) => (a.bdf < b.bdf ? -1 : a.bdf > b.bdf ? 1 : 0));
  const domains = spec.hostBridges.some((hb) => hb.segment !== 0);
  const out: string[] = [];
  for (const d of all) {
    const slot = domains ? d.bdf : d.bdf.slice(d.bdf.indexOf(':') + 1);
    const sec = secondaryOf(d);
    const isBridge = sec !== undefined || (d.kind !== undefined && d.kind !== 'endpoint');
    const cls = isBridge ? 'PCI bridge [0604]' : 'Non-Volatile memory controller [0108]';
    out.push(`${slot} ${cls}: ${d.name ?? 'Device'}${d.vendor && d.device ? ` [${d.vendor}:${d.device}]` : ''} (rev 01)`);
    out.push('\tControl: I/O- Mem+ BusMaster+ SpecCycle- MemWINV- VGASnoop- ParErr- Stepping- SERR- FastB2B- DisINTx+');
    out.push('\tStatus: Cap+ 66MHz- UDF- FastB2B- ParErr- DEVSEL=fast >TAbort- <TAbort- <MAbort- >SERR- <PERR- INTx-');
    let address = 0xf0000000;
    for (const bar of d.bars ?? []) {
      const bytes = typeof bar.size === 'number' ? bar.size : 4096;
      out.push(`\tRegion ${bar.index}: Memory at ${(address += bytes).toString(16)} (${bar.is64bit ? '64' : '32'}-bit, ${bar.prefetchable ? '' : 'non-'}prefetchable) [size=${sizeText(bytes)}]`);
    }
    if (isBridge) out.push(`\tBus: primary=${hex(busOf(d.bdf), 2)}, secondary=${hex(sec ?? 0, 2)}, subordinate=${hex(sub.get(d) ?? sec ?? 0, 2)}, sec-latency=0`);
    const type = d.portType ?? (d.kind === 'root-port' || d.kind === 'upstream-port' || d.kind === 'downstream-port' ? d.kind : isBridge ? 'pcie-to-pci-bridge' : 'endpoint');
    out.push(`\tCapabilities: [40] Express (v2) ${EXPRESS[type] ?? 'Endpoint'}, MSI 00`);
    out.push('\t\tDevCap:\tMaxPayload 256 bytes, PhantFunc 0');
    if (d.acs) {
      out.push('\tCapabilities: [220 v1] Access Control Services');
      out.push(`\t\tACSCap:\t${flags(d.acs.capability)}`);
      out.push(`\t\tACSCtl:\t${flags(d.acs.control)}`);
    }
    out.push(isBridge ? '\tKernel driver in use: pcieport' : '\tKernel driver in use: nvme');
    out.push('');
  }
  return `${out.join('\n')}`;
}
