/**
 * The files `woodwork init` writes: the smallest project that shows every moving part — an input,
 * a component with a pipe and a hook, an output — and runs without any API key.
 */
export function projectTemplate(projectName: string): Record<string, string> {
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
    '.env.example': `# Copy to .env and fill in; the process environment wins over .env.
GREETING=Hello
# OPENAI_API_KEY=sk-...
`,
    'README.md': `# ${projectName}

A Woodwork project (\`@woodwork/cli\`).

\`\`\`sh
npx woodwork validate          # check main.ww
npx woodwork run               # talk to it in the terminal
\`\`\`

- \`main.ww\` declares the components: a terminal input, a greeter and a console output.
- \`pipes.ts\` holds the pipe that trims each message before the greeter sees it.
- \`hooks.ts\` holds a hook that logs every event when \`WOODWORK_DEBUG\` is set.
- \`.env.example\` lists the settings; copy it to \`.env\`.
`,
  };
}
