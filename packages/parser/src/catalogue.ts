/**
 * The component catalogue: every kind and type a `.ww` file may declare, the keys each accepts with
 * their value types, required keys and defaults, and whether the runtime implements it. It is data,
 * not code: the parser validates against it and the runtime registers one implementation per
 * supported kind/type pair against it, so the two can never disagree about what exists.
 *
 * `status: 'unsupported'` marks pairs the classic Python engine had and this runtime does not run
 * (neo4j, keyword_voice, environment coding, …): such declarations still parse, and validation
 * reports them by name (WW204) instead of calling them unknown. `status: 'planned'` marks pairs of
 * the language that no implementation runs yet (the agent, tools, knowledge bases, MCP): they
 * validate with their keys checked, `woodwork validate` says they are planned, and the runtime
 * refuses to start them, naming the pair.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** What a key's value must look like. */
export type ValueSpec =
  | { readonly type: 'string' }
  /** A file path relative to the `.ww` file that must stay inside the project folder. */
  | { readonly type: 'path' }
  | { readonly type: 'number'; readonly integer?: boolean; readonly min?: number; readonly max?: number }
  /**
   * A length of time: a number of milliseconds (`30000`) or a string with a unit (`"500ms"`,
   * `"30s"`, `"5m"`, `"1h"`; a bare `"30000"` is milliseconds too). The topology holds the
   * milliseconds. `off` also accepts `"off"` and `0`, which the topology holds as 0. `min`/`max`
   * are in milliseconds.
   */
  | { readonly type: 'duration'; readonly min?: number; readonly max?: number; readonly off?: boolean }
  | { readonly type: 'boolean' }
  | { readonly type: 'enum'; readonly values: readonly string[] }
  /**
   * A bare name of another declaration. `kinds` limits what it may point at; `receiver` requires a
   * component that can receive messages (for `to`).
   */
  | { readonly type: 'reference'; readonly kinds?: readonly string[]; readonly receiver?: boolean }
  | { readonly type: 'list'; readonly items: ValueSpec }
  /** A map with known keys. */
  | { readonly type: 'map'; readonly keys: Readonly<Record<string, KeySpec>> }
  /** A map with any keys whose values all look alike. */
  | { readonly type: 'record'; readonly values: ValueSpec }
  /** The first option whose shape fits the value is used. */
  | { readonly type: 'oneOf'; readonly options: readonly ValueSpec[] }
  /** A pipe: `"path::export"`, `{ event, function }` or `{ event, script_path, function_name }`. */
  | { readonly type: 'pipe' }
  /** A hook, in the same three spellings as a pipe. */
  | { readonly type: 'hook' }
  | { readonly type: 'any' };

export interface KeySpec {
  readonly value: ValueSpec;
  /** One line for humans (README, editor hovers, `woodwork` help). */
  readonly description: string;
  readonly required?: boolean;
  /** Filled into the topology when the key is left out (or set to `null`). */
  readonly default?: JsonValue;
  /**
   * The referenced components are built before this one (an agent needs its model). Cycles through
   * such keys are errors (WW212); references elsewhere (`to`) are routing and may form loops.
   */
  readonly construction?: boolean;
  /**
   * Whether an environment reference (`$NAME`) may stand for the value. True by default; false for
   * keys the build reads (`deployment`, …), which must be known without the environment.
   */
  readonly env?: boolean;
  /**
   * Left out, the value is this environment variable's (an `llm`'s `api_key`). `required`: the
   * component cannot work without one of the two; validating warns (WW301) when both are missing.
   */
  readonly fromEnv?: { readonly variable: string; readonly required: boolean };
}

/**
 * `supported`: an implementation is registered for the pair (the runtime's built-ins or
 * `@woodwork/ai`; a test holds the catalogue to the registries). `planned`: the pair is part of the
 * language and validates with its keys checked, but nothing runs it yet. `unsupported`:
 * a classic-engine pair this runtime will not run (WW204).
 */
export type SupportStatus = 'supported' | 'planned' | 'unsupported';

export interface ComponentTypeSpec {
  readonly description: string;
  /** Other names for the type (`anthropic` for `claude`, `cli` for `command_line`). */
  readonly aliases: readonly string[];
  readonly status: SupportStatus;
  /** The type's own keys; the kind's common keys come on top when `acceptsCommonKeys`. */
  readonly keys: Readonly<Record<string, KeySpec>>;
  /** At least one key of each group must be present (`mcp server`: `server`, `command` or `url`). */
  readonly requireOneOf?: readonly (readonly string[])[];
  /** For an `unsupported` pair: what to write instead, as the validation hint says it. */
  readonly instead?: string;
}

/**
 * Where a kind sits in the message flow, which drives default routes: input → processor → output.
 * Tools, resources and infrastructure are never routed to by default.
 */
export type KindRole = 'input' | 'processor' | 'output' | 'tool' | 'resource' | 'infrastructure';

export interface KindSpec {
  readonly description: string;
  readonly role: KindRole;
  /** Whether messages can be sent to it (`to` may point at it). */
  readonly receives: boolean;
  /** Whether the keys every component accepts (`to`, `pipes`, …) apply. False for `bus` and `vm`. */
  readonly acceptsCommonKeys: boolean;
  readonly status: SupportStatus;
  readonly types: Readonly<Record<string, ComponentTypeSpec>>;
  /**
   * The kind exists for files written for the classic engine, which always spell it
   * (`core command_line`). The short form `name = type {}` never picks it when another kind has
   * the type, so `in = command_line {}` stays the terminal input.
   */
  readonly spelledOnly?: boolean;
}

