// One block per grammar rule: what each lexical form and each structure parses to.
import { describe, expect, it } from 'vitest';
import { parse } from '../src/index.js';
import { check, plain, valueOf } from './support.js';

function declarations(source: string) {
  const parsed = parse(source, { file: 'main.ww' });
  expect(parsed.diagnostics).toEqual([]);
  return parsed.ast.declarations.map((declaration) => ({
    name: declaration.name.name,
    kind: declaration.kind?.name ?? null,
    type: declaration.componentType.name,
    body: plain(declaration.body),
  }));
}

describe('declarations', () => {
  it('reads the classic form: name = kind type { key: value }', () => {
    expect(declarations('model = llm openai {\n  model: "gpt-4o-mini"\n}\n')).toEqual([
      { name: 'model', kind: 'llm', type: 'openai', body: { model: 'gpt-4o-mini' } },
    ]);
  });

  it('reads the short form: name = type { key = value }', () => {
    expect(declarations('agent = claude {\n  model = "claude-sonnet-4-5"\n}')).toEqual([
      { name: 'agent', kind: null, type: 'claude', body: { model: 'claude-sonnet-4-5' } },
    ]);
  });

  it('mixes both dialects in one file and in one block', () => {
    expect(declarations('a = llm openai { model: "x" }\nb = claude { model = "y", temperature: 0.2 }')).toEqual([
      { name: 'a', kind: 'llm', type: 'openai', body: { model: 'x' } },
      { name: 'b', kind: null, type: 'claude', body: { model: 'y', temperature: 0.2 } },
    ]);
  });

  it('allows a name equal to a kind or type', () => {
    expect(declarations('llm = llm openai {}\ninput = input api {}\nclaude = claude {}').map((d) => d.name)).toEqual(['llm', 'input', 'claude']);
  });

  it('reads a one-line declaration with one entry, and an empty block', () => {
    expect(declarations('a = llm openai { model: "x" }\nm = memory short_term {}')).toEqual([
      { name: 'a', kind: 'llm', type: 'openai', body: { model: 'x' } },
      { name: 'm', kind: 'memory', type: 'short_term', body: {} },
    ]);
  });

  it('allows whitespace, newlines and comments between any two tokens of a header', () => {
    expect(declarations('a # name\n  =\n  llm // kind\n  openai\n{\n}')).toEqual([{ name: 'a', kind: 'llm', type: 'openai', body: {} }]);
  });

  it('allows several declarations on one line', () => {
    expect(declarations('a = cli {} b = claude {}').map((d) => d.name)).toEqual(['a', 'b']);
  });

  it('accepts names with digits, underscores and dashes', () => {
    expect(declarations('_agent-2 = claude { model_name-x: 1 }')).toEqual([{ name: '_agent-2', kind: null, type: 'claude', body: { 'model_name-x': 1 } }]);
  });

  it('reads an empty file, a file of comments, a byte-order mark and CRLF line ends', () => {
    expect(declarations('')).toEqual([]);
    expect(declarations('# only\n// comments\n\n')).toEqual([]);
    expect(declarations('\uFEFFa = claude {\r\n  model: "x"\r\n  n: 1\r\n}\r\n')).toEqual([
      { name: 'a', kind: null, type: 'claude', body: { model: 'x', n: 1 } },
    ]);
  });
});

describe('comments', () => {
  it('runs `#` and `//` comments to the end of the line, also after a value', () => {
    expect(plain(valueOf('"v" # a comment'))).toBe('v');
    expect(plain(valueOf('"v" // a comment'))).toBe('v');
    expect(declarations('# top\na = claude { # after the brace\n  k: 1 // after a value\n  // alone\n}')).toEqual([
      { name: 'a', kind: null, type: 'claude', body: { k: 1 } },
    ]);
  });

  it('ignores `=`, `{` and `}` inside a comment (a quirk of the classic engine not copied)', () => {
    expect(declarations('# b = llm openai {\na = claude {\n  # c = d { e }\n  k: 1 # = { not a block\n}')).toEqual([
      { name: 'a', kind: null, type: 'claude', body: { k: 1 } },
    ]);
  });

  it('reads a comment between header words to its end, even when it holds `=` or `{`', () => {
    // The lookaheads that tell a type word from the next entry, and a header from an entry, once
    // stopped inside such a comment: `llm` looked like a key followed by `=` and the file failed.
    expect(declarations('a = llm # x = y\n openai {}')).toEqual([{ name: 'a', kind: 'llm', type: 'openai', body: {} }]);
    expect(declarations('a = llm // x = y\n openai {}')).toEqual([{ name: 'a', kind: 'llm', type: 'openai', body: {} }]);
    expect(declarations('a = claude # = {\n{ k: 1 }')).toEqual([{ name: 'a', kind: null, type: 'claude', body: { k: 1 } }]);
  });

  it('allows comments between list items', () => {
    expect(plain(valueOf('[a, # first\n  b // second\n]'))).toEqual([{ ref: 'a' }, { ref: 'b' }]);
  });
});

