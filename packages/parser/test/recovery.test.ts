// Syntax problems: each is reported with its code at the right place, and parsing carries on so
// that every problem in a file is reported at once.
import { describe, expect, it } from 'vitest';
import { parse } from '../src/index.js';
import { at } from './support.js';

function syntax(source: string) {
  const parsed = parse(source, { file: 'main.ww' });
  return {
    diagnostics: parsed.diagnostics,
    summary: parsed.diagnostics.map((diagnostic) => `${diagnostic.code} ${at(diagnostic)}`),
    names: parsed.ast.declarations.map((declaration) => declaration.name.name),
  };
}

describe('unterminated strings and blocks point where they opened', () => {
  it('WW102: a string without its closing quote, at the opening quote', () => {
    const result = syntax('a = claude {\n  model: "gpt-4o\n  temperature: 1\n}\nb = cli {}');
    expect(result.summary).toEqual(['WW102 2:10']);
    expect(result.diagnostics[0]).toMatchObject({ endLine: 2, endColumn: 11, message: expect.stringContaining('never closed') });
    expect(result.names).toEqual(['a', 'b']);
  });

  it('WW102: a single-quoted string', () => {
    expect(syntax("a = claude { model: 'x }").summary).toEqual(['WW102 1:21']);
  });

  it('WW102: a """ string that runs to the end of the file, reported once', () => {
    const result = syntax('a = claude {\n  prompt: """never closed\n\nb = cli {}\n');
    expect(result.summary).toEqual(['WW102 2:11']);
  });

  it('WW103: a block without its `}`, at the `{`, ended by the next declaration', () => {
    const result = syntax('a = claude {\n  model: "x"\n\nb = cli {\n}\n');
    expect(result.summary).toEqual(['WW103 1:12']);
    expect(result.diagnostics[0]?.hint).toContain('a new declaration starts at line 4');
    expect(result.names).toEqual(['a', 'b']);
  });

  it('WW103: an entry whose comment holds `{` is not taken for the next declaration', () => {
    const result = syntax('a = claude {\n  model: "x"\n  k = v # w {\nb = cli {}\n');
    expect(result.summary).toEqual(['WW103 1:12']);
    expect(result.diagnostics[0]?.hint).toContain('a new declaration starts at line 4');
    expect(result.names).toEqual(['a', 'b']);
  });

  it('WW103: a block without its `}` at the end of the file', () => {
    const result = syntax('a = claude {\n  deployment = {\n    mode = "local"\n  }\n');
    expect(result.summary).toEqual(['WW103 1:12']);
    expect(result.diagnostics[0]?.hint).toContain('end of the file');
  });

  it('WW103: a nested block whose `}` closes the outer one reports the outer `{`', () => {
    expect(syntax('a = claude {\n  m: {\n    b: 1\n}\nz = cli {}').summary).toEqual(['WW103 1:12']);
  });

  it('WW104: a list without its `]`, ended by the next entry, with no extra error for the entry', () => {
    const result = syntax('a = agent llm {\n  tools: [x, y\n  model: m\n}');
    expect(result.summary).toEqual(['WW104 2:10']);
    expect(result.diagnostics[0]?.hint).toContain('the next entry starts at line 3');
  });

  it('WW104: a list without its `]`, ended by the `}` of its block', () => {
    expect(syntax('a = agent llm { tools: [x, y }\nb = cli {}').summary).toEqual(['WW104 1:24']);
  });

  it('WW103 inside a list: a map without its `}` ended by the `]`', () => {
    expect(syntax('a = claude { hooks: [{ event: "x", function: "h.ts::f" ], k: 1 }').summary).toEqual(['WW103 1:22']);
  });
});