export interface Catalogue {
  readonly version: 1;
  readonly commonKeys: Readonly<Record<string, KeySpec>>;
  readonly kinds: Readonly<Record<string, KindSpec>>;
}

// ---------------------------------------------------------------------------------------------
// Building blocks

const string = { type: 'string' } as const;
const path = { type: 'path' } as const;
const boolean = { type: 'boolean' } as const;
const any = { type: 'any' } as const;
const stringOrNumber: ValueSpec = { type: 'oneOf', options: [string, { type: 'number', min: 0 }] };
const listOf = (items: ValueSpec): ValueSpec => ({ type: 'list', items });
const referenceTo = (...kinds: string[]): ValueSpec => ({ type: 'reference', kinds });

const deploymentKeys: Record<string, KeySpec> = {
  mode: {
    value: { type: 'enum', values: ['auto', 'local', 'container'] },
    default: 'auto',
    description:
      'Where the component runs: `local` in the woodwork process, `container` in its own container, `auto` (default) lets the command decide (in-process for `woodwork dev`, a container for `woodwork build`).',
  },
  scaling: {
    value: {
      type: 'map',
      keys: {
        min_instances: {
          value: { type: 'number', integer: true, min: 0 },
          default: 1,
          description: 'Fewest instances kept running (default 1, so the first message never waits for a cold start).',
        },
        max_instances: {
          value: { type: 'number', integer: true, min: 1 },
          description: 'Most instances (default: min_instances, i.e. no autoscaling unless asked for).',
        },
        scale_metric: {
          value: { type: 'enum', values: ['queue_depth', 'cpu', 'connections'] },
          default: 'queue_depth',
          description: 'What drives scaling (default `queue_depth`: waiting messages are the direct measure of falling behind).',
        },
        scale_threshold: {
          value: { type: 'number', min: 0 },
          default: 5,
          description: 'Per-instance value of scale_metric above which an instance is added (default 5).',
        },
      },
    },
    default: {},
    description: 'Instance counts and the metric that scales them.',
  },
  resources: {
    value: {
      type: 'map',
      keys: {
        cpu: { value: stringOrNumber, description: 'CPU per instance, Kubernetes notation (`"500m"`, `1`). No default: unlimited.' },
        memory: { value: stringOrNumber, description: 'Memory per instance, Kubernetes notation (`"1Gi"`). No default: unlimited.' },
      },
    },
    default: {},
    description: 'Resource limits per instance.',
  },
  session_affinity: {
    value: boolean,
    default: false,
    description:
      'Send every message of a session to the same instance (default false: the bus already keeps per-session order; turn on for components that keep session state in memory).',
  },
};

const deployment: KeySpec = {
  value: { type: 'map', keys: deploymentKeys },
  default: {},
  env: false,
  description: 'How the component is deployed and scaled; read by `woodwork build`, so it cannot use environment references.',
};

const commonKeys: Record<string, KeySpec> = {
  to: {
    value: { type: 'oneOf', options: [{ type: 'reference', receiver: true }, listOf({ type: 'reference', receiver: true })] },
    env: false,
    description:
      "Where this component's output goes next (routing, not construction). Default: input → agent/llm → output, see the README.",
  },
  pipes: {
    value: listOf({ type: 'pipe' }),
    default: [],
    env: false,
    description: 'Synchronous transforms of the messages this component receives, run in order; each may replace the payload.',
  },
  hooks: {
    value: listOf({ type: 'hook' }),
    default: [],
    env: false,
    description: 'Asynchronous side effects on the events this component emits; they see a copy and never block the chain.',
  },
  streaming: {
    value: boolean,
    default: false,
    env: false,
    description: 'Emit and accept stream chunks instead of whole messages (default false).',
  },
  deployment,
  metrics: {
    value: {
      type: 'map',
      keys: {
        custom_metrics: { value: listOf(string), default: [], description: 'Names of extra metrics the component reports.' },
        enterprise_enabled: {
          value: boolean,
          default: false,
          description: 'Send metrics to an enterprise ingestion client when one is installed (default false).',
        },
      },
    },
    default: {},
    env: false,
    description: 'Metrics settings.',
  },
  // Failures contained per component. The host applies these around every `handle`, so every
  // component gets them without code of its own (@woodwork/runtime README, "Failures contained per
  // component"). They have no catalogue defaults on purpose: the runtime applies its own, and
  // topologies stay as written instead of every component carrying five extra keys.
  timeout: {
    value: { type: 'duration', min: 1, off: true },
    description:
      'How long one handling of a message may take (`"30s"`, `"5m"`, milliseconds) before it is aborted through `context.signal` and fails with `WW_RUNTIME_TIMEOUT` (retried when `retry` allows). Default `"10m"`: long enough for an agent turn of many steps on a slow model, bounded so a hung call cannot hold a session forever. `"off"`: no limit.',
  },
  retry: {
    value: {
      type: 'oneOf',
      options: [
        { type: 'number', integer: true, min: 1, max: 100 },
        boolean,
        {
          type: 'map',
          keys: {
            attempts: {
              value: { type: 'number', integer: true, min: 1, max: 100 },
              description: 'Tries in all, the first included (default 3; 1: no retries).',
            },
            backoff: {
              value: { type: 'duration', min: 0 },
              description: 'The wait before the first retry, doubled for each next one (default `"250ms"`).',
            },
            max_backoff: {
              value: { type: 'duration', min: 0 },
              description: 'The longest wait between two tries (default `"30s"`).',
            },
            jitter: {
              value: { type: 'number', min: 0, max: 1 },
              description:
                'The share of each wait that is random, so instances that failed together do not retry together (default 0.5: between half and all of the wait; 0: exact waits).',
            },
          },
        },
      ],
    },
    description:
      'Retries of a handling that failed with an error marked retryable (`isRetryable`: a timeout, a rate limit, a broker blip), with exponential backoff and jitter: `{ attempts, backoff, max_backoff, jitter }`, a number of attempts, or `false`. Default `{ attempts = 3, backoff = "250ms", max_backoff = "30s", jitter = 0.5 }`. Other errors are never retried.',
  },
  circuit_breaker: {
    value: {
      type: 'oneOf',
      options: [
        boolean,
        {
          type: 'map',
          keys: {
            failures: {
              value: { type: 'number', integer: true, min: 1 },
              description: 'Failures in a row (timeouts and retryable errors) that open the circuit (default 5).',
            },
            window: {
              value: { type: 'duration', min: 1 },
              description: 'Failures older than this no longer count towards `failures` (default `"60s"`).',
            },
            cooldown: {
              value: { type: 'duration', min: 1 },
              description: 'How long the circuit stays open before one trial call is let through (half-open) (default `"30s"`).',
            },
          },
        },
      ],
    },
    description:
      'A circuit breaker per downstream (the component itself, and each provider, tool or server it guards with `context.downstream(name)`): after `failures` failures in a row within `window` it opens and messages fail at once (or get `fallback`) for `cooldown`, then one trial call decides. Default `{ failures = 5, window = "60s", cooldown = "30s" }`; `false` turns it off.',
  },
  fallback: {
    value: {
      type: 'oneOf',
      options: [
        string,
        {
          type: 'map',
          keys: { text: { value: string, required: true, description: 'The reply text.' } },
        },
      ],
    },
    description:
      'The reply (text, or `{ text }`) given instead of an error when the circuit is open, when a timeout or retryable error outlasts `retry`, or when a call the component guards with `context.downstream()` fails: the turn completes normally and a `component.fallback` event says why. Default none: such failures are `agent.error`s.',
  },
  max_concurrency: {
    value: { type: 'number', integer: true, min: 1 },
    description:
      'The most messages one instance of the component handles at once (across sessions); more wait for a slot (a `component.saturated` event tells their session) and are never dropped. Default: the runtime\'s `maxInFlight` (64).',
  },
};

