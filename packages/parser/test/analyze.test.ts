// Analysis: the problems of meaning the spec says must be diagnosed, and the topology it builds.
import { describe, expect, it } from 'vitest';
import { at, check, codes } from './support.js';
import { catalogue } from '../src/catalogue.js';

function only(source: string) {
  const { diagnostics } = check(source);
  expect(diagnostics).toHaveLength(1);
  return diagnostics[0] as (typeof diagnostics)[number];
}

describe('what must be diagnosed', () => {
  it('WW201: an unknown kind, with a suggestion', () => {
    const diagnostic = only('a = lm openai {}');
    expect(diagnostic).toMatchObject({ code: 'WW201', line: 1, column: 5, message: 'unknown kind `lm`', hint: 'did you mean `llm`?' });
    expect(only('a = openai llm {}').hint).toBe('the kind comes first: `llm openai`');
  });

  it('WW202: an unknown type, two-word and one-word, with a suggestion', () => {
    expect(only('a = llm opena {}')).toMatchObject({ code: 'WW202', column: 9, hint: 'did you mean `openai`?' });
    expect(only('a = claud {}')).toMatchObject({ code: 'WW202', message: 'unknown component type `claud`', hint: 'did you mean `claude`?' });
    expect(only('a = memory {} # fine: the in-memory bus').code).toBe('WW221');
    expect(only('a = knowledge_base {}')).toMatchObject({ code: 'WW202', message: '`knowledge_base` is a kind, not a type' });
  });

  it('WW207: an unknown key is a warning with a suggestion', () => {
    expect(only('a = claude { modle: "x" }')).toMatchObject({
      code: 'WW207',
      severity: 'warning',
      column: 14,
      message: 'unknown key `modle` for `llm claude` `a`',
      hint: 'did you mean `model`?',
    });
    expect(only('a = claude { deployment = { mdoe = "local" } }')).toMatchObject({ code: 'WW207', hint: 'did you mean `mode`?' });
  });

  it('WW208: a missing required key, pointing at the declaration', () => {
    expect(only('m = llm openai {}\na = agent llm { tools: [] }')).toMatchObject({
      code: 'WW208',
      line: 2,
      column: 1,
      endColumn: 14,
      message: '`agent llm` `a` is missing the required key `model`',
    });
    expect(only('t = api functions {}').message).toBe('`api functions` `t` is missing the required key `path`');
    expect(only('s = mcp server { args: [] }').message).toBe('`mcp server` `s` needs one of the keys `server`, `command` or `url`');
  });

  it('WW208: a typo of a required key is one error at the typo, with what it means, inside a map value too', () => {
    expect(only('a = agent llm {\n  model: m\n  prompt: {\n    fiel: "p.md"\n  }\n}\nm = llm openai {}')).toMatchObject({
      code: 'WW208',
      severity: 'error',
      line: 4,
      column: 5,
      endColumn: 9,
      message: 'unknown key `fiel` for `prompt`, which is missing the required key `file`',
      hint: 'did you mean `file`?',
    });
    expect(only('a = claude { fallback = { txt = "sorry" } }')).toMatchObject({ code: 'WW208', column: 27, hint: 'did you mean `text`?' });
    expect(only('c = llm openai_compatible { base_url: "http://x", modle: "m" }')).toMatchObject({ code: 'WW208', column: 51, hint: 'did you mean `model`?' });
    expect(only('s = mcp server { comand: "x" }')).toMatchObject({
      code: 'WW208',
      column: 18,
      message: 'unknown key `comand` for `mcp server` `s`, which needs one of the keys `server`, `command` or `url`',
      hint: 'did you mean `command`?',
    });
    // A key that is no typo of the missing one stays a warning beside the missing-key error.
    expect(check('a = claude { fallback = { txt = "x", colour = 1 } }').diagnostics.map((d) => [d.code, d.column])).toEqual([
      ['WW208', 27],
      ['WW207', 38],
    ]);
  });

  it('WW209: a value of the wrong type, with a hint where one helps', () => {
    expect(only('a = claude { temperature: "warm" }')).toMatchObject({ code: 'WW209', message: '`temperature` expects a number, found a string' });
    expect(only('a = claude { max_tokens: "100" }').hint).toBe('drop the quotes: 100');
    expect(only('a = claude { streaming: "true" }').hint).toBe('drop the quotes: true');
    expect(only('o = output console {}\ni = input cli { to: "o" }')).toMatchObject({
      code: 'WW209',
      hint: 'to refer to the component `o`, drop the quotes: to: o',
    });
    expect(only('m = llm openai {}\na = agent llm { model: m, tools: m }').hint).toBe('wrap it in brackets: [ … ]');
    expect(only('a = claude { deployment = { scaling = { min_instances = $N } } }')).toMatchObject({
      code: 'WW209',
      message: 'environment references are not allowed in `deployment`',
    });
  });

  it('WW210: an unknown reference, with a suggestion or a hint to quote text', () => {
    expect(only('mem = memory short_term {}\na = claude { memory: mme }')).toMatchObject({
      code: 'WW210',
      line: 2,
      column: 22,
      message: 'unknown reference `mme`: no component has this name',
      hint: 'did you mean `mem`?',
    });
    expect(only('a = claude { model: gpt4 }').hint).toBe('a bare name refers to a component; to write the text, quote it: "gpt4"');
  });

  it('WW211: a reference to a component of the wrong kind', () => {
    expect(only('m = memory short_term {}\na = agent llm { model: m }')).toMatchObject({
      code: 'WW211',
      message: '`model` expects the name of an `llm` component, but `m` is a `memory short_term`',
      related: [{ line: 1, column: 1 }],
    });
  });

  it('WW212: a cycle among construction dependencies, spelled out', () => {
    const diagnostic = only('a = agent llm { model: m, tools: [b] }\nb = agent llm { model: m, tools: [a] }\nm = llm openai {}');
    expect(diagnostic).toMatchObject({ code: 'WW212', message: 'construction cycle: a → b → a', line: 1, column: 35 });
    expect(diagnostic.related?.map((related) => `${related.line}:${related.column} ${related.message}`)).toEqual([
      '1:35 `a` needs `b` (tools)',
      '2:35 `b` needs `a` (tools)',
    ]);
    expect(only('a = claude { memory: a }').message).toBe('`memory` expects the name of a `memory` component, but `a` is an `llm claude`');
    expect(only('a = agent llm { model: m, tools: [a] }\nm = llm openai {}').message).toBe('construction cycle: a → a');
    const longer = only('a = agent llm { model: m, tools: [b] }\nb = agent llm { model: m, tools: [c] }\nc = agent llm { model: m, tools: [a] }\nm = llm openai {}');
    expect(longer.message).toBe('construction cycle: a → b → c → a');
  });

  it('routing loops through `to` are not construction cycles', () => {
    expect(codes('a = transform echo { to: b }\nb = transform uppercase { to: a }')).toEqual([]);
  });

  it('WW205: duplicate names point at both declarations', () => {
    expect(only('a = claude {}\na = llm openai {}')).toMatchObject({
      code: 'WW205',
      line: 2,
      column: 1,
      related: [{ message: '`a` is first declared here', line: 1, column: 1 }],
    });
  });

  it('WW206: reserved names, in any case', () => {
    expect(codes('true = claude {}\nNULL = claude {}\nFalse = claude {}')).toEqual(['WW206', 'WW206', 'WW206']);
  });

  it('WW213: `to` pointing at a component that cannot receive', () => {
    expect(only('m = memory short_term {}\ni = input cli { to: m }')).toMatchObject({
      code: 'WW213',
      message: '`m` cannot receive messages: it is a `memory short_term`',
      related: [{ line: 1, column: 1 }],
    });
    expect(codes('b = redis {}\ni = input cli { to: [b] }')).toEqual(['WW213']);
  });

  it('WW214: more than one bus', () => {
    expect(only('a = redis {}\nb = bus nats {}')).toMatchObject({ code: 'WW214', line: 2, related: [{ line: 1 }] });
  });

  it('WW203: an ambiguous one-word type, with the two-word forms that would work', () => {
    const diagnostic = only('x = cli {}');
    expect(diagnostic).toMatchObject({ code: 'WW203', message: '`cli` is a type of several kinds: `input` and `output`' });
    expect(diagnostic.hint).toBe(
      'write `input cli` or `output cli` (or `input command_line`, `output console`), or name the component `input` or `output`',
    );
    expect(codes('input = cli {}\noutput = cli {}')).toEqual([]);
    expect(only('s = server {}').message).toBe('`server` is a type of several kinds: `mcp` and `vm`');
  });

  it('the classic-only `core` kind never takes a one-word type another kind has', () => {
    const { topology, diagnostics } = check('in = command_line { to = s }\ns = transform uppercase {}\nc = core command_line {}\ncore = command_line {}\n');
    expect(diagnostics.filter((diagnostic) => diagnostic.severity === 'error')).toEqual([]);
    expect(topology?.components.map((component) => `${component.name}: ${component.kind} ${component.type}`)).toEqual([
      'in: input command_line',
      's: transform uppercase',
      'c: core command_line',
      'core: core command_line',
    ]);
  });

  it('WW204: an unsupported kind or type of the classic engine, by name', () => {
    expect(only('kb = knowledge_base neo4j {}')).toMatchObject({ code: 'WW204', message: '`knowledge_base neo4j` is not supported by this runtime' });
    expect(codes('e = environment coding { repo_url: "me/app", setup_scripts: ["setup.sh"], sandbox: "none" }')).toEqual([]);
    expect(only('v = keyword_voice {}').message).toBe('`input keyword_voice` is not supported by this runtime');
    expect(codes('d = decomposer llm { api_key: $K, cache: True }')).toEqual(['WW204']);
  });

  it('WW204 says what to write instead of every classic pair this runtime does not run', () => {
    expect(only('d = decomposer llm { api_key: $K }').hint).toContain('use `agent llm { model = <an llm component>, tools = [...] }`');
    // The classic core tools run on the coding environment.
    expect(codes('line = core command_line {}\ncode = core code { container: line, repo_url: "me/app" }')).toEqual([]);
    expect(only('kb = knowledge_base neo4j {}').hint).toContain('mcp-neo4j-cypher');
    expect(only('h = llm hugging_face {}').hint).toContain('llm local');
    for (const [kind, spec] of Object.entries(catalogue.kinds)) {
      for (const [type, typeSpec] of Object.entries(spec.types)) {
        if (typeSpec.status === 'unsupported') expect(typeSpec.instead, `${kind} ${type}`).toMatch(/use|no /);
      }
    }
  });

  it('WW216: paths in pipes, hooks and modules must stay inside the project folder', () => {
    expect(codes('a = claude { pipes: ["../x.ts::f"], hooks: ["/etc/h.ts::f"] }\nt = api functions { path: "../../f.ts" }')).toEqual(['WW216', 'WW216', 'WW216']);
    expect(codes('a = claude { pipes: ["sub/../x.ts::f"] }')).toEqual([]);
    // With a project root above the .ww file's folder, `..` may climb up to it.
    expect(check('a = claude { pipes: ["../shared/x.ts::f"] }', { file: 'project/app/main.ww', projectRoot: 'project' }).diagnostics).toEqual([]);
  });

  it('every problem in a file is reported at once', () => {
    expect(codes('a = lm openai {}\nb = claude { modle: 1, memory: nope }\nc = cli {}\nd = redis {}\ne = nats {}')).toEqual([
      'WW201',
      'WW207',
      'WW210',
      'WW203',
      'WW214',
    ]);
  });
});

