/**
 * Node/V8 flags every long-running fulcrum process starts with. A young generation of
 * at most 2 MB per semi-space (V8's default grows to 16 MB) keeps the resident size of a
 * balancer holding 10,000 idle connections under 100 MB; throughput measured the same.
 * The bin's shebang (src/cli/main.ts) and `npm start` spell these out too, and a unit
 * test keeps the three in step; whatever spawns fulcrum (tests, benchmarks, later the
 * worker supervisor) passes them from here.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