const prompt: KeySpec = {
  value: {
    type: 'oneOf',
    options: [
      string,
      {
        type: 'map',
        keys: {
          file: { value: path, required: true, description: 'A prompt template file, relative to the .ww file.' },
          variables: { value: { type: 'record', values: any }, description: 'Values substituted into the template.' },
        },
      },
    ],
  },
  description: 'The system prompt: inline text, or `{ file, variables }`.',
};

const memoryKey: KeySpec = {
  value: referenceTo('memory'),
  construction: true,
  description: 'A `memory` component that keeps the conversation.',
};
const knowledgeBaseKey: KeySpec = {
  value: referenceTo('knowledge_base'),
  construction: true,
  description: 'A `knowledge_base` component to retrieve context from.',
};

/** Keys every tool component takes: how an agent treats its calls (besides the common `timeout`). */
const toolKeys: Record<string, KeySpec> = {
  approval: {
    value: boolean,
    default: false,
    description: 'Each call waits for a person to allow it (`tool.approval_requested`; answer yes / no, or `{ approval: { id, approved } }`). Default false.',
  },
  idempotent: {
    value: boolean,
    default: false,
    description:
      'Running a call twice does no harm: a call in flight when the agent\'s host died is run again. Default false: the model is told it may or may not have happened.',
  },
  max_output_chars: {
    value: { type: 'number', integer: true, min: 100 },
    description: "The longest output of one call the model sees, in characters (default: the agent's `max_observation_chars`).",
  },
};

function llmKeys(defaultModel: string | undefined, defaultBaseUrl?: string, apiKey?: KeySpec['fromEnv']): Record<string, KeySpec> {
  return {
    model: {
      value: string,
      ...(defaultModel === undefined
        ? { required: true }
        : { default: defaultModel }),
      description: defaultModel === undefined ? 'The model name (required: there is no common default).' : `The model name (default \`${defaultModel}\`).`,
    },
    api_key: {
      value: string,
      ...(apiKey === undefined ? {} : { fromEnv: apiKey }),
      description:
        apiKey === undefined
          ? "The provider's API key, usually `$PROVIDER_API_KEY`. Left out, the provider's usual environment variable is used."
          : `The provider's API key (default: \`${apiKey.variable}\`${apiKey.required ? '; one of the two is needed' : ', if set'}).`,
    },
    base_url: {
      value: string,
      ...(defaultBaseUrl === undefined ? {} : { default: defaultBaseUrl }),
      description:
        defaultBaseUrl === undefined ? "The API's base URL (default: the provider's)." : `The server's base URL (default \`${defaultBaseUrl}\`).`,
    },
    temperature: { value: { type: 'number', min: 0, max: 2 }, description: 'Sampling temperature, 0 to 2 (default: the provider’s).' },
    max_tokens: { value: { type: 'number', integer: true, min: 1 }, description: 'Most tokens per reply (default: the provider’s).' },
    streaming: {
      value: boolean,
      default: true,
      env: false,
      description: 'Send the reply on token by token as it is generated (default true for models: the first words show at once; `false` sends the whole reply).',
    },
    max_retries: {
      value: { type: 'number', integer: true, min: 0, max: 10 },
      description: 'Retries of a failed call (429 after its `retry-after`, 5xx, a refused connection) before the first token; backoff from 2 s, doubling (default 2).',
    },
    timeout_ms: {
      value: { type: 'number', integer: true, min: 1 },
      description: 'Longest a whole reply may take, retries included (default 120 s, the runtime’s turn timeout).',
    },
    first_token_timeout_ms: {
      value: { type: 'number', integer: true, min: 1 },
      description: 'Longest wait for the first token, retries included (default 60 s: a stuck provider fails fast, a long reply still may stream).',
    },
    headers: { value: { type: 'record', values: string }, description: 'Extra HTTP headers sent with every call (a proxy’s, a gateway’s).' },
    provider_options: {
      value: { type: 'record', values: any },
      description: 'Options only this provider has, passed to the AI SDK as its `providerOptions` (`{ reasoningEffort = "low" }` for OpenAI).',
    },
    memory: memoryKey,
    knowledge_base: knowledgeBaseKey,
    prompt,
  };
}

