/**
 * What `woodwork test` prints: a readable report for people (a line per scenario, each failure with
 * its place in the scenario file and a diff of expected and actual), JUnit XML for CI systems, and
 * JSON for scripts.
 */
import path from 'node:path';
import { diffLines } from 'diff';
import { formatDiagnostic, type Diagnostic } from '@woodwork/parser';
import { paint } from '../terminal.js';
import type { Failure, ScenarioOutcome } from './runner.js';
import type { ScenarioProblem } from './scenario.js';

/** A scenario file that could not be read or checked: it counts as an error. */
export interface BrokenScenario {
  readonly file: string;
  readonly problems: readonly ScenarioProblem[];
  readonly source: string;
}

export interface TestRun {
  readonly outcomes: readonly ScenarioOutcome[];
  readonly broken: readonly BrokenScenario[];
  readonly updated: readonly string[];
  readonly durationMs: number;
}

export function runPassed(run: TestRun): boolean {
  return run.broken.length === 0 && run.outcomes.every((outcome) => outcome.status === 'passed');
}

const seconds = (ms: number) => (ms < 1_000 ? `${Math.round(ms)} ms` : `${(ms / 1_000).toFixed(1)} s`);
const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

export function textReport(run: TestRun, options: { readonly cwd: string; readonly color: boolean }): string {
  const style = paint(options.color);
  const shown = (file: string) => path.relative(options.cwd, file) || file;
  const lines: string[] = [];
  for (const broken of run.broken) {
    lines.push(`${style('red', '✗')} ${shown(broken.file)}: the scenario file has ${plural(broken.problems.length, 'problem')}`);
    for (const problem of broken.problems) {
      lines.push(indent(formatDiagnostic(asDiagnostic(problem), { source: { [broken.file]: broken.source }, color: options.color, cwd: options.cwd }), 2));
    }
  }
  for (const outcome of run.outcomes) {
    const { scenario } = outcome;
    const mark = outcome.status === 'passed' ? style('green', '✓') : style('red', '✗');
    const updated = run.updated.includes(scenario.file) ? style('yellow', ' (expectations updated)') : '';
    lines.push(`${mark} ${scenario.name} ${style('dim', `(${shown(scenario.file)}) · ${turnsRun(outcome)} · ${seconds(outcome.durationMs)}`)}${updated}`);
    for (const diagnostic of outcome.diagnostics) {
      lines.push(indent(formatDiagnostic(diagnostic, { source: outcome.sources, color: options.color, cwd: options.cwd }), 2));
    }
    for (const failure of outcome.failures) lines.push(...failureLines(outcome, failure, { style, shown }));
  }
  const total = run.outcomes.length + run.broken.length;
  const passed = run.outcomes.filter((outcome) => outcome.status === 'passed').length;
  const failed = run.outcomes.filter((outcome) => outcome.status === 'failed').length;
  const errors = run.outcomes.filter((outcome) => outcome.status === 'error').length + run.broken.length;
  const parts = [style('green', `${passed} passed`), ...(failed > 0 ? [style('red', `${failed} failed`)] : []), ...(errors > 0 ? [style('red', `${errors} could not run`)] : [])];
  lines.push('', `${plural(total, 'scenario')}: ${parts.join(', ')} ${style('dim', `(${seconds(run.durationMs)})`)}`);
  return `${lines.join('\n')}\n`;
}

/** "2 turns", counting a turn that got no answer and saying so: "1 turn (turn 1 timed out, 2 not run)". */
function turnsRun(outcome: ScenarioOutcome): string {
  const { unanswered } = outcome;
  const ran = outcome.turns.length + (unanswered ? 1 : 0);
  if (!unanswered) return plural(ran, 'turn');
  const notRun = outcome.scenario.turns.length - ran;
  return `${plural(ran, 'turn')} (turn ${unanswered.turn + 1} ${unanswered.timedOut ? 'timed out' : 'got no answer'}${notRun > 0 ? `, ${notRun} not run` : ''})`;
}

