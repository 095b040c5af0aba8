import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startScriptedServer } from '@woodwork/ai/testing';
import { runCli } from './run-cli.js';

async function project(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ww-cli-test-'));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
  return dir;
}

/** An agent whose one tool must never run for real in a test. */
const agentProject = {
  'main.ww': `input = command_line { to = assistant }
model = llm openai { model = "gpt-4o-mini" }
tools = api functions { path = "tools.ts" }
assistant = agent llm {
    model = model
    tools = [tools]
}
output = console {}
`,
  'tools.ts': `/** The weather in a city. */
export function weather(city: string): string {
  throw new Error('the real weather service was called');
}

/** Converts a temperature to Fahrenheit. */
export function fahrenheit(celsius: number): number {
  return celsius * 9 / 5 + 32;
}
`,
};

const weatherScenario = `name: weather in Oslo
tools:
  weather: { output: "12 °C, cloudy" }
turns:
  - input: What is the weather in Oslo?
    model:
      - tool_calls: [{ name: weather, arguments: { city: Oslo } }]
      - text: ["It is ", "12 °C in Oslo."]
    expect:
      reply: It is 12 °C in Oslo.
      reply_contains: 12 °C
      reply_matches: /\\d+ °c/i
      tool_calls: [{ tool: weather, input: { city: Oslo } }]
      steps: 2
      events: [agent.action, tool.call, tool.observation, agent.response]
`;

