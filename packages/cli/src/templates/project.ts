/**
 * The files `woodwork init` writes: the smallest project that shows every moving part — an input,
 * a language model with a pipe and a hook, an output — with a real model answering: the provider's
 * when its key is set where `init` runs (OPENAI_API_KEY, then ANTHROPIC_API_KEY), else a very small
 * local one (`llm local`) that needs no key.
 */
export function projectTemplate(projectName: string, woodworkVersion: string, env: NodeJS.ProcessEnv = {}): Record<string, string> {
  const range = `^${woodworkVersion}`;
  return {
    'main.ww': `// ${projectName}: a Woodwork project. Check it with \`npx woodwork validate\`,
// run it with \`npx woodwork run\`.

input = command_line {
    to = assistant
}

${assistantBlock(env)}
output = console {}
`,
    'main.scenario.yaml': `# yaml-language-server: $schema=./node_modules/@woodwork/cli/schema/scenario.schema.json
# A conversation \`npx woodwork test\` runs against main.ww: the model's answers are scripted (no key,
# no model download, no cost) and the rest of the project runs for real. \`--update\` writes what
# happened as the expectations; \`--live\` asks the real model instead.
name: the assistant answers
turns:
  - input: "  What is Woodwork?  "
    model:
      - text: ["Woodwork runs agent systems ", "declared in .ww files."]
    expect:
      reply: Woodwork runs agent systems declared in .ww files.
`,
    'pipes.ts': `// Pipes run in order before the component sees a message; each may replace the payload.
// Typed text arrives as { input: "..." }.
export interface InputPayload {
  input: string;
  context?: Record<string, unknown>;
}

export function trim(payload: InputPayload): InputPayload {
  return { ...payload, input: payload.input.trim() };
}
`,
    'hooks.ts': `// Hooks get a copy of every event the component emits. They run on the side: a slow or failing
// hook never holds up or breaks the chain.
export function logEvent(event: { event_type: string; session_id: string }): void {
  if (process.env.WOODWORK_DEBUG) console.error(\`[hook] \${event.session_id} \${event.event_type}\`);
}
`,
    'package.json': `${JSON.stringify(
      {
        name: packageName(projectName),
        version: '0.1.0',
        private: true,
        type: 'module',
        engines: { node: '>=22.15' },
        scripts: {
          start: 'woodwork run',
          dev: 'woodwork dev',
          validate: 'woodwork validate',
          test: 'woodwork test',
          up: 'woodwork up',
          build: 'woodwork build',
        },
        dependencies: { '@woodwork/cli': range, '@woodwork/runtime': range },
      },
      null,
      2,
    )}\n`,
    '.gitignore': `node_modules/
.env
# woodwork build writes the container artifacts here; woodwork up keeps its state and logs here.
build/
.woodwork/
`,
    '.env.example': `# Copy to .env and fill in; the process environment wins over .env.
# OPENAI_API_KEY=sk-...
# ANTHROPIC_API_KEY=sk-ant-...
# A GGUF model of your own for llm local (a path, or hf:user/repo:quant):
# WOODWORK_LOCAL_MODEL=/path/to/model.gguf
`,
    'README.md': `# ${projectName}

A Woodwork project (\`@woodwork/cli\`). Node 22.15 or newer.

\`\`\`sh
npm install                    # @woodwork/cli and @woodwork/runtime, from package.json
npx woodwork validate          # check main.ww (npm run validate does the same)
npx woodwork run               # talk to it in the terminal (npm start)
npx woodwork dev               # the same, reloading when main.ww, a pipe or a hook changes
npx woodwork test              # run main.scenario.yaml: scripted model answers, checked replies (npm test)
\`\`\`

Next: add components to \`main.ww\` (\`npx woodwork validate\` lists every problem with its line),
run each component as its own process with \`npx woodwork up --bus redis://…\`, or write the
container artifacts with \`npx woodwork build\` (into \`build/\`, which \`.gitignore\` leaves out).

- \`main.ww\` declares the components: a terminal input, a language model and a console output.
  Without a provider's key the model is \`llm local\`: SmolLM2-135M-Instruct, a very small model
  (quick on any CPU, often wrong) downloaded once into \`~/.cache/woodwork/models\`.
- \`main.scenario.yaml\` is a conversation \`woodwork test\` checks, with the model's answers scripted.
- \`pipes.ts\` holds the pipe that trims each message before the model sees it.
- \`hooks.ts\` holds a hook that logs every event when \`WOODWORK_DEBUG\` is set.
- \`.env.example\` lists the settings; copy it to \`.env\`.
`,
  };
}

/** The model the project starts with: the provider whose key is set, else the local one. */
function assistantBlock(env: NodeJS.ProcessEnv): string {
  const common = `    prompt = "You are a helpful assistant. Answer in one or two short sentences."
    pipes = ["pipes.ts::trim"]
    hooks = [{ event = "*", function = "hooks.ts::logEvent" }]
}
`;
  if (env.OPENAI_API_KEY) {
    return `// OpenAI's model (OPENAI_API_KEY was set when this file was written). Without a key, a very
// small model on this machine works too: assistant = llm local {} (see the llm local docs).
assistant = llm openai {
    model = "gpt-4o-mini"
${common}`;
  }
  if (env.ANTHROPIC_API_KEY) {
    return `// Anthropic's model (ANTHROPIC_API_KEY was set when this file was written). Without a key, a
// very small model on this machine works too: assistant = llm local {} (see the llm local docs).
assistant = llm claude {
    model = "claude-sonnet-4-5"
${common}`;
  }
  return `// A real language model with no key and no account: SmolLM2-135M-Instruct, a very small model
// (quick on any CPU; its answers are short and often wrong), downloaded from Hugging Face once into
// ~/.cache/woodwork/models. WOODWORK_LOCAL_MODEL may name a .gguf file of your own instead. For a
// capable model, set a provider's key and write instead:
//   assistant = llm openai { model = "gpt-4o-mini" }         (OPENAI_API_KEY)
//   assistant = llm claude { model = "claude-sonnet-4-5" }   (ANTHROPIC_API_KEY)
assistant = llm local {
    model = "\${WOODWORK_LOCAL_MODEL:-hf:HuggingFaceTB/SmolLM2-135M-Instruct-GGUF:Q8_0}"
    temperature = 0
    max_tokens = 96
${common}`;
}

/** npm package names are lower case, without spaces, and may not start with a dot or underscore. */
function packageName(projectName: string): string {
  const name = projectName.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+/, '');
  return name || 'woodwork-project';
}