function failureLines(outcome: ScenarioOutcome, failure: Failure, helpers: { style: ReturnType<typeof paint>; shown: (file: string) => string }): string[] {
  const { style, shown } = helpers;
  const place = failure.line === undefined ? shown(outcome.scenario.file) : `${shown(outcome.scenario.file)}:${failure.line}:${failure.column}`;
  const turn = failure.turn === undefined ? '' : `turn ${failure.turn + 1} (${inputText(outcome.scenario.turns[failure.turn]?.input)}): `;
  const lines = [`  ${style('dim', place)} ${turn}${failure.message}`];
  if (failure.expected !== undefined && failure.actual !== undefined) {
    lines.push(`    ${style('red', '- expected')}  ${style('green', '+ actual')}`);
    for (const part of diffLines(ensureNewline(failure.expected), ensureNewline(failure.actual))) {
      const sign = part.added ? '+' : part.removed ? '-' : ' ';
      for (const line of part.value.replace(/\n$/, '').split('\n')) {
        const text = `    ${sign} ${line}`;
        lines.push(part.added ? style('green', text) : part.removed ? style('red', text) : style('dim', text));
      }
    }
  } else if (failure.actual !== undefined) {
    lines.push(...failure.actual.split('\n').map((line) => `    ${style('dim', '|')} ${line}`));
  }
  return lines;
}

function ensureNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

function inputText(input: unknown): string {
  const text = typeof input === 'string' ? input : JSON.stringify(input);
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 39)}…` : text);
}

function indent(text: string, spaces: number): string {
  return text.split('\n').map((line) => (line === '' ? line : `${' '.repeat(spaces)}${line}`)).join('\n');
}

function asDiagnostic(problem: ScenarioProblem): Diagnostic {
  return { severity: 'error', ...problem } as unknown as Diagnostic;
}

// ---------------------------------------------------------------------------------------------
// JSON

export function jsonReport(run: TestRun, cwd: string): unknown {
  return {
    ok: runPassed(run),
    duration_ms: Math.round(run.durationMs),
    scenarios: [
      ...run.broken.map((broken) => ({ file: path.relative(cwd, broken.file), status: 'error', problems: broken.problems })),
      ...run.outcomes.map((outcome) => ({
        name: outcome.scenario.name,
        file: path.relative(cwd, outcome.scenario.file),
        status: outcome.status,
        updated: run.updated.includes(outcome.scenario.file),
        duration_ms: Math.round(outcome.durationMs),
        turns: outcome.turns.map((turn) => ({
          input: turn.input,
          reply: turn.reply,
          ok: turn.ok,
          errors: turn.errors,
          tool_calls: turn.toolCalls,
          events: turn.events,
          steps: turn.steps,
          model_calls: turn.modelCalls,
          duration_ms: Math.round(turn.durationMs),
        })),
        // The turn (an index, as in `failures`) that got no answer and ended the scenario, or null.
        unanswered: outcome.unanswered
          ? { turn: outcome.unanswered.turn, timed_out: outcome.unanswered.timedOut, duration_ms: Math.round(outcome.unanswered.durationMs) }
          : null,
        failures: outcome.failures,
        diagnostics: outcome.diagnostics,
      })),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// JUnit XML: a test suite per scenario, a test case per turn (the scenario's own problems in a
// test case named "scenario"), the shape Jenkins, GitLab and GitHub's JUnit actions read.

export function junitReport(run: TestRun, cwd: string): string {
  const suites: string[] = [];
  let tests = 0;
  let failures = 0;
  let errors = 0;
  for (const broken of run.broken) {
    tests++;
    errors++;
    const file = path.relative(cwd, broken.file);
    const text = broken.problems.map((problem) => `${file}:${problem.line}:${problem.column}: ${problem.message}`).join('\n');
    suites.push(suite(file, 1, 0, 1, 0, [testCase('scenario', file, 0, `<error message="${xml(`the scenario file has ${plural(broken.problems.length, 'problem')}`)}" type="WW_TEST_SCENARIO">${xml(text)}</error>`)]));
  }
  for (const outcome of run.outcomes) {
    const file = path.relative(cwd, outcome.scenario.file);
    const cases: string[] = [];
    let suiteFailures = 0;
    let suiteErrors = 0;
    const general = outcome.failures.filter((failure) => failure.turn === undefined);
    if (outcome.status === 'error' || general.length > 0) {
      const text = [...outcome.diagnostics.map((d) => `${d.file}:${d.line}:${d.column}: ${d.code}: ${d.message}`), ...general.map((failure) => failureText(file, failure))].join('\n');
      const tag = outcome.status === 'error' ? 'error' : 'failure';
      if (tag === 'error') suiteErrors++;
      else suiteFailures++;
      cases.push(testCase('scenario', `${file} ${outcome.scenario.name}`, 0, `<${tag} message="${xml(outcome.status === 'error' ? 'the scenario could not run' : 'the scenario failed')}" type="WW_TEST_FAILED">${xml(text)}</${tag}>`));
    }
    // The answered turns and the one that got none (its failure says why): each ran, each is a case.
    const ran = [...outcome.turns.map((turn) => turn.durationMs), ...(outcome.unanswered ? [outcome.unanswered.durationMs] : [])];
    ran.forEach((durationMs, index) => {
      const own = outcome.failures.filter((failure) => failure.turn === index);
      const body = own.length === 0 ? '' : `<failure message="${xml(own.map((failure) => failure.message).join('; '))}" type="WW_TEST_FAILED">${xml(own.map((failure) => failureText(file, failure)).join('\n\n'))}</failure>`;
      if (own.length > 0) suiteFailures++;
      cases.push(testCase(`turn ${index + 1}: ${inputText(outcome.scenario.turns[index]?.input)}`, `${file} ${outcome.scenario.name}`, durationMs, body));
    });
    tests += cases.length;
    failures += suiteFailures;
    errors += suiteErrors;
    suites.push(suite(`${outcome.scenario.name} (${file})`, cases.length, suiteFailures, suiteErrors, outcome.durationMs, cases));
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="woodwork test" tests="${tests}" failures="${failures}" errors="${errors}" time="${(run.durationMs / 1_000).toFixed(3)}">\n${suites.join('\n')}\n</testsuites>\n`;
}

