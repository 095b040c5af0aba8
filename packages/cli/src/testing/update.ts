/**
 * `woodwork test --update`: writes what each turn did as its expectations — the reply exactly, the
 * tool calls with their inputs, the agent's steps, the error when the turn failed, and the events
 * when the scenario already lists events — into the scenario file, editing the YAML document so
 * comments, order and the rest of the file stay as the author wrote them. `reply_contains` and
 * `reply_matches` are the author's own looser claims and are never rewritten.
 *
 * An expectation that already holds is left as written, one the author wrote in flow style
 * (`[a, b]`) is rewritten in flow style, and the lines the update did not change keep the author's
 * spacing: `yaml` prints every flow collection as `[ a ]` / `{ a: 1 }`, so a line that differs from
 * the source only in such spacing is put back as it was — checked by parsing the result, which must
 * mean exactly what the edited document does.
 */
import { writeFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { diffArrays } from 'diff';
import { isCollection, isMap, isNode, parse, type Document, type YAMLMap } from 'yaml';
import type { ScenarioOutcome } from './runner.js';

/** Rewrites the scenario file of an outcome; returns false when nothing changed. */
export async function updateExpectations(outcome: ScenarioOutcome): Promise<boolean> {
  const { document, source, file } = outcome.scenario;
  for (const [index, turn] of outcome.turns.entries()) {
    const path = ['turns', index, 'expect'];
    const existing = document.getIn(path, true);
    if (!isMap(existing)) document.setIn(path, document.createNode({}));
    const expect = document.getIn(path, true) as YAMLMap;
    const set = (key: string, value: unknown) => {
      const current = expect.get(key, true);
      if (current !== undefined && isDeepStrictEqual(isNode(current) ? current.toJS(document) : current, value)) return;
      const node = document.createNode(value);
      // A list the author wrote in flow style (`events: [a, b]`) stays in flow style.
      if (isCollection(current) && current.flow && isCollection(node)) node.flow = true;
      expect.set(key, node);
    };
    set('reply', turn.reply);
    if (turn.toolCalls.length > 0 || expect.has('tool_calls')) set('tool_calls', turn.toolCalls.map((call) => ({ tool: call.tool, input: call.input })));
    if (turn.steps > 0 || expect.has('steps')) set('steps', turn.steps);
    if (expect.has('events')) set('events', [...turn.events]);
    if (turn.ok) expect.delete('error');
    else set('error', turn.errors[0]?.code ?? 'error');
  }
  const laidOut = keepLayout(source, document.toString({ lineWidth: 0 }), document);
  // `yaml` writes \n; a file written with \r\n (Windows) keeps them, on the new lines too.
  const text = source.includes('\r\n') ? laidOut.replace(/\r?\n/g, '\r\n') : laidOut;
  if (text === source) return false;
  await writeFile(file, text);
  return true;
}

/**
 * `text` with each line that differs from its source line only in spacing after the indentation put
 * back as written — all of them when the result still means what `document` does, else each one
 * that keeps it so (a reply whose only change is a space is such a line, and must stay changed).
 */
export function keepLayout(source: string, text: string, document: Document): string {
  const before = source.split('\n');
  const lines = text.split('\n');
  const indentation = (line: string) => /^\s*/.exec(line)![0];
  const same = (a: string, b: string) => indentation(a) === indentation(b) && a.replace(/\s+/g, '') === b.replace(/\s+/g, '');
  const candidates: { readonly at: number; readonly line: string }[] = [];
  let old = 0;
  let now = 0;
  for (const part of diffArrays(before, lines, { comparator: same })) {
    const count = part.count ?? part.value.length;
    if (!part.added && !part.removed) {
      for (let offset = 0; offset < count; offset++) {
        if (before[old + offset] !== lines[now + offset]) candidates.push({ at: now + offset, line: before[old + offset]! });
      }
    }
    if (!part.added) old += count;
    if (!part.removed) now += count;
  }
  const meant = document.toJS() as unknown;
  const means = (candidate: readonly string[]) => {
    try {
      return isDeepStrictEqual(parse(candidate.join('\n')), meant);
    } catch {
      return false;
    }
  };
  const all = [...lines];
  for (const { at, line } of candidates) all[at] = line;
  if (means(all)) return all.join('\n');
  for (const { at, line } of candidates) {
    const kept = lines[at]!;
    lines[at] = line;
    if (!means(lines)) lines[at] = kept;
  }
  return lines.join('\n');
}
