/**
 * The enterprise seam. An ingestion package (by default `@woodwork/enterprise`, installed next to
 * the application) that exports `createIngestionClient` receives every metrics event of a
 * component whose `.ww` block says `metrics = { enterprise_enabled = true }`, once activated with
 * an API key from `WOODWORK_ENTERPRISE_API_KEY`. Without the package, the key or the flag, nothing
 * is sent and nothing fails: `loadIngestionClient` resolves to null and says why once, at debug.
 *
 * The open-source packages never depend on the ingestion package; it is found at start by a
 * dynamic import.
 */
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';

import type { ComponentPerformanceEvent } from './events.js';
import { type MetricsLogger, defaultLogger } from './logger.js';

/** What an ingestion client does. Version 1 of the interface. */
export interface IngestionClient {
  /**
   * Takes one event. Must not block: buffer and send in the background. A thrown error or a
   * rejected promise is logged by the emitter and never reaches the component.
   */
  ingest(event: ComponentPerformanceEvent): void | Promise<void>;
  /** Sends what is buffered and releases connections; called once, when the host stops. */
  close(): void | Promise<void>;
}

export interface IngestionClientSettings {
  readonly apiKey: string;
}

/** What the ingestion package's entry module exports. */
export interface IngestionModule {
  createIngestionClient(settings: IngestionClientSettings): IngestionClient | Promise<IngestionClient>;
}

export const defaultIngestionModule = '@woodwork/enterprise';

export interface LoadIngestionClientOptions {
  /** `enterprise_enabled` from the component's `.ww` metrics block. Default false. */
  readonly enabled?: boolean;
  /**
   * The module to import: a package name, an absolute path or a `file:` URL. Default
   * `WOODWORK_ENTERPRISE_MODULE` from the environment, else `@woodwork/enterprise`. A package
   * name resolves from where `@woodwork/metrics` is installed (npm hoisting puts an application's
   * dependencies within reach).
   */
  readonly moduleSpecifier?: string;
  /** Default `WOODWORK_ENTERPRISE_API_KEY` from the environment. */
  readonly apiKey?: string;
  /** Default: the OpenTelemetry diagnostic logger. */
  readonly logger?: MetricsLogger;
  /** Where the defaults above are read. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

function isMissing(error: unknown, specifier: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (!message.includes(specifier)) return false; // a dependency of the package is missing: a real fault
  return code === 'ERR_MODULE_NOT_FOUND' || /cannot find (module|package)|failed to (load|resolve)/i.test(message);
}

/**
 * Detects and activates the ingestion package. Resolves to a client, or to null when enterprise
 * ingestion is off, has no API key, or the package is not installed (logged once at debug), or
 * the package is broken (logged at warn). Never rejects.
 */
export async function loadIngestionClient(options: LoadIngestionClientOptions = {}): Promise<IngestionClient | null> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? defaultLogger();
  if (!options.enabled) return null;
  const specifier = options.moduleSpecifier ?? env.WOODWORK_ENTERPRISE_MODULE ?? defaultIngestionModule;
  const apiKey = options.apiKey ?? env.WOODWORK_ENTERPRISE_API_KEY;
  if (!apiKey) {
    logger.debug(
      `enterprise_enabled is set but WOODWORK_ENTERPRISE_API_KEY is not: metrics events go to the void`,
    );
    return null;
  }
  const target = isAbsolute(specifier) ? pathToFileURL(specifier).href : specifier;
  let loaded: Partial<IngestionModule>;
  try {
    loaded = (await import(/* @vite-ignore */ target)) as Partial<IngestionModule>;
  } catch (error) {
    if (isMissing(error, specifier)) {
      logger.debug(`enterprise ingestion package ${specifier} is not installed: metrics events go to the void`);
    } else {
      logger.warn(`enterprise ingestion package ${specifier} failed to load; metrics events go to the void`, error);
    }
    return null;
  }
  if (typeof loaded.createIngestionClient !== 'function') {
    logger.warn(`${specifier} does not export createIngestionClient({ apiKey }); metrics events go to the void`);
    return null;
  }
  try {
    const client = await loaded.createIngestionClient({ apiKey });
    if (typeof client?.ingest !== 'function' || typeof client.close !== 'function') {
      logger.warn(`${specifier}: createIngestionClient returned no { ingest, close } client; metrics events go to the void`);
      return null;
    }
    return client;
  } catch (error) {
    logger.warn(`${specifier}: createIngestionClient failed; metrics events go to the void`, error);
    return null;
  }
}