function suite(name: string, tests: number, failures: number, errors: number, ms: number, cases: readonly string[]): string {
  return `  <testsuite name="${xml(name)}" tests="${tests}" failures="${failures}" errors="${errors}" time="${(ms / 1_000).toFixed(3)}">\n${cases.join('\n')}\n  </testsuite>`;
}

function testCase(name: string, classname: string, ms: number, body: string): string {
  const open = `    <testcase name="${xml(name)}" classname="${xml(classname)}" time="${(ms / 1_000).toFixed(3)}"`;
  return body === '' ? `${open}/>` : `${open}>\n      ${body}\n    </testcase>`;
}

function failureText(file: string, failure: Failure): string {
  const place = failure.line === undefined ? file : `${file}:${failure.line}:${failure.column}`;
  // A value of several lines (a list of events, of tool calls) is indented under its first line, so each value reads as one block.
  const value = (text: string, width: number) => text.split('\n').join(`\n${' '.repeat(width)}`);
  const detail =
    failure.expected !== undefined
      ? `\nexpected: ${value(failure.expected, 10)}\nactual:   ${value(failure.actual ?? '', 10)}`
      : failure.actual !== undefined
        ? `\nactual: ${value(failure.actual, 8)}`
        : '';
  return `${place}: ${failure.message}${detail}`;
}

/** Escapes text for XML content and attributes, dropping characters XML 1.0 cannot hold (ANSI escapes' ESC). */
function xml(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}
