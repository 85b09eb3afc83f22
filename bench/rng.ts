/** The benchmarks' seeded PRNG: the one in testkit/, which the tests use too. */
export { rng } from '../testkit/rng.js';
