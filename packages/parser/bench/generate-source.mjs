// The input of the parser benchmark: a ~1 MB .ww file in both dialects, with comments and every
// value form, that parses and validates cleanly.

export function generateSource(targetBytes = 1024 * 1024) {
  const blocks = [];
  let size = 0;
  for (let i = 0; size < targetBytes; i++) {
    const block =
      i % 2 === 0
        ? `# classic declaration ${i}: a comment with = and { braces }
mem_${i} = memory short_term {
    max_messages: ${10 + (i % 50)}
}

model_${i} = llm openai {
    model: "gpt-4o-mini" # a trailing comment { = }
    api_key: $OPENAI_API_KEY
    temperature: 0.${i % 10}
    max_tokens: 10_000
    memory: mem_${i}
    prompt: {
        file: "prompts/system_${i % 7}.txt"
        variables: { team: 'platform', tone: "friendly \\"and\\" short", limit: 1e3 }
    }
}

agent_${i} = agent llm {
    model: model_${i}
    tools: [tool_${i}, search_${i},]
    max_steps: 12
    hooks: [{ event: "agent.thought", script_path: "hooks.py", function_name: "print_thought" }]
}

tool_${i} = api functions { path: "tools/functions_${i % 5}.ts" }
search_${i} = api web { url: "\${SEARCH_URL:-https://search.example.com/api}", documentation: "docs.txt" }
`
        : `// short declaration ${i}
chat_${i} = claude {
    model = "claude-sonnet-4-5"
    streaming = TRUE
    pipes = ["pipes.ts::contextEnhancer", { event = "input.*", function = "pipes.ts::redact" }]
    deployment = {
        mode = "container"
        scaling = { min_instances = 1, max_instances = 5, scale_metric = "queue_depth", scale_threshold = 5 }
        resources = { cpu = "500m"; memory = "1Gi" }
        session_affinity = false
    }
    metrics = { custom_metrics = ["token_count", "response_time"], enterprise_enabled = true }
    prompt = """
You are assistant number ${i}.
Answer briefly; quote "sources" when you can.
"""
}
`;
    blocks.push(block);
    size += block.length;
  }
  blocks.push('in = input api { port = 8000 }\nout = output api {}\n');
  return blocks.join('\n');
}
