// A region of random bytes with a reference copy: every write the code under test makes must
// also be made to `expected`, so comparing the whole arena proves nothing else was touched.
import { expect } from 'vitest';
import type { Fabric, Region } from '../../dist/src/index.js';
import type { Rng } from './random.js';
import { firstDifference } from './reference.js';

export class Arena {
  readonly region: Region;
  readonly bytes: Uint8Array;
  expected: Uint8Array;

  constructor(fabric: Fabric, readonly rng: Rng, size: number, phys = 0x1_0000_0000, name = 'arena') {
    this.region = fabric.addRegion({ name, kind: 'ram', phys, size });
    this.bytes = this.region.view({ offset: this.region.offset, length: size });
    this.expected = new Uint8Array(size);
    this.randomize();
  }

  get base(): number {
    return this.region.offset;
  }

  get size(): number {
    return this.region.size;
  }

  randomize(): void {
    this.rng.fill(this.bytes);
    this.expected = this.bytes.slice();
  }

  /** A random fabric offset with room for len bytes in [from, to) of the arena. */
  at(len: number, from = 0, to = this.size): number {
    return this.base + this.rng.int(from, to - len);
  }

  /** Applies memmove to the reference. */
  copied(dst: number, src: number, len: number): void {
    this.expected.copyWithin(dst - this.base, src - this.base, src - this.base + len);
  }

  check(): void {
    const at = firstDifference(this.bytes, this.expected);
    expect(at, at < 0 ? '' : `arena differs from the reference at fabric offset ${this.base + at}`).toBe(-1);
  }
}
