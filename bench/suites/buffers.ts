// The memory every copy suite works in: a fabric with two 64 MiB buffers, every page touched
// once so that no case pays for first-touch page faults.
import { Fabric } from '../../src/index.js';

export interface CopyBuffers {
  readonly fabric: Fabric;
  /** Fabric offsets of the source and destination, 64 MiB each, page aligned. */
  readonly src: number;
  readonly dst: number;
}

export function copyBuffers(scratch = '1MiB'): CopyBuffers {
  const fabric = new Fabric({ size: '256MiB', scratch });
  const ram = fabric.addRegion({ name: 'ram', kind: 'ram', phys: 0x1_0000_0000, size: '160MiB' });
  const src = ram.allocate('64MiB', 4096).offset;
  const dst = ram.allocate('64MiB', 4096).offset;
  fabric.bytes.fill(0x5a, src, src + 64 * 2 ** 20);
  fabric.bytes.fill(0xa5, dst, dst + 64 * 2 ** 20);
  return { fabric, src, dst };
}