describe('entries', () => {
  it('WW101: a key without a value', () => {
    const result = syntax('a = claude {\n  model:\n  temperature: 1\n}');
    expect(result.summary).toEqual(['WW101 2:9']);
    expect(result.diagnostics[0]?.message).toBe('expected a value for `model`');
  });

  it('WW101: a key without `:` or `=`, still read with its value', () => {
    const parsed = parse('a = claude {\n  model "x"\n}', { file: 'main.ww' });
    expect(parsed.diagnostics.map((d) => `${d.code} ${at(d)} ${d.message}`)).toEqual(['WW101 2:8 expected `:` or `=` after the key `model`']);
    expect(parsed.ast.declarations[0]?.body.entries[0]?.value).toMatchObject({ type: 'String', value: 'x' });
  });

  it('WW101: junk after a value, and an entry that is not one', () => {
    expect(syntax('a = claude {\n  k: 1 2\n  @@: 3\n  ok: 4\n}').summary).toEqual(['WW101 2:8', 'WW101 3:3']);
  });

  it('WW107: two entries on a line without a separator', () => {
    const result = syntax('a = claude { model: "x" temperature: 1 }');
    expect(result.summary).toEqual(['WW107 1:25']);
  });

  it('WW107: two list items without a separator', () => {
    expect(syntax('a = agent llm { tools: [x y] }').summary).toEqual(['WW107 1:27']);
  });

  it('WW101: a value that is not one inside a list, the rest of the list kept', () => {
    const parsed = parse('a = agent llm { tools: [x, @, y] }', { file: 'main.ww' });
    expect(parsed.diagnostics.map((d) => `${d.code} ${at(d)}`)).toEqual(['WW101 1:28']);
    const list = parsed.ast.declarations[0]?.body.entries[0]?.value;
    expect(list?.type === 'List' ? list.items.length : 0).toBe(2);
  });
});

describe('lexical problems', () => {
  it('WW105: an unknown escape is a warning and keeps the backslash', () => {
    const parsed = parse(String.raw`a = claude { path: "C:\data" }`, { file: 'main.ww' });
    expect(parsed.diagnostics).toMatchObject([{ code: 'WW105', severity: 'warning', line: 1, column: 23 }]);
    expect(parsed.ast.declarations[0]?.body.entries[0]?.value).toMatchObject({ value: String.raw`C:\data` });
  });

  it('WW113: `$NAME` inside a string is text, and a warning says how to write the variable', () => {
    const source = 'a = api web { headers = { Authorization: "Bearer $API_KEY", Price: "$5 or $x", Path: """$HOME/x""", Text: "\\$KEEP" } }';
    const parsed = parse(source, { file: 'main.ww' });
    expect(parsed.diagnostics.map((d) => `${d.code} ${at(d)}`)).toEqual([`WW113 1:${source.indexOf('$API_KEY') + 1}`, `WW113 1:${source.indexOf('$HOME') + 1}`]);
    expect(parsed.diagnostics[0]).toMatchObject({ severity: 'warning', message: expect.stringContaining('`$API_KEY` inside a string is text'), hint: expect.stringContaining('${API_KEY}') });
    const headers = parsed.ast.declarations[0]?.body.entries[0]?.value;
    const values = headers?.type === 'Map' ? headers.entries.map((entry) => (entry.value as { value?: unknown }).value) : [];
    expect(values).toEqual(['Bearer $API_KEY', '$5 or $x', '$HOME/x', '$KEEP']);
  });

  it('WW106: an invalid unicode escape', () => {
    expect(syntax(String.raw`a = claude { s: "\u{110000} \u{D800} \u{zz} \u{12" }`).summary).toEqual(['WW106 1:18', 'WW106 1:29', 'WW106 1:38', 'WW106 1:45']);
  });

  it('WW108: malformed environment references', () => {
    expect(syntax('a = claude { x: ${1X}, y: $, z: ${A-b} }').summary).toEqual(['WW108 1:17', 'WW108 1:27', 'WW108 1:33']);
    expect(syntax('a = claude { x: ${OPEN\n}').summary).toEqual(['WW108 1:17']);
    expect(syntax('a = claude { x: "${OPEN" }').summary).toEqual(['WW108 1:18']);
  });

  it('WW111: invalid and too large numbers', () => {
    expect(syntax('a = claude { a: 1__0, b: 0x1F, c: 1., d: 1e999, e: 10abc }').summary).toEqual([
      'WW111 1:17',
      'WW111 1:26',
      'WW111 1:35',
      'WW111 1:42',
      'WW111 1:52',
    ]);
  });

  it('WW112: nesting too deep is reported once and the rest skipped', () => {
    const result = syntax(`a = claude { k: ${'['.repeat(200)} }\nb = cli {}`);
    expect(result.summary).toEqual(['WW112 1:80']);
  });
});