describe('strings', () => {
  it('reads double and single quotes', () => {
    expect(plain(valueOf('"double"'))).toBe('double');
    expect(plain(valueOf("'single'"))).toBe('single');
    expect(plain(valueOf('""'))).toBe('');
  });

  it('applies every escape: \\n \\t \\r \\\\ \\" \\\' \\$ \\u{…}', () => {
    expect(plain(valueOf(String.raw`"a\nb\tc\rd\\e\"f\'g\$h\u{1F600}\u{41}"`))).toBe('a\nb\tc\rd\\e"f\'g$h😀A');
    expect(plain(valueOf(String.raw`'it\'s'`))).toBe("it's");
  });

  it('keeps `{`, `:`, `#`, `//` inside a string (a quirk of the classic engine not copied)', () => {
    expect(plain(valueOf('"{ a: b } # not a comment // nor this"'))).toBe('{ a: b } # not a comment // nor this');
    expect(declarations('a = claude {\n  prompt: "use { braces }"\n  k: 1\n}')).toEqual([
      { name: 'a', kind: null, type: 'claude', body: { prompt: 'use { braces }', k: 1 } },
    ]);
  });

  it('reads """…""" across lines, dropping a newline right after the opening quotes', () => {
    expect(plain(valueOf('"""\nline one\n  "quoted" line two\n"""'))).toBe('line one\n  "quoted" line two\n');
    expect(plain(valueOf('"""inline"""'))).toBe('inline');
    expect(plain(valueOf(String.raw`"""tab\there"""`))).toBe('tab\there');
  });

  it('interpolates ${NAME} and ${NAME:-default} inside strings; a lone $ is text', () => {
    expect(plain(valueOf('"Bearer ${TOKEN}"'))).toEqual({ template: ['Bearer ', { env: 'TOKEN', default: undefined }] });
    expect(plain(valueOf("'${URL:-redis://127.0.0.1:6379}'"))).toEqual({ template: [{ env: 'URL', default: 'redis://127.0.0.1:6379' }] });
    expect(plain(valueOf('"costs $5 or $x"'))).toBe('costs $5 or $x');
    expect(plain(valueOf(String.raw`"\${NOT_A_VARIABLE}"`))).toBe('${NOT_A_VARIABLE}');
  });
});

describe('numbers', () => {
  it.each([
    ['42', 42],
    ['-3', -3],
    ['0.5', 0.5],
    ['1e3', 1000],
    ['1E-3', 0.001],
    ['-2.5e+2', -250],
    ['10_000', 10000],
    ['1_000.000_5', 1000.0005],
    ['-0', 0],
  ])('reads %s', (written, value) => {
    expect(plain(valueOf(written))).toBe(value);
    expect(valueOf(written)).toMatchObject({ type: 'Number', raw: written });
  });
});

describe('booleans, null and references', () => {
  it('reads true and false in any case', () => {
    for (const written of ['true', 'True', 'TRUE', 'tRuE']) expect(plain(valueOf(written))).toBe(true);
    for (const written of ['false', 'False', 'FALSE']) expect(plain(valueOf(written))).toBe(false);
  });

  it('reads null in any case', () => {
    for (const written of ['null', 'Null', 'NULL']) expect(valueOf(written).type).toBe('Null');
  });

  it('reads any other bare name as a reference', () => {
    expect(plain(valueOf('language_model'))).toEqual({ ref: 'language_model' });
    expect(plain(valueOf('truthy'))).toEqual({ ref: 'truthy' });
    expect(plain(valueOf('gpt-4o'))).toEqual({ ref: 'gpt-4o' });
  });
});

describe('environment references', () => {
  it('reads $NAME, ${NAME} and ${NAME:-default}', () => {
    expect(plain(valueOf('$OPENAI_API_KEY'))).toEqual({ env: 'OPENAI_API_KEY' });
    expect(plain(valueOf('${OPENAI_API_KEY}'))).toEqual({ env: 'OPENAI_API_KEY' });
    expect(plain(valueOf('${PORT:-8080}'))).toEqual({ env: 'PORT', default: '8080' });
    expect(plain(valueOf('${EMPTY:-}'))).toEqual({ env: 'EMPTY', default: '' });
    expect(plain(valueOf('${GREETING:-hello, world: #1}'))).toEqual({ env: 'GREETING', default: 'hello, world: #1' });
  });
});

describe('lists', () => {
  it('reads lists on one line or several, with commas, newlines, both, and a trailing comma', () => {
    const expected = [{ ref: 'a' }, { ref: 'b' }, { ref: 'c' }];
    expect(plain(valueOf('[a, b, c]'))).toEqual(expected);
    expect(plain(valueOf('[a, b, c,]'))).toEqual(expected);
    expect(plain(valueOf('[\n  a\n  b\n  c\n]'))).toEqual(expected);
    expect(plain(valueOf('[\n  a,\n  b,\n  c,\n]'))).toEqual(expected);
    expect(plain(valueOf('[]'))).toEqual([]);
    expect(plain(valueOf('[ ]'))).toEqual([]);
  });

  it('holds any values, nested lists and maps', () => {
    expect(plain(valueOf('["s", 1, true, null, $E, [x], { k: v }]'))).toEqual(['s', 1, true, null, { env: 'E' }, [{ ref: 'x' }], { k: { ref: 'v' } }]);
  });
});