/** `llm local`: the shared keys a model in this process has (no key, URL or HTTP headers), and its own. */
function localLlmKeys(): Record<string, KeySpec> {
  const { api_key: _key, base_url: _url, headers: _headers, provider_options: _options, ...keys } = llmKeys(undefined);
  return {
    ...keys,
    model: {
      value: string,
      description:
        'A .gguf file (absolute, `~/…`, or relative to the .ww file) or a Hugging Face reference (`hf:user/repo/file.gguf`, `hf:user/repo:Q4_K_M`), downloaded once into ~/.cache/woodwork/models. Default `${WOODWORK_LOCAL_MODEL}`; `woodwork init` writes `"${WOODWORK_LOCAL_MODEL:-hf:HuggingFaceTB/SmolLM2-135M-Instruct-GGUF:Q8_0}"`, a very small model (SmolLM2-135M-Instruct) with no key needed.',
    },
    context_size: { value: { type: 'number', integer: true, min: 128 }, description: 'Tokens the context holds: prompt, history and reply (default 4096, at most what the model was trained for).' },
    threads: { value: { type: 'number', integer: true, min: 1 }, description: 'CPU threads (default: the cores this process may use, less one for Node itself; llama.cpp threads that lose their core stall each other).' },
  };
}

function openaiKeys(): Record<string, KeySpec> {
  return {
    ...llmKeys('gpt-4o-mini', undefined, { variable: 'OPENAI_API_KEY', required: true }),
    api: {
      value: { type: 'enum', values: ['responses', 'chat'] },
      description: 'Which OpenAI API to call: `responses` (default, what OpenAI recommends) or `chat` completions (for proxies that only speak that).',
    },
    organization: { value: string, description: 'The OpenAI organization id (default: the key’s own).' },
    project: { value: string, description: 'The OpenAI project id (default: the key’s own).' },
  };
}

/** How an environment's commands are isolated and bounded: `environment coding` and the classic `core` tools. */
function sandboxKeys(): Record<string, KeySpec> {
  return {
    environment_variables: { value: { type: 'record', values: any }, default: {}, description: 'Variables every command and script sees (maps are passed as JSON).' },
    sandbox: {
      value: { type: 'enum', values: ['bubblewrap', 'none'] },
      default: 'bubblewrap',
      description:
        'How commands are isolated: `bubblewrap` (default; Debian package `bubblewrap`) confines them to the workspace; where it cannot run, commands are refused. `none` runs them on this machine unconfined — only say so on purpose.',
    },
    network: { value: boolean, default: false, description: 'Commands may use the network (default false: a sandboxed command cannot reach anything).' },
    command_timeout: { value: { type: 'duration', min: 1 }, default: 60000, description: 'Longest one command may run before it is killed with all it started (default `"60s"`).' },
    max_command_output: {
      value: { type: 'number', integer: true, min: 1000 },
      default: 200000,
      description: "Most bytes of one command's output kept (default 200000); the agent's `max_observation_chars` then bounds what the model reads.",
    },
    read_only_paths: { value: listOf(string), default: [], description: 'Host folders commands may read at the same place (a toolchain outside /usr), read-only.' },
    ...toolKeys,
  };
}

const noKeys: Record<string, KeySpec> = {};

function unsupported(description: string, instead?: string): ComponentTypeSpec {
  return { description, aliases: [], status: 'unsupported', keys: noKeys, ...(instead === undefined ? {} : { instead }) };
}

function supported(description: string, keys: Record<string, KeySpec> = noKeys, extra: Partial<ComponentTypeSpec> = {}): ComponentTypeSpec {
  return { description, aliases: [], status: 'supported', keys, ...extra };
}

/** Part of the language, keys and all, but not implemented yet: it validates; the runtime refuses it. */
function planned(description: string, keys: Record<string, KeySpec> = noKeys, extra: Partial<ComponentTypeSpec> = {}): ComponentTypeSpec {
  return { description, aliases: [], status: 'planned', keys, ...extra };
}

// ---------------------------------------------------------------------------------------------
// The catalogue

