// Prints a topology description the way pciutils' ls-tree.c prints `lspci -tv(nn)`, for round-trip tests.
import type { DeviceSpec, TopologySpec } from '../../dist/src/pci/index.js';

const hex = (n: number, w: number) => n.toString(16).padStart(w, '0');

/** `names(device)` gives the text after the function ('' for lspci -t). */
export function printLspciTree(spec: TopologySpec, names: (device: DeviceSpec) => string = () => ''): string {
  const out: string[] = [];
  // print_it(): emit, then turn the line into the continuation prefix.
  const printIt = (line: string): string => {
    out.push(line);
    return [...line].map((c) => (c === '+' || c === '|' ? '|' : ' ')).join('');
  };
  const showDev = (d: DeviceSpec, line: string): string => {
    const [, , slot] = d.bdf.split(':') as [string, string, string];
    line += slot;
    const isBridge = d.secondaryBus !== undefined || (d.children?.length ?? 0) > 0;
    if (isBridge) {
      const sec = d.secondaryBus ?? Number.parseInt(d.children![0]!.bdf.split(':')[1]!, 16);
      const sub = subordinate(d, sec);
      line += sec === sub ? `-[${hex(sec, 2)}]-` : `-[${hex(sec, 2)}-${hex(sub, 2)}]-`;
      return showBus(d.children ?? [], line + '-');
    }
    const name = names(d);
    return printIt(name ? `${line}  ${name}` : line);
  };
  const showBus = (devices: DeviceSpec[], line: string): string => {
    if (devices.length === 0) return printIt(line);
    if (devices.length === 1) return showDev(devices[0]!, line + '--');
    const n = line.length;
    devices.forEach((d, i) => {
      line = showDev(d, line.slice(0, n) + (i < devices.length - 1 ? '+-' : '\\-'));
    });
    return line;
  };
  let line = '-';
  const roots = spec.hostBridges;
  if (roots.length === 1) {
    const hb = roots[0]!;
    showBus(hb.devices, line + `[${hex(hb.segment, 4)}:${hex(hb.bus, 2)}]-`);
  } else {
    roots.forEach((hb, i) => {
      line = showBus(hb.devices, line.slice(0, 1) + (i < roots.length - 1 ? '+-' : '\\-') + `[${hex(hb.segment, 4)}:${hex(hb.bus, 2)}]-`);
    });
  }
  return out.join('\n') + '\n';
}

function subordinate(d: DeviceSpec, sec: number): number {
  let max = sec;
  for (const child of d.children ?? []) {
    if (child.secondaryBus !== undefined || child.children) {
      const childSec = child.secondaryBus ?? Number.parseInt(child.children![0]!.bdf.split(':')[1]!, 16);
      max = Math.max(max, subordinate(child, childSec));
    }
  }
  return max;
}
