/**
 * Scenario files (`*.scenario.yaml`) for `woodwork test`: reading one, checking it against its JSON
 * Schema (`schema/scenario.schema.json`, which editors use too) and turning every problem into a
 * diagnostic with the file, line and column, so a mistake in a scenario prints like a mistake in a
 * `.ww` file. The YAML document is kept, so `--update` can rewrite expectations and keep comments.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type Pair, type YAMLError } from 'yaml';
import { didYouMean } from '@woodwork/parser';
import schema from '../../schema/scenario.schema.json' with { type: 'json' };

export const SCENARIO_SUFFIX = '.scenario.yaml';

/** A problem in a scenario file, with where it is. */
export interface ScenarioProblem {
  readonly code: 'WW_TEST_SCENARIO';
  readonly message: string;
  readonly hint?: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly endLine: number;
  readonly endColumn: number;
}

export interface ToolAnswer {
  readonly input?: Readonly<Record<string, unknown>>;
  readonly output?: unknown;
  readonly error?: string;
}

export interface ModelStep {
  readonly text?: string | readonly string[];
  readonly tool_calls?: readonly { readonly name: string; readonly arguments?: Readonly<Record<string, unknown>> }[];
  readonly usage?: { readonly input_tokens: number; readonly output_tokens: number };
  readonly delay_ms?: number;
  readonly chunk_delay_ms?: number;
  readonly status?: number;
  readonly message?: string;
}

export interface TurnExpectations {
  readonly reply?: string;
  readonly reply_contains?: string | readonly string[];
  readonly reply_matches?: string | readonly string[];
  readonly tool_calls?: readonly { readonly tool: string; readonly input?: unknown }[];
  readonly events?: readonly string[];
  readonly steps?: number;
  readonly error?: string;
}

export interface ScenarioTurn {
  readonly input: unknown;
  readonly model?: readonly ModelStep[] | Readonly<Record<string, readonly ModelStep[]>>;
  readonly expect?: TurnExpectations;
}

export interface Scenario {
  /** Absolute path of the scenario file. */
  readonly file: string;
  readonly name: string;
  /** Absolute path of the `.ww` file it runs. */
  readonly wwFile: string;
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly tools: Readonly<Record<string, readonly ToolAnswer[]>>;
  readonly turns: readonly ScenarioTurn[];
  readonly source: string;
  /** The parsed YAML, comments and all, for `--update`. */
  readonly document: Document;
  /** Where a value of the file is: `[“turns”, 0, “expect”, “reply”]` → its place (the nearest existing parent's when missing). */
  locate(at: readonly (string | number)[]): Omit<ScenarioProblem, 'code' | 'message' | 'hint'>;
}

export type LoadScenarioResult = { readonly ok: true; readonly scenario: Scenario } | { readonly ok: false; readonly problems: readonly ScenarioProblem[]; readonly source: string };

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
const validate = ajv.compile(schema);

export const DEFAULT_TIMEOUT_MS = 30_000;