describe('other checks', () => {
  it('WW215: malformed pipes and hooks', () => {
    expect(codes('a = claude { pipes: ["x.rb::f", "p.py", "p.ts::not-a-name", { event: "a.*.b", function: "p.ts::f" }] }')).toEqual([
      'WW215',
      'WW215',
      'WW215',
      'WW215',
    ]);
    expect(codes('a = claude { hooks: [{ script_path: "h.py" }, { function: "h.ts::f", script_path: "h.py" }, { event: "x" }] }')).toEqual([
      'WW215',
      'WW215',
      'WW215',
    ]);
    expect(codes('a = claude { hooks: [{ evnt: "x", function: "h.ts::f" }, 42] }')).toEqual(['WW207', 'WW209']);
  });

  it('WW217: a key written twice in one map', () => {
    expect(only('a = claude { model: "x", model: "y" }')).toMatchObject({ code: 'WW217', column: 26, related: [{ column: 14 }] });
  });

  it('WW218: values out of range or not among the choices', () => {
    expect(only('a = claude { temperature: 3 }').message).toBe('`temperature` must be at most 2, found 3');
    expect(only('m = memory short_term { max_messages: 2.5 }').message).toBe('`max_messages` must be a whole number, found 2.5');
    expect(only('a = claude { deployment = { mode = "cloud" } }').message).toBe('`deployment.mode` must be `auto`, `local` or `container`, found "cloud"');
    expect(only('a = claude { deployment = { mode = "contianer" } }').hint).toBe('did you mean `container`?');
    expect(only('a = claude { deployment = { scaling = { min_instances = 3, max_instances = 2 } } }').message).toBe(
      '`deployment.scaling.max_instances` (2) is less than `min_instances` (3)',
    );
  });

  it('WW219: a component in two vm groups', () => {
    expect(codes('a = claude {}\ng = vm server { components: [a] }\nh = vm server { components: [a, a] }')).toEqual(['WW219', 'WW219']);
  });

  it('WW220: an input with nowhere to go is a warning', () => {
    expect(only('i = input cli {}')).toMatchObject({ code: 'WW220', severity: 'warning' });
  });

  it('WW220 is not a follow-on of a component left out for an unknown kind or type', () => {
    expect(codes('i = input api {}\na = agent lm { model: "x" }')).toEqual(['WW202']);
    expect(codes('i = input api {}\na = claud {}')).toEqual(['WW202']);
    expect(codes('i = input api {}\na = agnet llm {}')).toEqual(['WW201']);
    // A left-out component that could never receive messages explains nothing.
    expect(codes('i = input api {}\nt = api functins {}')).toEqual(['WW220', 'WW202']);
  });

  it('WW221: a one-word type that is also a kind name is said out loud', () => {
    expect(only('model = llm { model: m }\nm = llm openai {}')).toMatchObject({
      code: 'WW221',
      message: '`llm` alone declares an `agent llm`, not an `llm` component',
    });
    expect(codes('agent = llm { model: m }\nm = llm openai {}\nbus = memory {}')).toEqual([]);
  });

  it('`key: null` means the key is left out', () => {
    const { topology, diagnostics } = check('m = memory short_term { max_messages: null }\na = claude { memory: null, model: "x" }');
    expect(diagnostics).toEqual([]);
    expect(topology.components[0]?.config).toEqual({ max_messages: 20, max_tokens: 8000 });
    expect(topology.components[1]?.config).not.toHaveProperty('memory');
    expect(codes('m = llm openai {}\na = agent llm { model: null }')).toEqual(['WW208']);
  });
});

