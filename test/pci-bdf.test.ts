// parseBdf() scans by hand (loaders call it once per function); it must accept exactly what the pattern
// `^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-1][0-9a-f])\.([0-7])$` accepts and return the same numbers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatBdf, parseBdf } from '../dist/src/pci/index.js';

const REFERENCE = /^([0-9a-f]{4,8}):([0-9a-f]{2}):([0-1][0-9a-f])\.([0-7])$/;

function reference(text: string): { segment: number; bus: number; device: number; fn: number; devfn: number } | undefined {
  const m = REFERENCE.exec(text);
  if (!m) return undefined;
  const device = Number.parseInt(m[3]!, 16);
  const fn = Number(m[4]);
  return { segment: Number.parseInt(m[1]!, 16), bus: Number.parseInt(m[2]!, 16), device, fn, devfn: (device << 3) | fn };
}

describe('parseBdf', () => {
  it('parses the forms lspci and the kernel print', () => {
    expect(parseBdf('0000:03:00.0')).toEqual({ segment: 0, bus: 3, device: 0, fn: 0, devfn: 0 });
    expect(parseBdf('10000:e1:1f.7')).toEqual({ segment: 0x10000, bus: 0xe1, device: 0x1f, fn: 7, devfn: 0xff });
    expect(parseBdf('ffffffff:ff:1f.7')?.segment).toBe(0xffffffff);
  });

  it('refuses near misses', () => {
    for (const text of ['000:03:00.0', '000000000:03:00.0', '0000:3:00.0', '0000:03:20.0', '0000:03:00.8', '0000:03:00:0',
      '0000-03:00.0', '0000:03:00.', '0000:03:0g.0', '0000:03:00.0 ', ' 0000:03:00.0', '0000:0A:00.0', '', '0000:03:00.0\n']) {
      expect(parseBdf(text), text).toBeUndefined();
    }
    expect(parseBdf(42)).toBeUndefined();
    expect(parseBdf(undefined)).toBeUndefined();
  });

  it('agrees with the reference pattern on random near-BDF text (fast-check prints the seed on failure)', () => {
    const chars = fc.constantFrom(...'0123456789abcdefgA:.- 1'.split(''));
    const nearBdf = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.nat(255), fc.nat(31), fc.nat(7), fc.array(fc.tuple(fc.nat(16), chars), { maxLength: 3 }))
      .map(([s, b, d, f, edits]) => {
        let text = formatBdf(s, b, d, f);
        for (const [at, c] of edits) text = text.slice(0, at) + c + text.slice(at + 1);
        return text;
      });
    fc.assert(fc.property(fc.oneof(nearBdf, fc.string({ maxLength: 20 })), (text) => {
      expect(parseBdf(text)).toEqual(reference(text));
    }), { numRuns: 20000 });
  });
});