describe('top level', () => {
  it('WW109: a `}` or `]` with nothing open', () => {
    expect(syntax('a = cli {}\n}\n]\nb = cli {}').summary).toEqual(['WW109 2:1', 'WW109 3:1']);
  });

  it('WW110: malformed declaration headers, each with its own message', () => {
    const result = syntax('a llm openai {\n}\nb = {\n}\nc = llm openai\nd = x y z {}\n7up = cli {}\ne = llm "openai" {}\n');
    expect(result.diagnostics.map((d) => `${d.code} ${at(d)} ${d.message}`)).toEqual([
      'WW110 1:2 expected `=` after the name `a`',
      'WW110 3:4 expected a component type after `b =`',
      'WW110 5:15 expected `{` after `c = llm openai`',
      'WW110 6:5 a declaration has at most two words before its block (kind and type), found 3',
      'WW110 7:1 expected a declaration such as `name = kind type { … }`, found `7up`',
      'WW110 8:9 expected a component kind or type, found `"openai"`',
    ]);
    // `a` lacks only its `=`: it is still declared, so references to it do not fail too.
    expect(result.names).toEqual(['a']);
  });

  it('WW110: an entry outside any block, after a block closed too early', () => {
    const result = syntax('a = claude {\n}\n  model: "x"\n}\n');
    expect(result.summary).toEqual(['WW110 3:3', 'WW109 4:1']);
    expect(result.diagnostics[0]?.message).toBe('`model: …` is an entry, but it is outside any block');
  });

  it('WW110: a declaration started but not written (`b =`) asks for its type, not for a block around it', () => {
    const result = syntax('a = claude {}\nb = \n');
    expect(result.summary).toEqual(['WW110 2:4']);
    expect(result.diagnostics[0]?.message).toBe('expected a component type after `b =`');
    expect(result.diagnostics[0]?.hint).toBe('write `b = kind type { … }` (two words) or `b = type { … }` (one word)');
  });

  it('WW110: a block without a header', () => {
    expect(syntax('{ k: 1 }').summary).toEqual(['WW110 1:1']);
  });
});

describe('recovery', () => {
  it('reports every problem in a file, not only the first, and keeps the good declarations', () => {
    const source = [
      'ok1 = claude { model: "x" }',
      'bad1 = claude { model: "unterminated }',
      'ok2 = cli {}',
      'bad2 = claude { temperature: 1__0 }',
      'bad3 llm openai { model: @ }',
      'ok3 = claude {',
      '  tools: [a b]',
      '}',
      'bad4 = claude {',
    ].join('\n');
    const result = syntax(source);
    expect(result.summary).toEqual(['WW102 2:24', 'WW111 4:30', 'WW110 5:5', 'WW101 5:26', 'WW107 7:13', 'WW103 9:15']);
    expect(result.names).toEqual(['ok1', 'bad1', 'ok2', 'bad2', 'bad3', 'ok3', 'bad4']);
  });

  it('reports a problem only once, even where the grammar reads a token twice', () => {
    expect(syntax('a = claude { "k${X}": 1, "": 2 }').summary).toEqual(['WW101 1:14', 'WW101 1:26']);
  });

  it('ends a string that lacks its closing quote before the brackets that close its line', () => {
    const result = syntax('}\na = claude { k: "x }\n]');
    expect(result.summary).toEqual(['WW109 1:1', 'WW102 2:17', 'WW109 3:1']);
    const parsed = parse('a = agent llm { tools: ["x, y] }', { file: 'main.ww' });
    expect(parsed.diagnostics.map((d) => d.code)).toEqual(['WW102']);
    expect(parsed.ast.declarations[0]?.body.entries[0]?.value).toMatchObject({ type: 'List', closed: true });
  });

  it('keeps brackets inside a closed string', () => {
    expect(syntax('a = claude { k: "a }" }\nb = claude { k: "[x]" }').summary).toEqual([]);
  });
});
