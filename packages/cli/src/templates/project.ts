/**
 * The files `woodwork init` writes: the smallest project that shows every moving part — an input,
 * a component with a pipe and a hook, an output — and runs without any API key.
 */
export function projectTemplate(projectName: string, woodworkVersion: string): Record<string, string> {
  const range = `^${woodworkVersion}`;
  return {
    'main.ww': `// ${projectName}: a Woodwork project. Check it with \`npx woodwork validate\`,
// run it with \`npx woodwork run\`.

input = command_line {
    to = greeter
}

// A built-in transform, so this runs with no API key. Swap it for an LLM when you are ready:
//   greeter = llm openai { model = "gpt-4o-mini", api_key = $OPENAI_API_KEY }
greeter = transform template {
    template = "\${GREETING:-Hello}, {{input}}!"
    pipes = ["pipes.ts::trim"]
    hooks = [{ event = "*", function = "hooks.ts::logEvent" }]
}

output = console {}
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
GREETING=Hello
# OPENAI_API_KEY=sk-...
`,
    'README.md': `# ${projectName}

A Woodwork project (\`@woodwork/cli\`). Node 22.15 or newer.

\`\`\`sh
npm install                    # @woodwork/cli and @woodwork/runtime, from package.json
npx woodwork validate          # check main.ww (npm run validate does the same)
npx woodwork run               # talk to it in the terminal (npm start)
npx woodwork dev               # the same, reloading when main.ww, a pipe or a hook changes
\`\`\`

Next: add components to \`main.ww\` (\`npx woodwork validate\` lists every problem with its line),
run each component as its own process with \`npx woodwork up --bus redis://…\`, or write the
container artifacts with \`npx woodwork build\` (into \`build/\`, which \`.gitignore\` leaves out).

- \`main.ww\` declares the components: a terminal input, a greeter and a console output.
- \`pipes.ts\` holds the pipe that trims each message before the greeter sees it.
- \`hooks.ts\` holds a hook that logs every event when \`WOODWORK_DEBUG\` is set.
- \`.env.example\` lists the settings; copy it to \`.env\`.
`,
  };
}

/** npm package names are lower case, without spaces, and may not start with a dot or underscore. */
function packageName(projectName: string): string {
  const name = projectName.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+/, '');
  return name || 'woodwork-project';
}
