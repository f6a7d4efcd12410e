// Buffers with guard bytes for DMA tests: random contents, and a reference of what the whole
// guarded area must hold, so a check proves nothing outside the buffer changed.
import { expect } from 'vitest';
import type { Region, Span } from '../../dist/src/index.js';
import type { Rng } from './random.js';
import { firstDifference } from './reference.js';

export const GUARD = 256;

export class GuardedBuffer {
  readonly span: Span;
  /** Physical address of the buffer's first byte (after the leading guard). */
  readonly phys: number;
  readonly length: number;
  readonly area: Uint8Array;
  readonly expected: Uint8Array;

  constructor(readonly region: Region, rng: Rng, length: number, misalign = 0) {
    this.span = region.allocate(length + 2 * GUARD + misalign, 4096);
    this.phys = this.span.phys + GUARD + misalign;
    this.length = length;
    this.area = region.view(this.span);
    rng.fill(this.area);
    this.expected = this.area.slice();
  }

  /** The buffer's current bytes (a copy). */
  bytes(offset = 0, length = this.length - offset): Uint8Array {
    const at = this.phys - this.span.phys + offset;
    return this.area.slice(at, at + length);
  }

  /** Records that `bytes` were written at `offset` into the buffer. */
  wrote(offset: number, bytes: Uint8Array): void {
    this.expected.set(bytes, this.phys - this.span.phys + offset);
  }

  check(label = ''): void {
    const at = firstDifference(this.area, this.expected);
    const where = at < 0 ? '' : at < this.phys - this.span.phys || at >= this.phys - this.span.phys + this.length ? ' (a guard byte!)' : '';
    expect(at, `${label} buffer differs from the reference at byte ${at}${where}`).toBe(-1);
  }

  free(): void {
    this.region.free(this.span);
  }
}
