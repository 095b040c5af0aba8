/**
 * `woodwork test --update`: writes what each turn did as its expectations — the reply exactly, the
 * tool calls with their inputs, the agent's steps, the error when the turn failed, and the events
 * when the scenario already lists events — into the scenario file, editing the YAML document so
 * comments, order and the rest of the file stay as the author wrote them. `reply_contains` and
 * `reply_matches` are the author's own looser claims and are never rewritten.
 */
import { writeFile } from 'node:fs/promises';
import { isMap, type YAMLMap } from 'yaml';
import type { ScenarioOutcome } from './runner.js';

/** Rewrites the scenario file of an outcome; returns false when nothing changed. */
export async function updateExpectations(outcome: ScenarioOutcome): Promise<boolean> {
  const { document, source, file } = outcome.scenario;
  for (const [index, turn] of outcome.turns.entries()) {
    const path = ['turns', index, 'expect'];
    const existing = document.getIn(path, true);
    if (!isMap(existing)) document.setIn(path, document.createNode({}));
    const expect = document.getIn(path, true) as YAMLMap;
    expect.set('reply', turn.reply);
    if (turn.toolCalls.length > 0 || expect.has('tool_calls')) expect.set('tool_calls', document.createNode(turn.toolCalls.map((call) => ({ tool: call.tool, input: call.input }))));
    if (turn.steps > 0 || expect.has('steps')) expect.set('steps', turn.steps);
    if (expect.has('events')) expect.set('events', document.createNode([...turn.events]));
    if (turn.ok) expect.delete('error');
    else expect.set('error', turn.errors[0]?.code ?? 'error');
  }
  const text = document.toString({ lineWidth: 0 });
  if (text === source) return false;
  await writeFile(file, text);
  return true;
}
