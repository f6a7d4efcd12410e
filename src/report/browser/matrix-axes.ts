// Which endpoints the matrix shows on each axis, in which order: sorted by the chosen key and filtered by
// device class. Pure, so that the page and the tests agree on it.
import { DEVICE_CLASSES, type DeviceClass } from '../device-class.js';
import type { MatrixCells } from '../matrix-codec.js';
import type { PageEndpoint } from '../page-data.js';

/** The sort keys the page offers. */
export type SortKey = 'tree' | 'bdf' | 'class' | 'name' | 'reach';

/** Peers reached by bus address, as provider plus as client, per endpoint. Linear in the number of cells. */
export function busAddressPeers(cells: MatrixCells): Uint32Array {
  const peers = new Uint32Array(cells.n);
  for (let p = 0; p < cells.n; p++) {
    for (let c = 0; c < cells.n; c++) {
      if (cells.kind(p, c) === 'BUS_ADDR') {
        peers[p]!++;
        peers[c]!++;
      }
    }
  }
  return peers;
}

function bdfKey(bdf: string): number[] {
  // SSSS:BB:DD.F with a 4-8 digit segment: compare the numbers, not the text.
  const [segment = '0', bus = '0', rest = '0.0'] = bdf.split(':');
  const [device = '0', fn = '0'] = rest.split('.');
  return [Number.parseInt(segment, 16), Number.parseInt(bus, 16), Number.parseInt(device, 16), Number(fn)];
}

/**
 * Endpoint indices for one axis: those of class `filter` (every class when empty), ordered by `sort` with tree
 * order breaking ties. `peers` is busAddressPeers(), needed for 'reach' only. Returns a new array. Pure.
 */
export function axisOrder(endpoints: readonly PageEndpoint[], sort: SortKey, filter: DeviceClass | '', peers?: Uint32Array): number[] {
  const order: number[] = [];
  for (let i = 0; i < endpoints.length; i++) if (filter === '' || endpoints[i]!.deviceClass === filter) order.push(i);
  if (sort === 'tree') return order;
  let key: (i: number) => readonly (number | string)[];
  if (sort === 'bdf') {
    const keys = endpoints.map((e) => bdfKey(e.bdf));
    key = (i) => keys[i]!;
  } else if (sort === 'class') key = (i) => [DEVICE_CLASSES.indexOf(endpoints[i]!.deviceClass)];
  else if (sort === 'name') key = (i) => [(endpoints[i]!.name ?? '').toLowerCase()];
  else key = (i) => [-(peers?.[i] ?? 0)];
  return order.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let k = 0; k < ka.length; k++) {
      if (ka[k]! < kb[k]!) return -1;
      if (ka[k]! > kb[k]!) return 1;
    }
    return a - b;
  });
}
