/**
 * `api functions { path = "tools.ts" }`: every exported function of a module is a tool. JavaScript
 * and TypeScript run in the tool's host through the runtime's module loader (tsx, no build step;
 * reloaded by `woodwork dev` when the file changes, as pipes are); Python (`.py`, the classic
 * engine's tool files) runs in the runtime's Python bridge. Schemas: see `./schema.ts`.
 *
 * A function that throws, or whose input the model got wrong, fails the call with a
 * `WW_AI_TOOL_FAILED` error naming the function, the module and what was wrong; the agent turns
 * that into an observation the model sees, so the model can correct itself.
 */
import { readFile } from 'node:fs/promises';
import { defineComponent, errorMessage, type FunctionModule, type JsonValue, type LoadedFunction } from '@woodwork/runtime';
import { WoodworkAiError } from '../errors.js';
import { isToolCallRequest, toolFlags, type ToolKeys, type ToolSpec } from './protocol.js';
import { fromSignature, fromZod, zodSchemaFor, type DerivedSchema } from './schema.js';

export interface FunctionsToolConfig extends ToolKeys {
  readonly path: string;
}

interface FunctionTool {
  readonly fn: LoadedFunction;
  readonly spec: ToolSpec;
  readonly schema: DerivedSchema;
}

/** What the module loader adds to a `FunctionModule` for JS/TS (its other exports and its file). */
interface ModuleExtras {
  readonly values?: Readonly<Record<string, unknown>>;
  readonly file?: string;
}

function describe(fn: LoadedFunction, module: string): string {
  return fn.description ?? `The function \`${fn.name}\` of ${module}.`;
}

export const functionsTool = defineComponent<FunctionsToolConfig>({
  kind: 'api',
  type: 'functions',
  // The agent emits the canonical `tool.observation` (after its pipes); the tool's own result
  // event is its raw output, under a name of its own so clients do not see two observations.
  resultEvent: 'tool.result',
  create: ({ config, component }) => {
    let tools = new Map<string, FunctionTool>();
    const flags = toolFlags(config);

    const fail = (message: string, hint: string) =>
      new WoodworkAiError('WW_AI_TOOL_FAILED', message, { component: component.name, location: component.location, hint });

    return {
      async init(context) {
        const module: FunctionModule & ModuleExtras = await context.loadFunctions(config.path);
        const source = module.file === undefined ? undefined : await readFile(module.file, 'utf8').catch(() => undefined);
        const values = module.values ?? {};
        tools = new Map(
          module.functions.map((fn) => {
            const zod = fn.language === 'python' ? undefined : zodSchemaFor(values, fn.name);
            const schema = zod
              ? fromZod(zod)
              : fromSignature({ name: fn.name, source, language: fn.language === 'python' ? 'python' : 'ts', parameterNames: fn.parameters, description: fn.description });
            return [fn.name, { fn, schema, spec: { name: fn.name, description: describe(fn, config.path), parameters: schema.parameters, ...flags } }];
          }),
        );
        if (tools.size === 0) {
          throw fail(`${config.path} exports no functions`, `export the functions the agent may call from ${config.path}`);
        }
      },

      methods: {
        tools: () => [...tools.values()].map((tool) => tool.spec) as unknown as JsonValue,
      },

      async handle(message) {
        const request = message.payload;
        if (!isToolCallRequest(request)) {
          throw fail(`\`${component.name}\` was sent ${JSON.stringify(message.payload)?.slice(0, 80)}, not a tool call`, 'an agent calls it with { tool, input }; list it in an agent\'s `tools`');
        }
        const tool = tools.get(request.tool);
        if (!tool) {
          throw fail(`${config.path} has no function \`${request.tool}\``, `its functions are ${[...tools.keys()].map((name) => `\`${name}\``).join(', ')}`);
        }
        let input: unknown = request.input ?? {};
        if (tool.schema.validate) {
          const checked = tool.schema.validate(input);
          if (!checked.ok) throw fail(`the input of \`${request.tool}\` does not match its schema: ${checked.message}`, `the schema is \`${request.tool}Schema\` in ${config.path}`);
          input = checked.value;
        }
        const args =
          tool.schema.call.kind === 'object'
            ? [input]
            : tool.schema.call.names.map((name) => (input as Record<string, unknown> | null)?.[name]);
        // Trailing parameters the model left out stay undefined, so their defaults apply.
        while (args.length > 0 && args[args.length - 1] === undefined) args.pop();
        try {
          const output = await tool.fn.call(...args);
          return output === undefined ? null : (output as JsonValue);
        } catch (error) {
          const python = (error as { python?: { traceback?: string } }).python;
          throw fail(`\`${request.tool}\` (${config.path}) failed: ${errorMessage(error)}`, python?.traceback ? `Python traceback:\n${python.traceback.trimEnd()}` : `fix ${config.path}`);
        }
      },
    };
  },
});
