/**
 * `@woodwork/runtime/distributed`: running a topology as separate processes over a real bus — the
 * component host process (what apps/host and every container run), the host registry, and the
 * supervisor and state file behind `woodwork up`, `status`, `logs` and `stop`. README.md beside
 * this file describes the processes, their environment, endpoints and exit codes.
 */
export { startHost } from './host.js';
export type { HostOptions, HostTelemetry, RunningHost } from './host.js';

export { describeFailure, HostExitCode, runHostProcess } from './process.js';
export type { HostProcessOptions } from './process.js';

export { distributedUrls, HostEnv, isRedisUrl, metricsEventsEnabled, readHostConfig } from './host-config.js';
export type { HostConfig } from './host-config.js';

export { hostUnits, loadHostTopology, resolveUnit } from './units.js';
export type { HostUnit, LoadHostTopologyOptions } from './units.js';

export { createRedisHostRegistry, hostInstanceId, isStaleRecord, redactUrl } from './registry.js';
export type { HostRecord, HostRegistry, RedisHostRegistryOptions } from './registry.js';

export { probe, startSupervisor } from './supervisor.js';
export type { Supervisor, SupervisorEvent, SupervisorOptions } from './supervisor.js';

export { isAlive, logsDir, readUpState, removeUpState, runsProgram, STATE_DIR, stateFile, upClientOptions } from './state.js';
export type { UpProcessState, UpState } from './state.js';
