// The benchmark's input: a .ww file of about 2,000 lines in both dialects (comments, pipes, hooks,
// references, environment references), in a project folder with every module and file it names,
// so the server does all the work `woodwork validate` does: parse, analyse, check files and exports.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export function generateSource(lines = 2000) {
  const blocks = [];
  let count = 0;
  for (let i = 0; count < lines - 2; i++) {
    const block =
      i % 2 === 0
        ? `# classic declarations ${i}
mem_${i} = memory short_term {
    max_messages: ${10 + (i % 50)}
}

model_${i} = llm openai {
    model: "gpt-4o-mini" # a trailing comment
    api_key: $OPENAI_API_KEY
    temperature: 0.${i % 10}
    max_tokens: 10_000
    memory: mem_${i}
    pipes: ["pipes.ts::trim"]
    hooks: [{ event: "llm.*", script_path: "hooks.py", function_name: "log_event" }]
}

agent_${i} = agent llm {
    model: model_${i}
    tools: [tool_${i}]
    max_steps: 12
}

tool_${i} = api functions { path: "tools/functions_${i % 5}.ts" }
`
        : `// short declarations ${i}
chat_${i} = claude {
    model = "claude-sonnet-4-5"
    streaming = true
    pipes = ["pipes.ts::trim", { event = "input.*", function = "pipes.ts::redact" }]
    deployment = {
        mode = "container"
        scaling = { min_instances = 1, max_instances = 5, scale_metric = "queue_depth", scale_threshold = 5 }
        resources = { cpu = "500m", memory = "1Gi" }
    }
    prompt = """
You are assistant number ${i}.
Answer briefly.
"""
}
`;
    blocks.push(block);
    count += block.split('\n').length;
  }
  blocks.push('in = input api { port = 8000 }\nout = output api {}\n');
  return blocks.join('\n');
}

/** Writes the project into `folder` and returns the path of its main.ww. */
export async function writeProject(folder) {
  await mkdir(path.join(folder, 'tools'), { recursive: true });
  await writeFile(path.join(folder, 'pipes.ts'), 'export function trim(m) { return m; }\nexport const redact = (m) => m;\n');
  await writeFile(path.join(folder, 'hooks.py'), 'def log_event(event):\n    print(event)\n');
  for (let i = 0; i < 5; i++) await writeFile(path.join(folder, 'tools', `functions_${i}.ts`), 'export function lookup() {}\n');
  const file = path.join(folder, 'main.ww');
  await writeFile(file, generateSource());
  return file;
}
