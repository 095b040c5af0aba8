#!/usr/bin/env node
// The component host: one component (or `vm server` group) of a topology over a real bus.
// Configured by environment (WOODWORK_TOPOLOGY, WOODWORK_COMPONENT, WOODWORK_BUS_URL, …; see
// packages/runtime/src/distributed/README.md). `woodwork up` runs `node apps/host/main.js` once per
// component, and a generated Dockerfile runs the same command. Composition only: the behaviour
// lives in @woodwork/runtime/distributed, the OpenTelemetry wiring in @woodwork/metrics/node.
import { startTelemetry } from '@woodwork/metrics/node';
import { runHostProcess } from '@woodwork/runtime/distributed';

const code = await runHostProcess({ startTelemetry });
process.exit(code);