const catalogueData: Catalogue = {
  version: 1,
  commonKeys,
  kinds: {
    llm: {
      description: 'A language model called with each message it receives.',
      role: 'processor',
      receives: true,
      acceptsCommonKeys: true,
      status: 'supported',
      types: {
        openai: supported('OpenAI models (key: `OPENAI_API_KEY`).', openaiKeys()),
        claude: supported("Anthropic's Claude models (key: `ANTHROPIC_API_KEY`).", llmKeys('claude-sonnet-4-5', undefined, { variable: 'ANTHROPIC_API_KEY', required: true }), { aliases: ['anthropic'] }),
        ollama: supported('A local Ollama server (no key).', llmKeys('llama3.2', 'http://127.0.0.1:11434', { variable: 'OLLAMA_API_KEY', required: false })),
        openai_compatible: supported(
          'Any server that speaks the OpenAI chat API (vLLM, LM Studio, …).',
          (() => {
            const keys = llmKeys(undefined, undefined, { variable: 'OPENAI_COMPATIBLE_API_KEY', required: false });
            return { ...keys, base_url: { ...keys.base_url, required: true, description: "The server's base URL (required)." } } as Record<string, KeySpec>;
          })(),
        ),
        local: supported(
          'A GGUF model run in the process on node-llama-cpp (CPU, no key, no server): a path or an `hf:` reference.',
          localLlmKeys(),
        ),
        hugging_face: unsupported(
          "The classic engine's Hugging Face models.",
          'use `llm local` with a GGUF model from Hugging Face (`model = "hf:user/repo/file.gguf"`), or `llm openai_compatible` with the `base_url` of a Hugging Face Inference Endpoint or TGI server',
        ),
      },
    },
    agent: {
      description: 'An agent loop: a model that thinks, calls tools and answers.',
      role: 'processor',
      receives: true,
      acceptsCommonKeys: true,
      status: 'supported',
      types: {
        llm: supported('An agent driven by an `llm` component: a loop on the model\'s native tool calls.', {
          model: { value: referenceTo('llm'), required: true, construction: true, description: 'The `llm` component that drives the agent.' },
          tools: {
            value: listOf(referenceTo('api', 'mcp', 'agent', 'llm', 'knowledge_base', 'environment', 'core')),
            default: [],
            construction: true,
            description: 'Components the agent may call: `api`, `mcp`, other agents and llms, knowledge bases, environments.',
          },
          planning: {
            value: boolean,
            default: false,
            description: 'Plan before acting: the model gets a todo list and a small file area of the agent\'s own, kept for the session (default false).',
          },
          max_steps: {
            value: { type: 'number', integer: true, min: 1 },
            default: 10,
            description: 'Most think/act steps per message before the agent gives up (default 10, against loops).',
          },
          prompt,
          memory: memoryKey,
          knowledge_base: knowledgeBaseKey,
          streaming: {
            value: boolean,
            default: true,
            env: false,
            description: 'Send the answer on token by token as the model writes it (default true, as for models).',
          },
          tool_timeout: {
            value: { type: 'duration', min: 1 },
            default: 30000,
            description:
              'How long the agent waits for one tool call before the model is told it timed out (default `"30s"`: a tool slower than that is most likely stuck). A tool\'s own `timeout` key wins.',
          },
          max_observation_chars: {
            value: { type: 'number', integer: true, min: 100 },
            default: 20000,
            description:
              'The longest tool output the model sees, in characters; longer output is cut and the model told so (default 20000, about 5 000 tokens). A tool\'s own `max_output_chars` wins.',
          },
          approval_timeout: {
            value: { type: 'duration', min: 1 },
            default: 600000,
            description:
              'How long a turn paused for an approval waits (default `"10m"`). At the deadline, with no other input needed, the call is not run, the model is told no one approved it in time, and it answers.',
          },
          cache: {
            value: boolean,
            default: false,
            description:
              'Reuse the observation of an identical earlier call (same tool, same input) in the same turn instead of calling the tool again (default false: tools may have side effects). The classic engine\'s key.',
          },
          tool_choice: {
            value: { type: 'enum', values: ['auto', 'required'] },
            default: 'auto',
            description:
              '`auto` (default): the model decides whether to call tools. `required`: the first step must call one — for small local models that would otherwise answer without looking.',
          },
        }),
      },
    },
    input: {
      description: 'Where messages enter: a terminal or an HTTP API.',
      role: 'input',
      receives: false,
      acceptsCommonKeys: true,
      status: 'supported',
      types: {
        command_line: supported('Reads lines from the terminal.', noKeys, { aliases: ['cli'] }),
        api: supported('An HTTP and WebSocket API that sessions post messages to.', {
          port: {
            value: { type: 'number', integer: true, min: 1, max: 65535 },
            default: 8000,
            description: 'The port to listen on (default 8000, clear of the host port 8080).',
          },
          host: {
            value: string,
            default: '127.0.0.1',
            description: 'The address to listen on (default loopback; any other address needs `auth`, so nothing is exposed by accident).',
          },
          auth: {
            value: {
              type: 'oneOf',
              options: [
                { type: 'enum', values: ['none'] },
                {
                  type: 'map',
                  keys: {
                    token: { value: string, description: 'A bearer token clients must send, usually `$API_TOKEN`.' },
                    tokens: { value: listOf(string), description: 'Several accepted tokens (one per client, rotation).' },
                    api_keys: { value: listOf(string), description: 'The same as `tokens`, under the name API users expect.' },
                    header: { value: string, default: 'authorization', description: 'The header that carries it (default `authorization`, as `Bearer <token>`).' },
                  },
                },
              ],
            },
            description:
              'Who may call the API: tokens (also from `WOODWORK_API_KEYS`), or `"none"` to turn auth off on purpose. Without either, the API serves loopback only.',
          },
          cors: {
            value: {
              type: 'map',
              keys: {
                origins: { value: listOf(string), description: 'Origins allowed to call from a browser (`*` for any).' },
                max_age: { value: { type: 'number', integer: true, min: 0 }, default: 600, description: 'Seconds a browser may cache a preflight answer (default 600).' },
              },
            },
            description: 'Cross-origin access for browsers. Left out, CORS is off (no browser origin may call).',
          },
          rate_limit: {
            value: {
              type: 'oneOf',
              options: [
                boolean,
                {
                  type: 'map',
                  keys: {
                    requests_per_minute: { value: { type: 'number', integer: true, min: 1 }, default: 120, description: 'Sustained requests per minute per key (default 120).' },
                    burst: { value: { type: 'number', integer: true, min: 1 }, default: 60, description: 'Requests a key may make at once before the limit applies (default 60).' },
                  },
                },
              ],
            },
            description: 'Per-key request limit (a token bucket); `false` turns it off. Default 120 per minute, bursts of 60.',
          },
          max_body_bytes: { value: { type: 'number', integer: true, min: 1 }, default: 1048576, description: 'The largest request body accepted (default 1 MiB); larger gets 413.' },
          reply_timeout_ms: { value: { type: 'number', integer: true, min: 1 }, default: 30000, description: 'How long a POST waits for the reply before answering 202 with the stream URL (default 30 s).' },
          keepalive_ms: { value: { type: 'number', integer: true, min: 1 }, default: 15000, description: 'Interval of SSE keep-alive comments and WebSocket pings (default 15 s).' },
          idempotency_key_ttl_ms: {
            value: { type: 'number', integer: true, min: 1 },
            default: 86400000,
            description: 'How long an Idempotency-Key is remembered, so a POST sent again with it answers as the first did (default 24 h).',
          },
          model_name: { value: string, description: 'The model name the OpenAI-compatible endpoint reports (default: the project folder name).' },
        }),
        keyword_voice: unsupported("The classic engine's wake-word voice input.", 'no voice input is built in: use `input api` and send the text of your own speech-to-text client'),
        push_to_talk: unsupported("The classic engine's push-to-talk voice input.", 'no voice input is built in: use `input api` and send the text of your own speech-to-text client'),
      },
    },
    output: {
      description: 'Where replies leave: the terminal or the API that asked.',
      role: 'output',
      receives: true,
      acceptsCommonKeys: true,
      status: 'supported',
      types: {
        console: supported('Prints replies to the terminal.', noKeys, { aliases: ['cli'] }),
        api: supported('Sends replies to the API session that asked (streamed when `streaming`).'),
        voice: unsupported("The classic engine's text-to-speech output.", 'no speech output is built in: use `output api` (or `output console`) and speak the streamed text in your client'),
      },
    },
    api: {
      description: 'Tools an agent can call.',
      role: 'tool',
      receives: false,
      acceptsCommonKeys: true,
      status: 'supported',
      types: {
        functions: supported('Functions exported by a module in the project.', {
          path: { value: path, required: true, description: 'The module with the functions: a `.ts`, `.js` or `.py` file relative to the .ww file.' },
          ...toolKeys,
        }),
        web: supported('An HTTP API described by its documentation: the model composes each request (method, path, query, body).', {
          url: { value: string, required: true, description: "The API's base URL; every request stays under it (a scheme-less URL gets https://)." },
          documentation: { value: string, description: 'A file in the project (.md, .txt, .json, .yaml, .html) or the text itself, describing the endpoints for the model.' },
          headers: { value: { type: 'record', values: string }, description: 'Headers sent with every request (API keys via `$NAME`); never shown to the model.' },
          max_response_bytes: {
            value: { type: 'number', integer: true, min: 100 },
            default: 100000,
            description: 'The most of a response body that is read; the rest is cut and the model told so (default 100000).',
          },
          ...toolKeys,
        }),
      },
    },
    knowledge_base: {
      description: 'Documents a model can retrieve context from.',
      role: 'resource',
      receives: false,
      acceptsCommonKeys: true,
      status: 'supported',
      types: {
        text_file: supported('The text files and PDFs of a project folder, searched by keyword (BM25); agents may read, search and write them.', {
          path: {
            value: string,
            required: true,
            description:
              'A folder (or one file, the classic form) of the project, relative to the .ww file; created empty when missing, as the classic engine did. It must stay inside the project (checked at start), and no path given to the knowledge base can leave it.',
          },
          top_k: { value: { type: 'number', integer: true, min: 1, max: 50 }, default: 4, description: 'Passages put into an llm\'s prompt per message, and returned by `query` (default 4).' },
          chunk_size: { value: { type: 'number', integer: true, min: 100 }, default: 1000, description: 'About how many characters a passage has, cut at line boundaries (default 1000).' },
          read_only: { value: boolean, default: false, description: 'Offer no `write` tool (default false).' },
          ...toolKeys,
        }),
        chroma: supported('Documents embedded into a collection of a Chroma server, retrieved by meaning: top-k passages into an llm\'s prompt, a `query` tool for agents.', {
          url: { value: string, description: "A Chroma server (`chroma run`, Chroma Cloud). Without it, the project's own server is started on `path` from pip's `chroma` program (the classic engine's embedded Chroma)." },
          collection: { value: string, description: 'The collection (default `woodwork-<the knowledge base’s name>`, so each has its own).' },
          documents: { value: string, description: 'A folder (relative to the .ww file) indexed into the collection at start and by `woodwork index`: text files and PDFs, not .git, node_modules or what .gitignore ignores.' },
          file_to_embed: { value: string, description: 'The classic engine\'s name for `documents`.' },
          embedding: {
            value: string,
            description:
              'The embedding model: `local` (the GGUF at $WOODWORK_LOCAL_MODEL, no key), `local:<path.gguf>`, or `openai/<model>`. Default `openai/text-embedding-3-large` when `api_key` is set (the classic engine’s model), else `local`.',
          },
          api_key: { value: string, description: 'The OpenAI key for `openai/…` embeddings (classic engine key); default OPENAI_API_KEY.' },
          base_url: { value: string, description: 'An OpenAI-compatible embeddings endpoint (default OpenAI\'s).' },
          top_k: { value: { type: 'number', integer: true, min: 1, max: 50 }, default: 4, description: "Passages put into an llm's prompt per message, and returned by `query` (default 4)." },
          chunk_size: { value: { type: 'number', integer: true, min: 100 }, default: 1000, description: 'About how many characters a passage has, cut at line boundaries (default 1000).' },
          index_on_start: { value: boolean, default: true, description: 'Index `documents` (incrementally) when the component starts (default true; nothing is embedded again when nothing changed).' },
          path: { value: string, description: "Without `url`: the data folder of the project's own Chroma server (default `.woodwork/chroma`, the classic engine's)." },
          client: { value: string, description: 'Classic engine key, ignored (always the HTTP client).' },
          ...toolKeys,
        }),
        neo4j: unsupported(
          "The classic engine's Neo4j graph database.",
          'use `knowledge_base chroma` or `knowledge_base text_file`, or give an agent Neo4j\'s own MCP server: `mcp server { command = "uvx", args = ["mcp-neo4j-cypher"] }`',
        ),
      },
    },
    memory: {
      description: 'Conversation memory a model reads and appends to.',
      role: 'resource',
      receives: false,
      acceptsCommonKeys: true,
      status: 'supported',
      types: {
        short_term: supported('The last messages of the session.', {
          max_messages: {
            value: { type: 'number', integer: true, min: 1 },
            default: 20,
            description: 'How many messages are kept (default 20: enough context, bounded cost).',
          },
          max_tokens: {
            value: { type: 'number', integer: true, min: 1 },
            default: 8000,
            description: 'Most tokens of kept messages, estimated at 4 characters a token (default 8000: fits every current model’s context with room for the reply).',
          },
        }),
      },
    },
    mcp: {
      description: 'A Model Context Protocol server whose tools an agent can call.',
      role: 'tool',
      receives: false,
      acceptsCommonKeys: true,
      status: 'supported',
      types: {
        server: supported(
          'An MCP server, started as a command (stdio) or reached by URL (streamable HTTP).',
          {
            server: {
              value: string,
              description: 'The classic engine\'s name of a server with a published remote endpoint (`github/mcp-server`, token from `GITHUB_PERSONAL_ACCESS_TOKEN`). Others: use `command` or `url`.',
            },
            command: { value: string, description: 'A command that starts the server over stdio; it is started and stopped with the component.' },
            args: { value: listOf(string), default: [], description: 'Arguments for `command`.' },
            url: { value: string, description: 'The URL of a running server (streamable HTTP).' },
            headers: { value: { type: 'record', values: string }, description: 'HTTP headers for `url` (an API key via `$NAME`).' },
            env: { value: { type: 'record', values: string }, description: 'Environment for the server process (on top of the host\'s).' },
            toolsets: {
              value: { type: 'oneOf', options: [listOf(string), string] },
              description: 'Only these toolsets of a `server` (a list, or the classic comma-separated string). Default: all.',
            },
            readonly: { value: boolean, default: false, description: 'Only the read-only tools of a `server` (default false).' },
            version: { value: string, description: 'The server package version (classic engine key; the remote endpoint is unversioned).' },
            ...toolKeys,
          },
          { requireOneOf: [['server', 'command', 'url']] },
        ),
      },
    },
    bus: {
      description: 'The message bus between components. At most one per file; `WOODWORK_BUS_URL` overrides it at run time.',
      role: 'infrastructure',
      receives: false,
      acceptsCommonKeys: false,
      status: 'supported',
      types: {
        memory: supported('In-process bus; components run in one process.'),
        redis: supported('Redis Streams.', {
          url: { value: string, default: 'redis://127.0.0.1:6379', description: 'Redis URL (default `redis://127.0.0.1:6379`).' },
        }),
        nats: supported('NATS JetStream.', {
          url: { value: string, default: 'nats://127.0.0.1:4222', description: 'NATS URL (default `nats://127.0.0.1:4222`).' },
        }),
        kafka: supported('Apache Kafka.', {
          url: { value: string, default: 'kafka://127.0.0.1:9092', description: 'Bootstrap server(s) (default `kafka://127.0.0.1:9092`).' },
        }),
      },
    },
    vm: {
      description: 'A host that runs several components together in one process or container.',
      role: 'infrastructure',
      receives: false,
      acceptsCommonKeys: false,
      status: 'supported',
      types: {
        server: supported('One host for the listed components.', {
          components: {
            value: listOf({ type: 'reference' }),
            required: true,
            env: false,
            description: 'The components this host runs; each may belong to one group only.',
          },
          deployment,
        }),
      },
    },
    transform: {
      description:
        'Built-in text transforms without an LLM, for trying pipelines and testing the machinery (no keys, no network).',
      role: 'processor',
      receives: true,
      acceptsCommonKeys: true,
      status: 'supported',
      types: {
        echo: supported('Replies with the message it received, after `prefix`.', {
          prefix: { value: string, default: '', description: 'Text put before the message (default none).' },
        }),
        uppercase: supported('Replies with the message in upper case.'),
        lowercase: supported('Replies with the message in lower case.'),
        template: supported('Replies with `template`, `{{input}}` replaced by the message.', {
          template: { value: string, required: true, description: 'The reply text; `{{input}}` stands for the message.' },
        }),
      },
    },
    core: {
      description: "The classic engine's built-in tools, run on the coding environment's workspace and sandbox.",
      role: 'tool',
      receives: false,
      acceptsCommonKeys: true,
      status: 'supported',
      spelledOnly: true,
      types: {
        command_line: supported(
          "The classic engine's shell tool: one tool, `run({ input })`, running commands in a bubblewrap sandbox on the `.woodwork/vm` folder of the project (seen as `/home/ubuntu/repo`, where the classic container had it). `environment coding` is the fuller form.",
          sandboxKeys(),
        ),
        code: supported(
          "The classic engine's code tool: the file actions of `environment coding` (read, write, edit, search, find, list, backup) on the `.woodwork/vm` folder it shares with `core command_line`, with `repo_url` cloned into it.",
          {
            container: { value: referenceTo('core'), construction: true, description: 'The `core command_line` whose folder it works on (classic engine key; the folder is shared either way).' },
            repo_url: { value: string, description: 'A git repository cloned into the folder when it has no clone yet: a URL, a path, or `user/repo` for GitHub.' },
            local_path: { value: string, default: '/home/ubuntu/repo', description: 'The folder: the classic `/home/ubuntu/repo` (the default) is `.woodwork/vm` in the project; or a folder relative to the .ww file.' },
            knowledge_base: { value: referenceTo('knowledge_base'), description: 'Classic engine key, ignored: give the agent the knowledge base as a tool instead.' },
            ...sandboxKeys(),
          },
        ),
      },
    },
    environment: {
      description: 'A workspace whose files and commands an agent can use as tools.',
      role: 'tool',
      receives: false,
      acceptsCommonKeys: true,
      status: 'supported',
      types: {
        coding: supported(
          'A workspace folder (a project folder, or a git clone) with the classic coding actions as tools; commands run in a bubblewrap sandbox confined to it.',
          {
            repo_url: { value: string, description: 'A git repository cloned into the workspace when it has no clone yet: a URL, a path, or `user/repo` for GitHub.' },
            local_path: {
              value: string,
              default: '/workspace',
              description:
                'The workspace: a folder relative to the .ww file, or an absolute one. The classic value `/workspace` (the default) is `.woodwork/coding-env` in the project, as the classic engine kept it.',
            },
            working_directory: {
              value: string,
              default: '/workspace',
              description: 'Where commands see the workspace inside the sandbox (default `/workspace`, the classic container path).',
            },
            setup_scripts: {
              value: listOf(string),
              default: [],
              description:
                'Commands (or project script files) run once per workspace; `.woodwork_setup_complete` in the workspace marks them done (a first entry `rm -f /workspace/.woodwork_setup_complete` runs them again). A failing one stops the start and runs again next time.',
            },
            startup_scripts: { value: listOf(string), default: [], description: 'Commands (or project script files) run at every start of the process that hosts the environment.' },
            ...sandboxKeys(),
            dockerfile: { value: string, description: 'Classic engine key, ignored: there is no container; commands run in bubblewrap on this machine.' },
            image_name: { value: string, description: 'Classic engine key, ignored (no container).' },
            container_name: { value: string, description: 'Classic engine key, ignored (no container).' },
          },
        ),
      },
    },
    decomposer: {
      description: "The classic engine's task decomposers.",
      role: 'processor',
      receives: true,
      acceptsCommonKeys: true,
      status: 'unsupported',
      types: {
        llm: unsupported(
          "The classic engine's LLM task decomposer.",
          'use `agent llm { model = <an llm component>, tools = [...] }`: it plans and acts with the model\'s native tool calls (the classic decomposer was gpt-4o-mini at temperature 0: `llm openai { model = "gpt-4o-mini", temperature = 0 }`)',
        ),
      },
    },
  },
};

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** The catalogue. Frozen: extend it by contributing to this file, not at run time. */
export const catalogue: Catalogue = deepFreeze(catalogueData);

