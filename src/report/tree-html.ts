// The PCI tree as static HTML: host bridges, bridges and endpoints as nested <details> (collapsible with the
// keyboard, no script needed), each function with its kind, IDs, name, class, marks and BARs. The walk is
// iterative, so a deep chain of bridges cannot overflow the stack.
import type { Topology } from '../pci/topology.js';
import { describeCpu, describeHostBridge } from '../cli/describe.js';
import { deviceFacts, type DeviceFacts } from './device-facts.js';
import { escapeHtml } from './html.js';

/** How many of each thing the tree shows (the page prints these; the tests check them). */
export interface TreeCounts {
  readonly hostBridges: number;
  readonly functions: number;
  readonly endpoints: number;
  readonly bridges: number;
  readonly bars: number;
  readonly p2pmemBars: number;
}

/** Machines up to this many functions open fully; larger ones open their bridges only. */
const OPEN_ALL_BELOW = 64;

function tags(facts: DeviceFacts): string {
  const out: string[] = [];
  if (!facts.isBridge) out.push(`<span class="tag" title="device class, read from the ${facts.classFrom === 'nothing' ? 'default' : escapeHtml(facts.classFrom)}">${escapeHtml(facts.deviceClass)}</span>`);
  if (facts.acsRedirect) out.push('<span class="tag tag-acs">ACS redirect</span>');
  if (facts.iommuGroup !== undefined) out.push(`<span class="tag">IOMMU group ${facts.iommuGroup}</span>`);
  if (facts.untrusted) out.push('<span class="tag tag-warn">untrusted</span>');
  if (facts.externalFacing) out.push('<span class="tag tag-warn">external-facing</span>');
  return out.join(' ');
}

function summaryLine(facts: DeviceFacts): string {
  const parts = [`<span class="bdf">${facts.bdf}</span>`, `<span class="kind">${facts.kind}</span>`];
  if (facts.ids) parts.push(`<span class="ids">[${facts.ids}]</span>`);
  if (facts.name) parts.push(`<span class="name">${escapeHtml(facts.name)}</span>`);
  if (facts.isBridge) parts.push(`<span class="bus">${facts.secondaryBus === undefined ? 'no secondary bus' : `bus ${facts.secondaryBus.toString(16).padStart(2, '0')}`}</span>`);
  const t = tags(facts);
  if (t) parts.push(t);
  if (facts.bars.length > 0) {
    const p2p = facts.bars.filter((bar) => bar.p2pmem).length;
    parts.push(`<span class="bar-count">${facts.bars.length} BAR${facts.bars.length === 1 ? '' : 's'}${p2p ? `, ${p2p} p2pmem` : ''}</span>`);
  }
  return parts.join(' ');
}

function barsTable(facts: DeviceFacts): string {
  if (facts.bars.length === 0) return '';
  const rows = facts.bars.map((bar) => {
    const flags = [bar.p2pmem ? 'p2pmem' : '', bar.prefetchable === undefined ? '' : bar.prefetchable ? 'prefetchable' : 'non-prefetchable', bar.is64Bit === undefined ? '' : bar.is64Bit ? '64-bit' : '32-bit']
      .filter(Boolean)
      .join(', ');
    return `<tr><td>BAR${bar.index}</td><td>${bar.sizeText}</td><td><code>${bar.phys}</code></td><td><code>${bar.busAddress}</code></td><td>${flags || '-'}</td></tr>`;
  });
  return `<table class="bars"><caption class="visually-hidden">BARs of ${facts.bdf}</caption><thead><tr><th scope="col">BAR</th><th scope="col">size</th><th scope="col">CPU physical</th><th scope="col">bus address</th><th scope="col">flags</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function acsLine(facts: DeviceFacts): string {
  if (!facts.acs) return '';
  const list = (bits: readonly string[]) => (bits.length ? bits.map(escapeHtml).join(' ') : 'none');
  return `<p class="acs">ACS capability: ${list(facts.acs.capability)}; control: ${list(facts.acs.control)}</p>`;
}

/** The tree's counts. Never throws. */
export function treeCounts(topology: Topology): TreeCounts {
  const devices = topology.devices();
  const endpoints = devices.filter((d) => !d.isBridge).length;
  const bars = topology.bars();
  return {
    hostBridges: topology.hostBridges.length,
    functions: devices.length,
    endpoints,
    bridges: devices.length - endpoints,
    bars: bars.length,
    p2pmemBars: bars.filter((bar) => bar.provider !== undefined).length,
  };
}

/** The machine section's tree: a list of host bridges, each with its devices nested below it. Never throws. */
export function treeHtml(topology: Topology): string {
  const openAll = topology.devices().length < OPEN_ALL_BELOW;
  const out: string[] = [`<p class="cpu">CPU: ${escapeHtml(describeCpu(topology))}</p>`, '<ul class="tree" id="pci-tree">'];
  for (const hb of topology.hostBridges) {
    out.push(
      `<li class="host-bridge" data-host-bridge="${hb.name}"><details open><summary><span class="kind">host bridge</span> <span class="bdf">${hb.name}</span> <span class="name">${escapeHtml(describeHostBridge(hb))}</span></summary><ul>`,
    );
    // An explicit stack of "enter device" and "close its list" steps, in document order.
    type Step = { device: (typeof hb.devices)[number] } | { close: string };
    const stack: Step[] = [...hb.devices].reverse().map((device) => ({ device }));
    while (stack.length > 0) {
      const step = stack.pop()!;
      if ('close' in step) {
        out.push(step.close);
        continue;
      }
      const facts = deviceFacts(step.device);
      const body = acsLine(facts) + barsTable(facts);
      const item = `<li class="device" data-bdf="${facts.bdf}" data-kind="${facts.kind}">`;
      if (!facts.isBridge && body === '') {
        out.push(`${item}<div class="leaf">${summaryLine(facts)}</div></li>`);
        continue;
      }
      const open = openAll || facts.isBridge ? ' open' : '';
      out.push(`${item}<details${open}><summary>${summaryLine(facts)}</summary>${body}`);
      if (step.device.children.length === 0) {
        out.push('</details></li>');
        continue;
      }
      out.push('<ul>');
      stack.push({ close: '</ul></details></li>' });
      for (let i = step.device.children.length - 1; i >= 0; i--) stack.push({ device: step.device.children[i]! });
    }
    out.push('</ul></details></li>');
  }
  out.push('</ul>');
  return out.join('\n');
}
