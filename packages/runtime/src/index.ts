/**
 * @woodwork/runtime: runs a Woodwork topology — component hosts, routing, pipes, hooks, sessions —
 * embedded in a Node application or as one host of a distributed system. The component contract
 * (types.ts) is what every component implementation is written against.
 */
export { createRuntime } from './runtime.js';
export type { ReloadSummary, Runtime, RuntimeHealth, RuntimeOptions, RuntimeState, Session } from './runtime.js';

export { defineComponent } from './define-component.js';
export { createEmptyRegistry } from './registry.js';
export type { ComponentRegistry, RegisterOptions, RegisteredComponent } from './registry.js';
export { builtinComponents, createBuiltinRegistry as createComponentRegistry } from './components/index.js';
export { commandLineInput, consoleOutput } from './components/terminal-io.js';
export { echoTransform, lowercaseTransform, templateTransform, uppercaseTransform } from './components/transform.js';

export { ComponentHost, defaultResultEvent } from './host.js';
export type { ComponentStats, HostServices, HostSettings } from './host.js';

export { EventTypes, inputPayload, matchesEvent, textOf, withText } from './events.js';
export type {
  AgentErrorPayload,
  CircuitPayload,
  ComponentFallbackPayload,
  ComponentRetryPayload,
  ComponentSaturatedPayload,
  ComponentTimeoutPayload,
  RuntimeEventType,
  SessionEndedPayload,
  StreamChunkPayload,
  StreamChunksPayload,
  TurnCompletedPayload,
} from './events.js';
export { resilienceDefaults } from './resilience.js';
export type { CircuitBreakerSettings, CircuitState, ResilienceSettings, RetrySettings } from './resilience.js';

export { errorMessage, formatLocation, serializeRuntimeError, WoodworkRuntimeError } from './errors.js';
export type { ErrorLocation, RuntimeErrorCode, RuntimeErrorOptions, SerializedRuntimeError } from './errors.js';

export { createConsoleLogger, isLogLevel, silentLogger } from './logger.js';
export type { ConsoleLoggerOptions, LogLevel } from './logger.js';

export { SessionManager } from './sessions/manager.js';
export type { SessionManagerOptions } from './sessions/manager.js';
export { createMemorySessionStore } from './sessions/memory-store.js';
export { createRedisSessionStore } from './sessions/redis-store.js';
export type { RedisSessionStoreOptions } from './sessions/redis-store.js';
export type { SessionStore } from './sessions/store.js';
export { createBullmqSessionTimer, SESSION_TIMEOUT_QUEUE } from './sessions/bullmq-timer.js';
export type { BullmqSessionTimerOptions } from './sessions/bullmq-timer.js';
export type { SessionTimer, SessionTimerHandlers } from './sessions/timer.js';
export { createMemoryWakeTimer } from './sessions/wakeups.js';
export type { WakeTimer, Wakeup } from './sessions/wakeups.js';
export { createBullmqWakeTimer, SESSION_WAKEUP_QUEUE } from './sessions/bullmq-wakeups.js';
export type { BullmqWakeTimerOptions } from './sessions/bullmq-wakeups.js';

export { ModuleLoader } from './modules/module-loader.js';
export type { FunctionSpec, LoadRequester, ModuleLanguage, ModuleLoaderOptions } from './modules/module-loader.js';

export { apiInput, apiOutput, createApiInput } from './gateway/component.js';
export type { ApiInputOptions } from './gateway/component.js';
export { startGateway } from './gateway/start-gateway.js';
export type {
  Gateway,
  GatewayAcceptedResponse,
  GatewayAuthOptions,
  GatewayClientFrame,
  GatewayCorsOptions,
  GatewayErrorBody,
  GatewayErrorCode,
  GatewayOptions,
  GatewayRateLimitOptions,
  GatewayServerFrame,
  GatewaySessionResponse,
  GatewayTurnResponse,
} from './gateway/types.js';

export { runTerminal } from './terminal.js';
export type { TerminalOptions, TerminalResult, TerminalRuntime } from './terminal.js';

export { componentGroup, componentTopic, DEFAULT_NAMESPACE, eventsTopic, hooksGroup, repliesTopic } from './topics.js';
export { newTrace, traceIdOf } from './trace.js';
export { createBusTransport, createInProcessTransport } from './streams.js';
export type { BusTransportOptions, InProcessTransportOptions, StreamAddress, StreamSink, StreamTransport } from './streams.js';

export type {
  AskOptions,
  CallOptions,
  ChunkWriter,
  Component,
  ComponentContext,
  ComponentDeclaration,
  ComponentDefinition,
  ComponentFactory,
  ComponentInfo,
  ComponentReference,
  Downstream,
  DownstreamCallOptions,
  EventsOptions,
  EventsResume,
  FunctionModule,
  HandlerContext,
  JsonValue,
  LoadedFunction,
  Logger,
  Message,
  MethodHandler,
  RuntimeIO,
  SendOptions,
  SessionClient,
  SessionContext,
  SessionEvent,
  SessionInfo,
  SessionRecords,
  StreamChunk,
  StreamChunkInput,
  StreamOptions,
  Turn,
  TurnResult,
} from './types.js';
