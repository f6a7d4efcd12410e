/// <reference lib="dom" />
// The report page's script: reads the embedded data, rebuilds the topology (so that any pair can be
// explained by the same code as the command line), draws the matrix and wires the controls. When the first
// frame is drawn, <html data-ready="true"> and the performance mark "dma-bounce-report-ready" say so.
import { buildTopology } from '../../pci/topology.js';
import type { DeviceClass } from '../device-class.js';
import { decodeMatrix } from '../matrix-codec.js';
import type { PageData } from '../page-data.js';
import { axisOrder, busAddressPeers, type SortKey } from './matrix-axes.js';
import { MatrixView } from './matrix-view.js';
import { PairPanel } from './pair-panel.js';
import { wireTreeControls } from './tree-controls.js';

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

function start(): void {
  const data = JSON.parse(element('report-data').textContent ?? '') as PageData;
  const topology = buildTopology(data.spec, data.build);
  const cells = decodeMatrix(data.matrix);
  const endpoints = data.endpoints;
  wireTreeControls(element('pci-tree'), element('tree-expand'), element('tree-collapse'));

  const panel = new PairPanel(element('pair-headline'), element('pair-text'), element('matrix-status'), topology, endpoints);
  const view = new MatrixView(element('matrix-canvas'), element('matrix-scroller'), element('matrix-spacer'), cells, endpoints, (provider, client, at, byUser) => {
    const { rows, cols } = view.position;
    panel.show(provider, client, at, rows, cols, byUser);
  });

  const sort = element<HTMLSelectElement>('matrix-sort');
  const providers = element<HTMLSelectElement>('matrix-filter-provider');
  const clients = element<HTMLSelectElement>('matrix-filter-client');
  const size = element<HTMLSelectElement>('matrix-cell-size');
  let peers: Uint32Array | undefined;
  const applyAxes = () => {
    const key = sort.value as SortKey;
    if (key === 'reach') peers ??= busAddressPeers(cells);
    view.setAxes(axisOrder(endpoints, key, providers.value as DeviceClass | '', peers), axisOrder(endpoints, key, clients.value as DeviceClass | '', peers));
  };
  sort.addEventListener('change', applyAxes);
  providers.addEventListener('change', applyAxes);
  clients.addEventListener('change', applyAxes);
  size.addEventListener('change', () => view.setCellSize(Number(size.value)));
  view.setCellSize(Number(size.value));
  applyAxes();

  requestAnimationFrame(() => {
    document.documentElement.dataset.ready = 'true';
    performance.mark('dma-bounce-report-ready');
  });
}

try {
  start();
} catch (error) {
  const status = document.getElementById('matrix-status');
  if (status) status.textContent = `The page could not start: ${(error as Error).message}`;
  console.error(error);
}
