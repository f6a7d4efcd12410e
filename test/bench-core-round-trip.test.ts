// bench/core-round-trip.ts: the round trip of a cache line between this thread and a worker is a
// plausible positive figure, and the worker is gone when the measurement settles.
import { readdirSync } from 'node:fs';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { measureCoreRoundTrip } from '../dist/bench/core-round-trip.js';

const threads = () => readdirSync('/proc/self/task').length;

describe('measureCoreRoundTrip', () => {
  it.skipIf(os.cpus().length < 2)('measures a round trip between 1 ns and 1 ms, leaving no thread behind', async () => {
    const before = threads();
    const ns = await measureCoreRoundTrip();
    expect(typeof ns).toBe('number');
    // A cache line cannot cross between cores in under a nanosecond, and 20,000 trips of a
    // millisecond each would be a machine that cannot run the bench at all.
    expect(ns!).toBeGreaterThan(1);
    expect(ns!).toBeLessThan(1e6);
    expect(threads()).toBe(before);
  });
});