describe('the topology', () => {
  it('infers kinds, resolves aliases and keeps references and env references as references', () => {
    const { topology, diagnostics } = check(
      'mem = memory short_term {}\nmodel = anthropic { memory: mem, api_key: $ANTHROPIC_API_KEY, base_url: "${BASE:-https://x}/v1" }\nin = input cli {}',
    );
    expect(diagnostics).toEqual([]);
    expect(topology.components.map((c) => `${c.name}: ${c.kind} ${c.type}`)).toEqual([
      'mem: memory short_term',
      'model: llm claude',
      'in: input command_line',
    ]);
    expect(topology.components[1]?.config).toEqual({
      memory: { $ref: 'mem' },
      api_key: { $env: 'ANTHROPIC_API_KEY' },
      base_url: { $template: [{ $env: 'BASE', default: 'https://x' }, '/v1'] },
      model: 'claude-sonnet-4-5',
    });
    expect(topology.env).toEqual([
      { name: 'ANTHROPIC_API_KEY', usages: [expect.objectContaining({ path: ['components', 1, 'config', 'api_key'], expects: 'string' })] },
      { name: 'BASE', usages: [expect.objectContaining({ path: ['components', 1, 'config', 'base_url'], default: 'https://x' })] },
    ]);
    expect(JSON.parse(JSON.stringify(topology))).toEqual(topology);
  });

  it('normalises pipes and hooks from all three spellings to one shape', () => {
    const { topology, diagnostics } = check(`a = claude {
      pipes: ["pipes.ts::enhance", { event: "input.*", function: "./lib/pipes.mjs::redact" }, "pipes.js"]
      hooks: [
        "hooks.ts::log",
        { event = "agent.thought", function = "hooks.ts::thought" },
        { function_name: "print_thought", event: "agent.*", script_path: "hooks.py" },
      ]
    }`);
    expect(diagnostics).toEqual([]);
    const shape = (spec: { event: string; module: string; export: string; language: string }) =>
      `${spec.event} ${spec.module} ${spec.export} ${spec.language}`;
    expect(topology.components[0]?.pipes.map(shape)).toEqual(['* pipes.ts enhance ts', 'input.* lib/pipes.mjs redact js', '* pipes.js default js']);
    expect(topology.components[0]?.hooks.map(shape)).toEqual(['* hooks.ts log ts', 'agent.thought hooks.ts thought ts', 'agent.* hooks.py print_thought python']);
    expect(topology.components[0]?.hooks[2]?.location).toMatchObject({ line: 6, column: 9 });
  });

  it('fills deployment and metrics defaults', () => {
    const { topology } = check('a = claude { deployment = { mode = "container", scaling = { min_instances = 2 }, resources = { cpu = 1 } } }');
    expect(topology.components[0]?.deployment).toEqual({
      mode: 'container',
      scaling: { min_instances: 2, max_instances: 2, scale_metric: 'queue_depth', scale_threshold: 5 },
      resources: { cpu: 1 },
      session_affinity: false,
    });
    expect(topology.components[0]?.metrics).toEqual({ custom_metrics: [], enterprise_enabled: false });
    // Models stream by default (their catalogue entry says so); other kinds do not.
    expect(topology.components[0]?.streaming).toBe(true);
    expect(check('t = transform echo {}').topology.components[0]?.streaming).toBe(false);
  });

  it('describes the bus with its default URL, and vm groups', () => {
    const { topology, diagnostics } = check('a = claude {}\nb = transform echo {}\nbus = nats {}\nhost = vm server { components: [a, b], deployment = { mode = "container" } }');
    expect(diagnostics).toEqual([]);
    expect(topology.bus).toMatchObject({ name: 'bus', type: 'nats', url: 'nats://127.0.0.1:4222' });
    expect(topology.groups).toMatchObject([{ name: 'host', type: 'server', components: ['a', 'b'], deployment: { mode: 'container' } }]);
    expect(topology.components.map((c) => c.group)).toEqual(['host', 'host']);
    expect(check('b = memory { }').topology.bus).toMatchObject({ type: 'memory', url: null });
    expect(check('a = claude {}').topology.bus).toBeNull();
  });

  describe('routes', () => {
    function routes(source: string) {
      const { topology, errors } = check(source);
      expect(errors).toEqual([]);
      return topology.routes.map((route) => `${route.from} → ${route.to ?? 'session'} (${route.origin})`);
    }

    it('sends input → agent → output by default', () => {
      expect(routes('in = input cli {}\nout = output console {}\nm = llm openai {}\nagent = agent llm { model: m }')).toEqual([
        'in → agent (default)',
        'agent → out (default)',
      ]);
    });

    it('prefers an agent over an llm, and skips components others are built on', () => {
      expect(routes('i = input api {}\nhelper = llm openai {}\nplanner = llm claude {}\nagent = agent llm { model: planner, tools: [helper] }')).toEqual([
        'i → agent (default)',
        'agent → session (default)',
      ]);
    });

    it('sends a reply back to the session when there is no output', () => {
      expect(routes('i = input cli {}\nm = claude {}')).toEqual(['i → m (default)', 'm → session (default)']);
    });

    it('picks the first of several candidates in declaration order, skipping mid-chain processors', () => {
      expect(routes('i = input cli {}\nsecond = transform uppercase {}\nfirst = transform echo { to: second }\no1 = output console {}\no2 = output api {}')).toEqual([
        'i → first (default)',
        'second → o1 (default)',
        'first → second (declared)',
      ]);
    });

    it('goes straight from input to output when nothing processes', () => {
      expect(routes('i = input cli {}\no = output console {}')).toEqual(['i → o (default)']);
    });

    it('keeps declared routes, fan-out and an explicit empty `to`', () => {
      expect(routes('i = input cli { to: [a, b] }\na = transform echo { to: [] }\nb = transform uppercase {}')).toEqual([
        'i → a (declared)',
        'i → b (declared)',
        'a → session (declared)',
        'b → session (default)',
      ]);
      expect(check('i = input cli { to: [a, b] }\na = transform echo {}\nb = transform echo {}').topology.components[0]?.to).toEqual(['a', 'b']);
    });
  });

  it('reports an error for any declaration it leaves out, so a topology without errors is complete', () => {
    const { topology, errors } = check('a = lm x {}\nb = claude {}');
    expect(errors.map((diagnostic) => at(diagnostic))).toEqual(['1:5']);
    expect(topology.components.map((c) => c.name)).toEqual(['b']);
  });
});
