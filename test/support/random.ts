// Seeded randomness for tests: a fresh seed each run (printed), or DMA_BOUNCE_SEED to replay one.
export interface Rng {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number;
  pick<T>(items: readonly T[]): T;
  fill(bytes: Uint8Array): Uint8Array;
}

export function makeRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    // mulberry32
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
    fill(bytes) {
      let i = 0;
      if (bytes.byteOffset % 4 === 0) {
        // Fast path: whole words from xorshift32 seeded by the main generator.
        const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
        let x = (next() * 4294967296) >>> 0 || 1;
        for (let w = 0; w < words.length; w++) {
          x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
          words[w] = x;
        }
        i = words.length * 4;
      }
      for (; i + 4 <= bytes.length; i += 4) { // unaligned start
        const word = (next() * 4294967296) >>> 0;
        bytes[i] = word; bytes[i + 1] = word >>> 8; bytes[i + 2] = word >>> 16; bytes[i + 3] = word >>> 24;
      }
      for (; i < bytes.length; i++) bytes[i] = (next() * 256) >>> 0;
      return bytes;
    },
  };
}

/** An Rng for one test file, seeded from DMA_BOUNCE_SEED or at random, with the seed printed. */
export function testRng(file: string): Rng {
  const fromEnv = process.env.DMA_BOUNCE_SEED;
  const seed = fromEnv !== undefined ? Number(fromEnv) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  console.log(`[${file}] random seed ${seed} (replay with DMA_BOUNCE_SEED=${seed})`);
  return makeRng(seed);
}