export async function loadScenario(file: string): Promise<LoadScenarioResult> {
  let source: string;
  try {
    source = await readFile(file, 'utf8');
  } catch (error) {
    const at = { file, line: 1, column: 1, endLine: 1, endColumn: 1 };
    return { ok: false, source: '', problems: [{ code: 'WW_TEST_SCENARIO', message: `cannot read the scenario: ${(error as Error).message}`, ...at }] };
  }
  const lineCounter = new LineCounter();
  const document = parseDocument(source, { lineCounter, prettyErrors: false });
  const place = (start: number, end: number) => {
    const from = lineCounter.linePos(start);
    const to = lineCounter.linePos(Math.max(start, end));
    return { file, line: from.line, column: from.col, endLine: to.line, endColumn: to.line === from.line && to.col <= from.col ? from.col + 1 : to.col };
  };
  if (document.errors.length > 0) {
    return {
      ok: false,
      source,
      problems: document.errors.map((error) => yamlProblem(error, document, place)),
    };
  }
  const locate = (at: readonly (string | number)[]) => {
    let node: unknown = document.contents;
    let found = node as Node | null;
    for (const key of at) {
      const next = isMap(node) || isSeq(node) ? (node as { get(key: unknown, keepScalar: true): unknown }).get(key, true) : undefined;
      if (next === undefined || next === null) break;
      node = next;
      found = next as Node;
    }
    const range = found?.range;
    return range ? place(range[0], range[1]) : { file, line: 1, column: 1, endLine: 1, endColumn: 2 };
  };
  const data = document.toJS() as unknown;
  if (!validate(data)) {
    return { ok: false, source, problems: schemaProblems(validate.errors ?? [], document, locate, place) };
  }
  const raw = data as {
    name?: string;
    file?: string;
    env?: Record<string, string | number | boolean>;
    timeout_ms?: number;
    tools?: Record<string, ToolAnswer | ToolAnswer[]>;
    turns: ScenarioTurn[];
  };
  const problems: ScenarioProblem[] = [];
  // The schema cannot say whether a pattern compiles.
  raw.turns.forEach((turn, index) => {
    const patterns = turn.expect?.reply_matches;
    for (const [position, pattern] of (patterns === undefined ? [] : typeof patterns === 'string' ? [patterns] : patterns).entries()) {
      try {
        toRegExp(pattern);
      } catch (error) {
        const at = ['turns', index, 'expect', 'reply_matches', ...(typeof patterns === 'string' ? [] : [position])];
        problems.push({ code: 'WW_TEST_SCENARIO', message: `\`${pattern}\` is not a regular expression: ${(error as Error).message}`, hint: 'JavaScript syntax; write /…/i for flags', ...locate(at) });
      }
    }
  });
  if (problems.length > 0) return { ok: false, source, problems };
  const tools: Record<string, readonly ToolAnswer[]> = {};
  for (const [name, answer] of Object.entries(raw.tools ?? {})) tools[name] = Array.isArray(answer) ? answer : [answer];
  const scenario: Scenario = {
    file,
    name: raw.name ?? path.basename(file).slice(0, -SCENARIO_SUFFIX.length),
    wwFile: path.resolve(path.dirname(file), raw.file ?? 'main.ww'),
    env: Object.fromEntries(Object.entries(raw.env ?? {}).map(([key, value]) => [key, String(value)])),
    timeoutMs: raw.timeout_ms ?? DEFAULT_TIMEOUT_MS,
    tools,
    turns: raw.turns,
    source,
    document,
    locate,
  };
  return { ok: true, scenario };
}

/**
 * A YAML syntax error as a problem. A string never closed is reported where it opens — `yaml` says
 * so where the file ends, past every line the string swallowed.
 */
