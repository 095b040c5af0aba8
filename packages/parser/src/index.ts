/**
 * @woodwork/parser — the `.ww` language: parse a file, analyse it into a topology, load it with its
 * environment, and print diagnostics like a compiler. This file is the package's whole public face.
 */

export { parse } from './parse.js';
export type { ParseOptions, ParseResult } from './parse.js';
export { createIncrementalParser } from './incremental-parse.js';
export type { IncrementalParser } from './incremental-parse.js';

export { analyze } from './analyze.js';
export type { AnalyzeOptions, AnalyzeResult } from './analyze.js';

export { loadTopology } from './load-topology.js';
export type { LoadTopologyOptions, LoadTopologyResult, TopologyFiles } from './load-topology.js';

export { resolveEnv, usageFilter } from './resolve-env.js';
export type { LoadMode, ResolveEnvOptions, ResolveEnvResult } from './resolve-env.js';

export { formatDiagnostic } from './format-diagnostic.js';
export { format } from './format.js';
export type { FormatOptions, FormatResult } from './format.js';
export { didYouMean } from './suggest.js';
export { moduleLanguageOf } from './pipe-spec.js';
export { findModuleExports } from './module-exports.js';
export type { ModuleExports } from './module-exports.js';
export { describeSpec } from './describe.js';
export type { ModuleLanguage } from './pipe-spec.js';
export type { FormatDiagnosticOptions } from './format-diagnostic.js';

export { diagnosticCodes } from './diagnostic-codes.js';
export type { DiagnosticCode } from './diagnostic-codes.js';
export type { Diagnostic, RelatedInformation, Severity } from './diagnostic.js';

export { catalogue, componentKeys, findComponentType, findTypesNamed } from './catalogue.js';
export { formatDuration, parseDuration } from './duration.js';
export type {
  Catalogue,
  ComponentTypeMatch,
  ComponentTypeSpec,
  JsonValue,
  KeySpec,
  KindRole,
  KindSpec,
  SupportStatus,
  ValueSpec,
} from './catalogue.js';

export { WoodworkParserError } from './errors.js';
export type { WoodworkParserErrorCode } from './errors.js';

export type {
  ConfigValue,
  DeploymentSpec,
  EnvUsage,
  EnvValue,
  EnvVariable,
  HookSpec,
  MetricsSpec,
  PipeSpec,
  ReferenceValue,
  TemplateValue,
  Topology,
  TopologyBus,
  TopologyComponent,
  TopologyGroup,
  TopologyRoute,
} from './topology.js';

export type { SourceLocation } from './location.js';
export type {
  BooleanNode,
  DeclarationNode,
  EntryNode,
  EnvReferenceNode,
  FileNode,
  IdentifierNode,
  InvalidNode,
  ListNode,
  MapNode,
  NullNode,
  NumberNode,
  ReferenceNode,
  StringNode,
  TemplateNode,
  ValueNode,
} from './ast.js';
