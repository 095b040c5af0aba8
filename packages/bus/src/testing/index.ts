/**
 * @woodwork/bus/testing: the conformance suite every bus adapter runs, and the helpers its
 * tests use. Needs vitest (an optional peer dependency); `assertMatchesEnvelopeSchema` also
 * needs ajv and ajv-formats.
 */
export { runBusConformanceSuite, CONFORMANCE_SCENARIOS } from './conformance.js';
export type { BackpressureCheck, BusConformanceSuiteOptions, ConformanceScenario } from './conformance.js';
export { waitFor } from './wait-for.js';
export type { WaitForOptions } from './wait-for.js';
export { assertMatchesEnvelopeSchema } from './envelope-schema.js';
