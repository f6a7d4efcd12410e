// The shapes `dma-bounce report` accepts for --bench, --policies and --replay, as JSON Schemas (docs/report.md
// shows them). Keys beyond these are allowed, so that newer reports still load; what the page reads is checked.

const measure = { type: 'number', minimum: 0 } as const;
const nsOrNull = { anyOf: [{ type: 'number', minimum: 0 }, { type: 'null' }] } as const;

/** `dma-bounce bench --json` (or `--out DIR`'s report.json): { environment, cases }. */
export const BENCH_SCHEMA = {
  type: 'object',
  required: ['environment', 'cases'],
  properties: {
    environment: {
      type: 'object',
      required: ['node', 'cpus', 'cpuModel', 'date', 'quick'],
      properties: {
        node: { type: 'string' },
        cpus: { type: 'integer', minimum: 0 },
        cpuModel: { type: 'string' },
        date: { type: 'string' },
        quick: { type: 'boolean' },
        complete: { type: 'boolean' },
        coreRoundTripNs: {
          type: 'object',
          properties: { start: nsOrNull, end: nsOrNull },
        },
      },
    },
    cases: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name'],
        properties: {
          name: { type: 'string', minLength: 1 },
          bytesPerSecond: measure,
          segmentsPerSecond: measure,
          opsPerSecond: measure,
          latencySeconds: measure,
          rme: { type: 'number' },
          samples: { type: 'integer', minimum: 0 },
          rounds: { type: 'integer', minimum: 0 },
          baseline: {
            type: 'object',
            required: ['name', 'ratio'],
            properties: { name: { type: 'string' }, ratio: { type: 'number' }, ratios: { type: 'array', items: { type: 'number' } } },
          },
        },
      },
    },
  },
} as const;

/** The measures a bench case carries one of. */
export const BENCH_MEASURES = ['bytesPerSecond', 'segmentsPerSecond', 'opsPerSecond', 'latencySeconds'] as const;

/** `dma-bounce policies --json`: { workload, results }. */
export const POLICIES_SCHEMA = {
  type: 'object',
  required: ['workload', 'results'],
  properties: {
    workload: {
      type: 'object',
      required: ['ioSize', 'queueDepth', 'ios'],
      properties: { ioSize: { type: 'integer', minimum: 1 }, queueDepth: { type: 'integer', minimum: 1 }, ios: { type: 'integer', minimum: 0 } },
    },
    results: {
      type: 'array',
      items: {
        type: 'object',
        required: ['provider', 'client', 'route', 'policy', 'ok', 'ios', 'bytesCopied', 'bounceHighWaterBytes', 'bytesPerSecond', 'latencyUs', 'corrupted'],
        properties: {
          provider: { type: 'string' },
          client: { type: 'string' },
          route: { type: 'string', enum: ['BUS_ADDR', 'THRU_HOST_BRIDGE', 'NOT_SUPPORTED'] },
          policy: { type: 'string', minLength: 1 },
          ok: { type: 'boolean' },
          error: { type: 'string' },
          ios: { type: 'integer', minimum: 0 },
          bytesCopied: measure,
          bounceHighWaterBytes: measure,
          bytesPerSecond: measure,
          latencyUs: {
            type: 'object',
            required: ['p50', 'p90', 'p99'],
            properties: { p50: measure, p90: measure, p99: measure },
          },
          corrupted: { type: 'integer', minimum: 0 },
        },
      },
    },
  },
} as const;

/** A replay's swiotlb pool occupancy over time: { poolOccupancy: [{ t, usedSlots, totalSlots }], ... }. */
export const REPLAY_SCHEMA = {
  type: 'object',
  required: ['poolOccupancy'],
  properties: {
    title: { type: 'string' },
    poolOccupancy: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['t', 'usedSlots', 'totalSlots'],
        properties: {
          t: { type: 'number', minimum: 0 },
          usedSlots: { type: 'integer', minimum: 0 },
          totalSlots: { type: 'integer', minimum: 1 },
        },
      },
    },
  },
} as const;
