/**
 * `input api` and `output api`: the API gateway as components of a topology.
 *
 * - `input api` starts the gateway when the runtime starts (and closes it when it stops); what
 *   clients send enters the topology here and goes on to `to` (by default the first processor).
 *   Its keys: `port`, `host`, `auth`, and when present `cors`, `rate_limit`, `max_body_bytes`,
 *   `reply_timeout_ms`, `keepalive_ms`, `idempotency_key_ttl_ms`, `model_name` (README.md).
 * - `output api` delivers each reply to the session that asked: the gateway reads it from the
 *   session's events (and the chunks of a streamed reply as they are written), so the output only
 *   marks where the reply is complete.
 */
import { defineComponent } from '../define-component.js';
import { WoodworkRuntimeError } from '../errors.js';
import type { ComponentDefinition, ComponentContext } from '../types.js';
import { startGateway } from './start-gateway.js';
import { assertSafeExposure, gatewayOptionsFromConfig, resolveGatewaySettings } from './settings.js';
import type { Gateway, GatewayOptions } from './types.js';

export interface ApiInputOptions extends GatewayOptions {
  /** Called once the gateway listens, with its address (the bound port when `port` is 0). */
  readonly onListening?: (gateway: Gateway) => void;
}

/**
 * An `input api` implementation whose options override the `.ww` keys: register it in place of the
 * built-in one to fix settings in code (`registry.register(createApiInput({ port: 0 }), { replace: true })`).
 */
export function createApiInput(overrides: ApiInputOptions = {}): ComponentDefinition {
  const { onListening, ...fixed } = overrides;
  return defineComponent({
    kind: 'input',
    type: 'api',
    create: () => {
      let options: GatewayOptions | undefined;
      let gateway: Gateway | undefined;
      const optionsFor = (context: ComponentContext): GatewayOptions => {
        options ??= {
          ...gatewayOptionsFromConfig(context.config, fixed.env ?? process.env),
          logger: context.logger,
          metrics: context.metrics,
          topology: () => context.topology,
          ...fixed,
        };
        return options;
      };
      return {
        init(context) {
          // Refuse an unsafe or invalid configuration before any component starts.
          assertSafeExposure(resolveGatewaySettings(optionsFor(context), { modelName: 'woodwork' }));
        },
        async start(context) {
          if (!context.sessions) {
            throw new WoodworkRuntimeError('WW_RUNTIME_COMPONENT_INIT', 'input api needs the session client the runtime gives input components', { userError: false });
          }
          gateway = await startGateway(context.sessions, optionsFor(context));
          context.io.announce?.(`input api \`${context.component.name}\` listening on ${gateway.url}`);
          onListening?.(gateway);
        },
        async stop() {
          await gateway?.close();
          gateway = undefined;
        },
      };
    },
  });
}

/** The built-in `input api`: its settings come from the `.ww` file and `WOODWORK_API_*`. */
export const apiInput: ComponentDefinition = createApiInput();

/** The built-in `output api`: the reply reaches the session that asked; the gateway serves it from there. */
export const apiOutput: ComponentDefinition = defineComponent({
  kind: 'output',
  type: 'api',
  create: () => ({}),
});