// ---------------------------------------------------------------------------------------------
// Lookups

export interface ComponentTypeMatch {
  readonly kind: string;
  /** The canonical type name (an alias resolved). */
  readonly type: string;
  readonly kindSpec: KindSpec;
  readonly typeSpec: ComponentTypeSpec;
}

/** Every kind/type pair by kind, then by type and alias; and by type or alias alone. Built once. */
const byKindAndType = new Map<string, Map<string, ComponentTypeMatch>>();
const byTypeName = new Map<string, ComponentTypeMatch[]>();
for (const [kind, kindSpec] of Object.entries(catalogue.kinds)) {
  const types = new Map<string, ComponentTypeMatch>();
  byKindAndType.set(kind, types);
  for (const [type, typeSpec] of Object.entries(kindSpec.types)) {
    const match: ComponentTypeMatch = Object.freeze({ kind, type, kindSpec, typeSpec });
    for (const name of [type, ...typeSpec.aliases]) types.set(name, match);
  }
}
for (const types of byKindAndType.values()) {
  for (const [name, match] of types) {
    const list = byTypeName.get(name);
    if (list) list.push(match);
    else byTypeName.set(name, [match]);
  }
}

/** A kind/type pair, with aliases resolved (`input cli` → `input command_line`). */
export function findComponentType(kind: string, type: string): ComponentTypeMatch | undefined {
  return byKindAndType.get(kind)?.get(type);
}

/** Every kind/type pair whose type (or alias) is `word`, for the one-word form `name = word { … }`. */
export function findTypesNamed(word: string): ComponentTypeMatch[] {
  return byTypeName.get(word)?.slice() ?? [];
}

const keysOfType = new WeakMap<ComponentTypeSpec, Readonly<Record<string, KeySpec>>>();

/** All keys a component of this kind/type accepts: its own plus, where they apply, the common ones. */
export function componentKeys(match: Pick<ComponentTypeMatch, 'kindSpec' | 'typeSpec'>): Readonly<Record<string, KeySpec>> {
  if (!match.kindSpec.acceptsCommonKeys) return match.typeSpec.keys;
  let keys = keysOfType.get(match.typeSpec);
  if (!keys) {
    keys = Object.freeze({ ...catalogue.commonKeys, ...match.typeSpec.keys });
    keysOfType.set(match.typeSpec, keys);
  }
  return keys;
}
