// The TextMate grammar (syntaxes/ww.tmLanguage.json), run by the engine VS Code and Shiki use
// (vscode-textmate on vscode-oniguruma), against every .ww file in the repository. The parser is
// the oracle: each name, key, value and comment it finds must carry the scope the grammar promises.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vscodeOniguruma from 'vscode-oniguruma';
import vscodeTextmate from 'vscode-textmate';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, type FileNode, type ValueNode } from '../src/index.js';

const { loadWASM, OnigScanner, OnigString } = vscodeOniguruma;
const { INITIAL, Registry, parseRawGrammar } = vscodeTextmate;
type IGrammar = vscodeTextmate.IGrammar;

const here = path.dirname(fileURLToPath(import.meta.url));
const grammarFile = path.resolve(here, '../syntaxes/ww.tmLanguage.json');
const examples = path.resolve(here, '../../../examples');
const corpus = [
  ...readdirSync(examples, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.ww')).map((name) => path.join(examples, name)),
  ...['valid', 'invalid'].flatMap((folder) =>
    readdirSync(path.join(here, 'fixtures', folder))
      .filter((name) => name.endsWith('.ww'))
      .map((name) => path.join(here, 'fixtures', folder, name)),
  ),
];

let grammar: IGrammar;

beforeAll(async () => {
  const wasm = readFileSync(createRequire(import.meta.url).resolve('vscode-oniguruma/release/onig.wasm'));
  await loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new Registry({
    onigLib: Promise.resolve({ createOnigScanner: (patterns) => new OnigScanner(patterns), createOnigString: (text) => new OnigString(text) }),
    loadGrammar: async (scopeName) =>
      scopeName === 'source.ww' ? parseRawGrammar(readFileSync(grammarFile, 'utf8'), grammarFile) : null,
  });
  const loaded = await registry.loadGrammar('source.ww');
  if (!loaded) throw new Error('the grammar did not load');
  grammar = loaded;
});

/** The scopes of every character of `source`, by offset. */
function tokenize(source: string): string[][] {
  const scopes: string[][] = [];
  let state = INITIAL;
  for (const line of source.split('\n')) {
    const result = grammar.tokenizeLine(line, state);
    for (const token of result.tokens) {
      for (let index = token.startIndex; index < Math.min(token.endIndex, line.length); index += 1) scopes.push(token.scopes);
    }
    scopes.push(['source.ww']); // the newline
    state = result.ruleStack;
  }
  return scopes;
}

function scopeAt(scopes: string[][], offset: number): string {
  return scopes[offset]!.join(' ');
}

/** Every place the parser found something, with the scope the grammar must give it. */
function expectations(ast: FileNode): [offset: number, scope: string, what: string][] {
  const found: [number, string, string][] = [];
  const value = (node: ValueNode): void => {
    switch (node.type) {
      case 'String':
        found.push([node.start, node.quote === '"""' ? 'string.quoted.triple' : node.quote === '"' ? 'string.quoted.double' : 'string.quoted.single', 'a string']);
        break;
      case 'Template':
        found.push([node.start, 'string.quoted', 'a string with a variable']);
        for (const part of node.parts) if (typeof part !== 'string') found.push([part.start + 2, 'variable.other.env', `\${${part.name}} in a string`]);
        break;
      case 'EnvReference':
        found.push([node.start + (node.end - node.start > node.name.length + 1 ? 2 : 1), 'variable.other.env', `$${node.name}`]);
        break;
      case 'Number':
        found.push([node.start, 'constant.numeric', node.raw]);
        break;
      case 'Boolean':
        found.push([node.start, 'constant.language.boolean', node.raw]);
        break;
      case 'Null':
        found.push([node.start, 'constant.language.null', node.raw]);
        break;
      case 'Reference':
        found.push([node.start, 'variable.other.reference', `the reference ${node.name}`]);
        break;
      case 'List':
        node.items.forEach(value);
        break;
      case 'Map':
        for (const entry of node.entries) {
          found.push([entry.key.start, 'support.type.property-name', `the key ${entry.key.name}`]);
          value(entry.value);
        }
        break;
      case 'Invalid':
        break;
    }
  };
  for (const declaration of ast.declarations) {
    found.push([declaration.name.start, 'entity.name.section.component', `the name ${declaration.name.name}`]);
    if (declaration.kind) found.push([declaration.kind.start, 'storage.type.kind', `the kind ${declaration.kind.name}`]);
    found.push([declaration.componentType.start, 'entity.name.type', `the type ${declaration.componentType.name}`]);
    value(declaration.body);
  }
  return found;
}

/** Offsets of comments: `#` or `//` outside the strings the parser found. */
function commentStarts(source: string, ast: FileNode): number[] {
  const strings: [number, number][] = [];
  const collect = (node: ValueNode): void => {
    if (node.type === 'String' || node.type === 'Template') strings.push([node.start, node.end]);
    if (node.type === 'List') node.items.forEach(collect);
    if (node.type === 'Map') for (const entry of node.entries) [entry.key.quoted ? entry.key : null, entry.value].forEach((part) => part && collect(part as ValueNode));
  };
  for (const declaration of ast.declarations) collect(declaration.body);
  const starts: number[] = [];
  for (let index = 0; index < source.length; index += 1) {
    const inside = strings.find(([start, end]) => index >= start && index < end);
    if (inside) {
      index = inside[1] - 1;
    } else if (source[index] === '#' || source.startsWith('//', index)) {
      starts.push(index);
      const end = source.indexOf('\n', index);
      index = end === -1 ? source.length : end;
    }
  }
  return starts;
}

describe('the TextMate grammar', () => {
  it.each(corpus.map((file) => [path.relative(path.resolve(here, '../../..'), file), file]))('%s: every token has its scope', (_name, file) => {
    const source = readFileSync(file, 'utf8');
    const scopes = tokenize(source);
    const { ast, diagnostics } = parse(source);
    // Only a file without syntax errors can serve as its own oracle; the others must still
    // tokenize, and their comments be comments.
    const checked = diagnostics.some((diagnostic) => diagnostic.severity === 'error') ? [] : expectations(ast);
    for (const [offset, scope, what] of checked) expect(scopeAt(scopes, offset), `${what} at offset ${offset}`).toContain(scope);
    const comments = diagnostics.some((diagnostic) => diagnostic.severity === 'error')
      ? [...source.matchAll(/^[ \t]*(#|\/\/)/gm)].map((match) => match.index + match[0].length - match[1]!.length)
      : commentStarts(source, ast);
    for (const offset of comments) {
      const lineEnd = source.indexOf('\n', offset) === -1 ? source.length : source.indexOf('\n', offset);
      for (let index = offset; index < lineEnd; index += 1) expect(scopeAt(scopes, index), `the comment at offset ${offset}`).toContain('comment.line');
    }
  });

  it('scopes both dialects\' headers, keys and separators', () => {
    const source = 'm = llm openai { model: "x" }\nagent = claude { streaming = true; tools = [m] }\n';
    const scopes = tokenize(source);
    const at = (text: string, from = 0) => scopeAt(scopes, source.indexOf(text, from));
    expect(at('m =')).toContain('entity.name.section.component.ww');
    expect(at('llm')).toContain('storage.type.kind.ww');
    expect(at('openai')).toContain('entity.name.type.ww');
    expect(at('claude')).toContain('entity.name.type.ww');
    expect(at('claude')).not.toContain('storage.type');
    expect(at(': "x"')).toContain('punctuation.separator.key-value.ww');
    expect(at('streaming')).toContain('support.type.property-name.ww');
    expect(at('true')).toContain('constant.language.boolean.ww');
    expect(at(';')).toContain('punctuation.separator.semicolon.ww');
    expect(at('m]')).toContain('variable.other.reference.ww');

    // A header the parser accepts over several lines still gets its name, kind and type.
    const spread = 'b =\n  llm openai\n{\n  model: "x"\n}\n';
    const spreadScopes = tokenize(spread);
    expect(scopeAt(spreadScopes, 0)).toContain('entity.name.section.component.ww');
    expect(scopeAt(spreadScopes, spread.indexOf('llm'))).toContain('storage.type.kind.ww');
    expect(scopeAt(spreadScopes, spread.indexOf('openai'))).toContain('entity.name.type.ww');
    expect(scopeAt(spreadScopes, spread.indexOf('model'))).toContain('support.type.property-name.ww');
  });

  it('scopes ${VAR:-default} inside strings, $NAME, escapes and triple-quoted strings', () => {
    const source = 'a = bus redis {\n  url = "redis://${HOST:-localhost}:6379 $notavar \\n"\n  key: $API_KEY\n  prompt: """\nQuote "this" # not a comment\n${X}\n"""\n  n: -1_000.5e3 # a comment\n}\n';
    const scopes = tokenize(source);
    const at = (text: string) => scopeAt(scopes, source.indexOf(text));
    expect(at('HOST')).toContain('variable.other.env.ww');
    expect(at('HOST')).toContain('string.quoted.double.ww');
    expect(at(':-')).toContain('keyword.operator.default.ww');
    expect(at('localhost')).toContain('string.unquoted.default.ww');
    expect(at('$notavar')).not.toContain('variable.other');
    expect(at('\\n')).toContain('constant.character.escape.ww');
    expect(at('API_KEY')).toContain('variable.other.env.ww');
    expect(at('# not')).toContain('string.quoted.triple.ww');
    expect(at('# not')).not.toContain('comment');
    expect(at('X}')).toContain('variable.other.env.ww');
    expect(at('-1_000')).toContain('constant.numeric.ww');
    expect(at('# a comment')).toContain('comment.line.number-sign.ww');
  });
});