function yamlProblem(error: YAMLError, document: Document, place: (start: number, end: number) => Omit<ScenarioProblem, 'code' | 'message' | 'hint'>): ScenarioProblem {
  const unclosed = error.code === 'MISSING_CHAR' ? /^Missing closing (["'])quote/.exec(error.message) : null;
  if (unclosed) {
    const quote = unclosed[1]!;
    let opening: number | undefined;
    visit(document, {
      Scalar(_key, node) {
        if (node.range && node.range[1] === error.pos[0] && node.type === (quote === '"' ? 'QUOTE_DOUBLE' : 'QUOTE_SINGLE')) opening = node.range[0];
      },
    });
    if (opening !== undefined) {
      return {
        code: 'WW_TEST_SCENARIO',
        message: `not valid YAML: this ${quote}…${quote} string is never closed`,
        hint: `close it with ${quote} where it ends (everything after it was read as part of the string)`,
        ...place(opening, opening + 1),
      };
    }
  }
  return { code: 'WW_TEST_SCENARIO', message: `not valid YAML: ${error.message.split('\n')[0]}`, ...place(error.pos[0], error.pos[1]) };
}

/** `"/x/i"` → /x/i; anything else is the pattern itself. */
export function toRegExp(pattern: string): RegExp {
  const literal = /^\/(.*)\/([dgimsuyv]*)$/s.exec(pattern);
  return literal ? new RegExp(literal[1]!, literal[2]) : new RegExp(pattern);
}

/** Ajv's errors, one per place (its `oneOf` noise dropped when a more precise error says the same). */
function schemaProblems(
  errors: readonly ErrorObject[],
  document: Document,
  locate: Scenario['locate'],
  place: (start: number, end: number) => Omit<ScenarioProblem, 'code' | 'message' | 'hint'>,
): ScenarioProblem[] {
  const branching = errors.filter((error) => error.keyword !== 'oneOf' && error.keyword !== 'if');
  // A value of the right shape for one branch (a list of answers) with a mistake inside also fails
  // the other branch's type (`must be object`): the mistake inside is the one to report.
  const precise = branching.filter((error) => error.keyword !== 'type' || !branching.some((other) => other.instancePath.startsWith(`${error.instancePath}/`)));
  // A value that fits none of a oneOf's branches reports every branch; keep the first error per place.
  const seen = new Set<string>();
  const problems: ScenarioProblem[] = [];
  for (const error of precise.length > 0 ? precise : errors) {
    const at = error.instancePath.split('/').slice(1).map((part) => (/^\d+$/.test(part) ? Number(part) : part.replace(/~1/g, '/').replace(/~0/g, '~')));
    const where = at.length === 0 ? 'the scenario' : `\`${at.join('.')}\``;
    let message: string;
    let location = locate(at);
    let hint: string | undefined;
    if (error.keyword === 'additionalProperties') {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      message = `${where} has no key \`${key}\``;
      const keyNode = findKey(document, at, key);
      if (keyNode?.range) location = place(keyNode.range[0], keyNode.range[1]);
      const keys = Object.keys(propertiesAt(error.parentSchema) ?? {});
      const suggestion = didYouMean(key, keys);
      hint = `${suggestion === undefined ? '' : `${suggestion} `}its keys are ${keys.map((name) => `\`${name}\``).join(', ') || 'listed in scenario.schema.json'}${toolCallSpelling(at, key)}`;
    } else if (error.keyword === 'required') {
      message = `${where} needs \`${(error.params as { missingProperty: string }).missingProperty}\``;
    } else {
      message = `${where} ${error.message ?? 'is not valid'}`;
    }
    const key = `${location.line}:${location.column}:${error.keyword === 'additionalProperties' ? message : ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push({ code: 'WW_TEST_SCENARIO', message, ...(hint === undefined ? {} : { hint }), ...location });
  }
  return problems;
}

/** The two spellings of a tool call, which are easy to swap: the model's answer and the expectation. */
function toolCallSpelling(at: readonly (string | number)[], key: string): string {
  const inside = at.includes('tool_calls');
  if (inside && at.includes('model') && (key === 'tool' || key === 'input')) {
    return ' (a tool call the model answers is `{ name, arguments }`, as the provider sends it; `{ tool, input }` is how `expect.tool_calls` writes one)';
  }
  if (inside && at.includes('expect') && (key === 'name' || key === 'arguments')) {
    return ' (a tool call expected is `{ tool, input }`; `{ name, arguments }` is how `model` writes the answer that makes it)';
  }
  return '';
}

function propertiesAt(parentSchema: unknown): Record<string, unknown> | undefined {
  return (parentSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
}

function findKey(document: Document, at: readonly (string | number)[], key: string): Node | undefined {
  const parent = at.length === 0 ? document.contents : document.getIn(at, true);
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((item: Pair) => isScalar(item.key) && item.key.value === key);
  return pair && isScalar(pair.key) ? pair.key : undefined;
}