describe('maps', () => {
  it('reads `key: value` and `key = value` entries separated by newlines, commas or semicolons', () => {
    const expected = { a: 1, b: 2, c: 3 };
    expect(plain(valueOf('{ a: 1, b: 2, c: 3 }'))).toEqual(expected);
    expect(plain(valueOf('{ a = 1; b = 2; c = 3; }'))).toEqual(expected);
    expect(plain(valueOf('{\n  a: 1\n  b = 2,\n  c: 3;\n}'))).toEqual(expected);
    expect(plain(valueOf('{}'))).toEqual({});
  });

  it('nests maps and accepts quoted keys', () => {
    expect(plain(valueOf('{ scaling = { min_instances = 1 }, "Content-Type": "json" }'))).toEqual({
      scaling: { min_instances: 1 },
      'Content-Type': 'json',
    });
  });

  it('reads a value on the line after its key', () => {
    expect(plain(valueOf('{\n  model:\n    "x"\n  tools =\n    [a]\n}'))).toEqual({ model: 'x', tools: [{ ref: 'a' }] });
  });

  it('reads the classic engine quirk `k: "v" # comment` as a string and a comment', () => {
    expect(declarations('a = claude {\n  k: "v" # comment\n}')).toEqual([{ name: 'a', kind: null, type: 'claude', body: { k: 'v' } }]);
  });
});

describe('locations', () => {
  it('gives every node its file, line, column, offset and end', () => {
    const { ast } = parse('# header\nagent = claude {\n  model: "x"\n}\n', { file: 'project/main.ww' });
    const declaration = ast.declarations[0];
    expect(declaration?.name.location).toEqual({ file: 'project/main.ww', line: 2, column: 1, offset: 9, endLine: 2, endColumn: 6, endOffset: 14 });
    const entry = declaration?.body.entries[0];
    expect(entry?.value.location).toMatchObject({ line: 3, column: 10, endLine: 3, endColumn: 13 });
    expect(declaration?.location).toMatchObject({ line: 2, column: 1, endLine: 4, endColumn: 2 });
    expect(ast.location).toMatchObject({ line: 1, column: 1, endLine: 5, endColumn: 1 });
  });

  it('serialises nodes with their locations', () => {
    const { ast } = parse('a = claude {}', { file: 'main.ww' });
    const json = JSON.parse(JSON.stringify(ast.declarations[0]?.name));
    expect(json).toEqual({ type: 'Identifier', name: 'a', quoted: false, location: { file: 'main.ww', line: 1, column: 1, offset: 0, endLine: 1, endColumn: 2, endOffset: 1 } });
  });

  it('keeps each tree\'s locations its own when other files are parsed after it', () => {
    // The node classes are shared by every parse; each node still locates itself in its own text.
    const first = parse('# one\n\n\nagent = claude {\n  model: "x"\n}\n', { file: 'first.ww' }).ast;
    const second = parse('b = claude {}', { file: 'second.ww' }).ast;
    expect(first.declarations[0]?.name.location).toEqual({ file: 'first.ww', line: 4, column: 1, offset: 8, endLine: 4, endColumn: 6, endOffset: 13 });
    expect(first.declarations[0]?.body.entries[0]?.value.location).toMatchObject({ file: 'first.ww', line: 5, column: 10 });
    expect(first.file).toBe('first.ww');
    expect(second.declarations[0]?.name.location).toMatchObject({ file: 'second.ww', line: 1, column: 1, endOffset: 1 });
    // Only the node's fields are keys: nothing of the parse shows in a copy or in JSON.
    expect(Object.keys(first.declarations[0]?.name ?? {})).toEqual(['type', 'start', 'end', 'name', 'quoted']);
  });

  it('counts columns in UTF-16 code units', () => {
    const { ast } = parse('a = claude { p: "😀", q: 1 }', { file: 'main.ww' });
    expect(ast.declarations[0]?.body.entries[1]?.key.location.column).toBe(23);
  });
});

describe('the spec examples', () => {
  it('parses and validates both examples of ww-language.md', () => {
    const classic = `# classic form
mem = memory short_term {}

language_model = llm openai {
    model: "gpt-4o-mini"
    memory: mem
    api_key: $OPENAI_API_KEY
}

in = input command_line {
    to: language_model
}
`;
    const short = `// short form with deployment settings
agent = claude {
    model = "claude-sonnet-4-5"
    streaming = true
    pipes = ["pipes.ts::contextEnhancer"]
    hooks = [{ event = "agent.*", function = "hooks.ts::log" }]
    deployment = {
        mode = "container"
        scaling = { min_instances = 1, max_instances = 5, scale_metric = "queue_depth", scale_threshold = 5 }
        resources = { cpu = "500m", memory = "1Gi" }
    }
}
input = cli { to = agent }
output = cli {}
bus = redis { url = "\${REDIS_URL:-redis://127.0.0.1:6379}" }
`;
    expect(check(classic).diagnostics).toEqual([]);
    expect(check(short).diagnostics).toEqual([]);
  });
});