describe('woodwork test', () => {
  it('runs an agent with a scripted tool call and a mocked tool, and passes', async () => {
    const dir = await project({ ...agentProject, 'weather.scenario.yaml': weatherScenario });
    const result = await runCli(['test'], { cwd: dir });
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^✓ weather in Oslo \(weather\.scenario\.yaml\) · 1 turn · /m);
    expect(result.stdout).toMatch(/1 scenario: 1 passed/);
    expect(result.code).toBe(0);
  });

  it('runs the tools it does not mock for real, and the model sees their output', async () => {
    const dir = await project({
      ...agentProject,
      'convert.scenario.yaml': `turns:
  - input: 20 °C in Fahrenheit?
    model:
      - tool_calls: [{ name: fahrenheit, arguments: { celsius: 20 } }]
      - text: 68 °F.
    expect:
      reply: 68 °F.
      tool_calls: [{ tool: fahrenheit, input: { celsius: 20 } }]
`,
    });
    const result = await runCli(['test', '--json'], { cwd: dir });
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(true);
    expect(report.scenarios[0].turns[0]).toMatchObject({ reply: '68 °F.', tool_calls: [{ tool: 'fahrenheit', input: { celsius: 20 } }], steps: 2, model_calls: { model: 2 } });
    // The observation of the real function: the event stream of the turn has it.
    expect(report.scenarios[0].turns[0].events).toEqual(expect.arrayContaining(['tool.call', 'tool.observation']));
  });

  it('fails with the place in the scenario and a diff of the reply and of the tool calls, and exits 1', async () => {
    const dir = await project({
      ...agentProject,
      'weather.scenario.yaml': weatherScenario.replace('{ city: Oslo } }]\n      - text: ["It is ", "12 °C in Oslo."]', '{ city: Bergen } }]\n      - text: It is 9 °C in Bergen.'),
    });
    const result = await runCli(['test', 'weather.scenario.yaml'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^✗ weather in Oslo/m);
    expect(result.stdout).toContain('weather.scenario.yaml:10:14 turn 1 ("What is the weather in Oslo?"): the reply differs');
    expect(result.stdout).toContain('    - It is 12 °C in Oslo.\n    + It is 9 °C in Bergen.');
    expect(result.stdout).toContain('weather.scenario.yaml:11:23 turn 1 ("What is the weather in Oslo?"): the reply does not contain "12 °C"');
    expect(result.stdout).toContain('the tool calls differ');
    expect(result.stdout).toContain('    - weather({"city":"Oslo"})\n    + weather({"city":"Bergen"})');
    expect(result.stdout).toMatch(/1 scenario: 0 passed, 1 failed/);
  });

  it('says when the model is called more often than the scenario scripts, and when a turn failed', async () => {
    const dir = await project({
      ...agentProject,
      'short.scenario.yaml': `turns:
  - input: Weather?
    model:
      - tool_calls: [{ name: weather, arguments: { city: Oslo } }]
`,
    });
    const result = await runCli(['test'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('the model `model` was called 2 times; the scenario scripts 1 answer for this turn');
    // The real weather function ran (nothing mocks it) and threw: the model saw that as an observation.
    expect(result.stdout).toContain('the turn failed');
  });

  it('says when a mocked tool names no tool the agent offers (a typo would let the real one run)', async () => {
    const dir = await project({ ...agentProject, 'typo.scenario.yaml': weatherScenario.replace('  weather: { output:', '  wether: { output:') });
    const result = await runCli(['test'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('typo.scenario.yaml:3:11 tools.wether names no tool: did you mean `weather`? the tools offered are `fahrenheit`, `weather` (of `tools`)');
  });

  it('says which llm component a misspelt key of `model` meant', async () => {
    const dir = await project({ ...agentProject, 'typo.scenario.yaml': 'turns:\n  - input: hi\n    model:\n      modle: [{ text: hello }]\n' });
    const result = await runCli(['test'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('turn 1 ("hi"): `modle` is not an llm component of main.ww; did you mean `model`? its llm components are `model`');
  });

  it('passes when the turn fails with the error the scenario expects', async () => {
    const dir = await project({
      ...agentProject,
      'broken.scenario.yaml': `turns:
  - input: Hello
    model:
      - status: 400
        message: no such model
    expect:
      error: WW_AI_BAD_REQUEST
`,
    });
    const result = await runCli(['test'], { cwd: dir });
    expect(result.stdout).toMatch(/✓ broken/);
    expect(result.code).toBe(0);
  });

  it('scripts each llm component by name, whatever its provider (Anthropic, Ollama)', async () => {
    const dir = await project({
      'main.ww': `input = command_line { to = triage }
triage = llm claude { model = "claude-haiku-4-5", api_key = $ANTHROPIC_API_KEY, to = writer }
writer = llm ollama { model = "llama3.2" }
output = console {}
`,
      'chain.scenario.yaml': `turns:
  - input: My invoice is wrong
    model:
      triage: [{ text: "billing" }]
      writer: [{ text: ["Sorry about ", "your invoice."] }]
    expect:
      reply: Sorry about your invoice.
  - input: Thanks
    model: [{ text: oops }]
`,
    });
    const result = await runCli(['test'], { cwd: dir });
    expect(result.code).toBe(1);
    // Checked before anything runs: a plain list cannot say which of the two models answers.
    expect(result.stdout).toContain('chain.scenario.yaml:9:12 turn 2 ("Thanks"): the topology has 2 llm components (`triage`, `writer`): say which answers, as `model: { triage: [...] }`');
    expect(result.stdout).toMatch(/1 could not run/);
    await writeFile(path.join(dir, 'chain.scenario.yaml'), (await readFile(path.join(dir, 'chain.scenario.yaml'), 'utf8')).replace(/  - input: Thanks\n.*\n/, ''));
    const fixed = await runCli(['test'], { cwd: dir });
    expect(fixed.stdout).toMatch(/✓ chain/);
    expect(fixed.code).toBe(0);
  });

  it('--update writes what happened as the expectations, keeps comments, and the next run passes', async () => {
    const dir = await project({
      ...agentProject,
      'record.scenario.yaml': `# A comment the author wrote.
name: record me
tools:
  weather: { output: "rain" }
turns:
  - input: Weather in Oslo?   # first question
    model:
      - tool_calls: [{ name: weather, arguments: { city: Oslo } }]
      - text: Rain in Oslo.
    expect:
      reply: Sun in Oslo.
      events: []
  - input: Thanks
`,
    });
    const before = await runCli(['test'], { cwd: dir });
    expect(before.code).toBe(1);
    const updated = await runCli(['test', '--update'], { cwd: dir });
    expect(updated.stdout).toMatch(/✓ record me .*\(expectations updated\)/);
    expect(updated.code).toBe(0);
    const text = await readFile(path.join(dir, 'record.scenario.yaml'), 'utf8');
    expect(text).toContain('# A comment the author wrote.');
    expect(text).toContain('# first question');
    const written = parse(text);
    expect(written.turns[0].expect).toEqual({
      reply: 'Rain in Oslo.',
      events: expect.arrayContaining(['agent.action', 'tool.call', 'tool.observation', 'agent.response']),
      tool_calls: [{ tool: 'weather', input: { city: 'Oslo' } }],
      steps: 2,
    });
    // Nothing scripted: the scripted model echoes.
    expect(written.turns[1].expect).toEqual({ reply: 'You said: Thanks', steps: 1 });
    const after = await runCli(['test'], { cwd: dir });
    expect(after.code).toBe(0);
  });

  it('--update leaves expectations that hold as written and keeps the spacing of the lines it does not change', async () => {
    const scenario = `name: keep my layout
tools:
  weather: {output: "12 °C"}
turns:
  - input: What is the weather in Oslo?
    model:
      - tool_calls: [{ name: weather, arguments: { city: Oslo } }]
      - text: ["It is ", "12 °C in Oslo."]
    expect:
      reply: It was 12 °C in Oslo.
      tool_calls: [{ tool: weather, input: { city: Oslo } }]
      events: [agent.action]
`;
    const dir = await project({ ...agentProject, 'layout.scenario.yaml': scenario });
    const updated = await runCli(['test', '--update'], { cwd: dir });
    expect(updated.stdout).toMatch(/✓ keep my layout .*\(expectations updated\)/);
    expect(updated.code).toBe(0);
    // Only the reply that did not hold changed, and the steps were added; every other line is byte for byte the author's.
    expect(await readFile(path.join(dir, 'layout.scenario.yaml'), 'utf8')).toBe(
      scenario
        .replace('reply: It was 12 °C in Oslo.', 'reply: It is 12 °C in Oslo.')
        // A list written in flow style is rewritten in flow style.
        .replace('events: [agent.action]', 'events: [ input.received, agent.action, tool.call, tool.result, tool.observation, agent.step_complete, agent.response, session.replied, turn.completed ]')
        .replace(/\n$/, '\n      steps: 2\n'),
    );
  });

  it('--update keeps the \\r\\n line endings of a scenario written on Windows', async () => {
    const scenario = 'name: windows\r\nturns:\r\n  - input: hi   # first\r\n    model: [{ text: hello }]\r\n    expect:\r\n      reply: bye\r\n';
    const dir = await project({ ...agentProject, 'crlf.scenario.yaml': scenario });
    expect((await runCli(['test', '--update'], { cwd: dir })).code).toBe(0);
    expect(await readFile(path.join(dir, 'crlf.scenario.yaml'), 'utf8')).toBe(scenario.replace('reply: bye', 'reply: hello') + '      steps: 1\r\n');
  });

  it('says which `file` of a scenario is missing, at its place in the scenario', async () => {
    const dir = await project({
      ...agentProject,
      'wrong.scenario.yaml': 'name: wrong file\nfile: nothere.ww\nturns:\n  - input: hi\n',
      'sub/lost.scenario.yaml': 'name: no main here\nturns:\n  - input: hi\n',
    });
    const result = await runCli(['test'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`wrong.scenario.yaml:2:7 \`file\` names "nothere.ww", but there is no such file: it is read relative to the scenario's folder, so here ${path.join(dir, 'nothere.ww')}`);
    expect(result.stdout).toContain(`sub/lost.scenario.yaml:1:1 there is no main.ww beside the scenario (in ${path.join(dir, 'sub')}): move the scenario next to its .ww file, or say which file it runs with \`file: path/to/main.ww\``);
    // Not a place in a file that does not exist, nor the advice to start a new project.
    expect(result.stdout).not.toContain('nothere.ww:1:1');
    expect(result.stdout).not.toContain('woodwork init');
    expect(result.stdout).toMatch(/2 scenarios: 0 passed, 2 could not run/);
  });

  it('--junit writes a test suite per scenario and a test case per turn, with the failure', async () => {
    const dir = await project({
      ...agentProject,
      'good.scenario.yaml': weatherScenario,
      'bad.scenario.yaml': weatherScenario.replace('name: weather in Oslo', 'name: wrong reply').replace('reply: It is 12 °C in Oslo.', 'reply: <sunny> & "warm"'),
    });
    const result = await runCli(['test', '--junit', 'reports/junit.xml'], { cwd: dir });
    expect(result.code).toBe(1);
    const xml = await readFile(path.join(dir, 'reports', 'junit.xml'), 'utf8');
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="woodwork test" tests="2" failures="1" errors="0"/);
    expect(xml).toContain('<testsuite name="weather in Oslo (good.scenario.yaml)" tests="1" failures="0" errors="0"');
    expect(xml).toContain('<testsuite name="wrong reply (bad.scenario.yaml)" tests="1" failures="1" errors="0"');
    expect(xml).toContain('<testcase name="turn 1: &quot;What is the weather in Oslo?&quot;" classname="bad.scenario.yaml wrong reply"');
    expect(xml).toContain('<failure message="the reply differs" type="WW_TEST_FAILED">bad.scenario.yaml:10:14: the reply differs\nexpected: &lt;sunny&gt; &amp; &quot;warm&quot;\nactual:   It is 12 °C in Oslo.</failure>');
  });

  it('--junit indents a value of several lines under its first, so expected and actual read as two blocks', async () => {
    const dir = await project({ ...agentProject, 'events.scenario.yaml': weatherScenario.replace('events: [agent.action, tool.call, tool.observation, agent.response]', 'events: [agent.response, agent.action]') });
    const result = await runCli(['test', '--junit', 'junit.xml'], { cwd: dir });
    expect(result.code).toBe(1);
    const xml = await readFile(path.join(dir, 'junit.xml'), 'utf8');
    expect(xml).toContain('\nexpected: agent.response\n          agent.action\nactual:   input.received\n          agent.action\n          tool.call\n');
  });

  it('reports a mistake in a scenario file with its line, column and the keys it could have', async () => {
    const dir = await project({
      ...agentProject,
      'typo.scenario.yaml': 'turns:\n  - input: hi\n    expect:\n      replies: hello\n      steps: two\n',
      'typo2.scenario.yaml': 'turns:\n  - input: hi\n    expekt:\n      reply: hello\n',
    });
    const result = await runCli(['test'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('typo.scenario.yaml:4:7: error WW_TEST_SCENARIO: `turns.0.expect` has no key `replies`');
    expect(result.stdout).toMatch(/hint: its keys are `reply`, `reply_contains`, `reply_matches`, `tool_calls`, `events`, `steps`, `error`/);
    expect(result.stdout).toContain('typo2.scenario.yaml:3:5: error WW_TEST_SCENARIO: `turns.0` has no key `expekt`');
    expect(result.stdout).toContain('hint: did you mean `expect`? its keys are `input`, `model`, `expect`');
    expect(result.stdout).toContain('typo.scenario.yaml:5:14: error WW_TEST_SCENARIO: `turns.0.expect.steps` must be integer');
    expect(result.stdout).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('says which spelling a tool call takes where the two are swapped, without the other branch of `model` as noise', async () => {
    const dir = await project({
      ...agentProject,
      'swapped.scenario.yaml': `turns:
  - input: Weather?
    model:
      - tool_calls: [{ tool: weather, input: { city: Oslo } }]
      - text: Rain.
    expect:
      tool_calls: [{ name: weather, arguments: { city: Oslo } }]
`,
    });
    const result = await runCli(['test'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('swapped.scenario.yaml:4:24: error WW_TEST_SCENARIO: `turns.0.model.0.tool_calls.0` has no key `tool`');
    expect(result.stdout).toContain('hint: its keys are `name`, `arguments` (a tool call the model answers is `{ name, arguments }`, as the provider sends it; `{ tool, input }` is how `expect.tool_calls` writes one)');
    expect(result.stdout).toContain('swapped.scenario.yaml:7:22: error WW_TEST_SCENARIO: `turns.0.expect.tool_calls.0` has no key `name`');
    expect(result.stdout).toContain('hint: its keys are `tool`, `input` (a tool call expected is `{ tool, input }`; `{ name, arguments }` is how `model` writes the answer that makes it)');
    // `model` may be a list or a map by llm; the list has the mistake, so "must be object" is noise.
    expect(result.stdout).not.toContain('must be object');
  });

  it("says a turn that takes too long ran out of the scenario's timeout_ms, in the scenario's words", async () => {
    const dir = await project({
      ...agentProject,
      'slow.scenario.yaml': 'timeout_ms: 200\nturns:\n  - input: hi\n    model:\n      - text: [a, b, c]\n        chunk_delay_ms: 150\n',
    });
    const result = await runCli(['test'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain("slow.scenario.yaml:3:5 turn 1 (\"hi\"): no answer within 200 ms: raise the scenario's `timeout_ms` (default 30000) if the turn may take longer");
    // Not the runtime's advice about its own API.
    expect(result.stdout).not.toContain('turnTimeoutMs');
  });

  it('counts a turn that timed out as a turn run and says so, in the text, JSON and JUnit reports', async () => {
    const dir = await project({
      ...agentProject,
      'slow.scenario.yaml':
        'timeout_ms: 200\nturns:\n  - input: hi\n    model:\n      - text: [a, b, c]\n        chunk_delay_ms: 150\n  - input: again\n    model:\n      - text: fine\n',
    });
    const result = await runCli(['test', '--junit', 'junit.xml'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/✗ slow \(slow\.scenario\.yaml\) · 1 turn \(turn 1 timed out, 1 not run\) · /);
    expect(result.stdout).not.toContain('0 turns');
    const xml = await readFile(path.join(dir, 'junit.xml'), 'utf8');
    expect(xml).toMatch(/<testsuite name="slow \(slow\.scenario\.yaml\)" tests="1" failures="1" errors="0"/);
    expect(xml).toMatch(/<testcase name="turn 1: &quot;hi&quot;"[^>]*>\s*<failure message="no answer within 200 ms/);
    const json = JSON.parse((await runCli(['test', '--json'], { cwd: dir })).stdout);
    const slow = json.scenarios.find((scenario: { file: string }) => scenario.file === 'slow.scenario.yaml');
    expect(slow).toMatchObject({ status: 'failed', turns: [], unanswered: { turn: 0, timed_out: true } });
  });

  it('reports a string that is never closed where it opens, not where the file ends', async () => {
    const dir = await project({
      ...agentProject,
      'quote.scenario.yaml': 'name: broken\nturns:\n  - input: "hi\n    expect: { reply: hello }\n  - input: bye\n',
    });
    const result = await runCli(['test'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('quote.scenario.yaml:3:12: error WW_TEST_SCENARIO: not valid YAML: this "…" string is never closed');
    expect(result.stdout).toContain('    3 |   - input: "hi\n      |            ^\n');
    expect(result.stdout).toContain('hint: close it with " where it ends (everything after it was read as part of the string)');
  });

  it('runs the scenario woodwork init writes, with llm local scripted (no model file needed)', async () => {
    const parent = await mkdtemp(path.join(tmpdir(), 'ww-cli-test-init-'));
    expect((await runCli(['init', 'my-agent'], { cwd: parent })).code).toBe(0);
    const result = await runCli(['test', 'my-agent'], { cwd: parent, env: { PATH: process.env.PATH, WOODWORK_LOCAL_MODEL: '/nonexistent/model.gguf' } });
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/✓ the assistant answers \(my-agent\/main\.scenario\.yaml\)/);
    expect(result.code).toBe(0);
  });

  it('--live leaves the models alone: the provider its variables name answers, and the scripted answers are not used', async () => {
    // Stands in for the real provider: reached only through OPENAI_BASE_URL, as OpenAI would be.
    await using provider = await startScriptedServer({ apiKey: 'sk-live', respond: () => ({ text: 'Live weather: 3 °C.' }) });
    // The key and URL as the file's references: the llm reads the process environment otherwise, and this runs in-process.
    const mainWw = agentProject['main.ww'].replace('model = "gpt-4o-mini" }', 'model = "gpt-4o-mini", api_key = $OPENAI_API_KEY, base_url = $OPENAI_BASE_URL }');
    const dir = await project({ ...agentProject, 'main.ww': mainWw, 'weather.scenario.yaml': weatherScenario.replace(/reply: It is 12 °C in Oslo\.\n.*\n.*\n.*\n.*\n.*\n/, 'reply_contains: °C\n') });
    const env = { PATH: process.env.PATH, OPENAI_API_KEY: 'sk-live', OPENAI_BASE_URL: provider.openaiBaseUrl };
    const live = await runCli(['test', '--live'], { cwd: dir, env });
    expect(live.stdout).toMatch(/✓ weather in Oslo/);
    expect(live.code).toBe(0);
    expect(provider.requests).toHaveLength(1);
    expect(provider.requests[0]!.userText).toBe('What is the weather in Oslo?');
    // Without --live the same scenario never reaches the provider, and needs neither variable.
    expect((await runCli(['test'], { cwd: dir, env: { PATH: process.env.PATH } })).code).toBe(0);
    expect(provider.requests).toHaveLength(1);
  });

  it('says so when there is no scenario to run', async () => {
    const dir = await project(agentProject);
    const result = await runCli(['test'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no scenario files (*.scenario.yaml) under this folder');
  });
});
