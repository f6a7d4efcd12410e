// bench/core-round-trip.ts: the round trip of a cache line between this thread and a worker is a
// plausible positive figure, and the worker is gone when the measurement settles.
import { readdirSync } from 'node:fs';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { measureCoreRoundTrip } from '../dist/bench/core-round-trip.js';

const threads = () => readdirSync('/proc/self/task').length;

describe('measureCoreRoundTrip', () => {
  it.skipIf(os.cpus().length < 2)('measures a round trip of more than 1 ns and less than its 2 s give-up, leaving no thread behind', async () => {
    const before = threads();
    const ns = await measureCoreRoundTrip();
    expect(typeof ns).toBe('number');
    // A cache line cannot cross between cores in under a nanosecond, and a trip of 2 s gives up
    // (undefined) rather than answer.
    expect(ns!).toBeGreaterThan(1);
    expect(ns!).toBeLessThan(2e9);
    expect(threads()).toBe(before);
  });
});
