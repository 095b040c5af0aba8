/**
 * `woodwork test [paths...]`: finds the scenario files (`*.scenario.yaml`) under the given folders
 * (default: the current one), runs each embedded and in parallel — every scenario has its own
 * runtime, in-memory bus and scripted model servers, so they cannot see each other — and prints a
 * report. `--update` writes what happened as the expectations, then runs again to confirm.
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { loadScenario, SCENARIO_SUFFIX, type Scenario } from '../testing/scenario.js';
import { runScenario, type ScenarioOutcome } from '../testing/runner.js';
import { jsonReport, junitReport, runPassed, textReport, type BrokenScenario, type TestRun } from '../testing/report.js';
import { updateExpectations } from '../testing/update.js';
import { ExitCode, paint, useColor, type Terminal } from '../terminal.js';

export interface TestOptions {
  readonly update?: boolean;
  readonly live?: boolean;
  readonly json?: boolean;
  readonly junit?: string;
  readonly concurrency?: string;
}

/** Folders that hold dependencies or generated files, never scenarios of the project. */
const SKIPPED = new Set(['node_modules', '.git', '.woodwork', 'build', 'dist']);

export async function testCommand(terminal: Terminal, paths: readonly string[], options: TestOptions): Promise<number> {
  const style = paint(useColor(terminal, 'stderr'));
  const concurrency = options.concurrency === undefined ? Math.max(1, Math.min(4, availableParallelism())) : Number(options.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    terminal.stderr.write(`${style('red', 'error')}: --concurrency takes a whole number of 1 or more, not ${JSON.stringify(options.concurrency)}\n`);
    return ExitCode.usage;
  }
  const started = performance.now();
  const files: string[] = [];
  for (const given of paths.length === 0 ? ['.'] : paths) {
    const target = path.resolve(terminal.cwd, given);
    const info = await stat(target).catch(() => undefined);
    if (!info) {
      terminal.stderr.write(`${style('red', 'error')}: ${given} does not exist\n`);
      return ExitCode.problems;
    }
    if (info.isDirectory()) files.push(...(await findScenarios(target)));
    else if (target.endsWith(SCENARIO_SUFFIX)) files.push(target);
    else {
      terminal.stderr.write(`${style('red', 'error')}: ${given} is not a scenario file (its name ends in ${SCENARIO_SUFFIX}) or a folder\n`);
      return ExitCode.usage;
    }
  }
  if (files.length === 0) {
    terminal.stderr.write(
      `${style('red', 'error')}: no scenario files (*${SCENARIO_SUFFIX}) under ${paths.length === 0 ? 'this folder' : paths.join(', ')}\n` +
        `  hint: write one beside main.ww (see \`woodwork test --help\`), or start from the one \`woodwork init\` writes\n`,
    );
    return ExitCode.problems;
  }

  const broken: BrokenScenario[] = [];
  const scenarios: Scenario[] = [];
  for (const file of [...new Set(files)].sort()) {
    const loaded = await loadScenario(file);
    if (loaded.ok) scenarios.push(loaded.scenario);
    else broken.push({ file, problems: loaded.problems, source: loaded.source });
  }

  const run = async (scenario: Scenario) => runScenario(scenario, { env: terminal.env, ...(options.live ? { live: true } : {}) });
  let outcomes = await inParallel(scenarios, concurrency, run);
  const updated: string[] = [];
  if (options.update) {
    for (const outcome of outcomes) {
      if (outcome.status !== 'error' && (await updateExpectations(outcome))) updated.push(outcome.scenario.file);
    }
    if (!options.live && updated.length > 0) {
      // Confirm from the file as written: what --update cannot fix (a reply_contains that no longer holds) still fails.
      outcomes = await inParallel(outcomes, concurrency, async (outcome) => {
        if (!updated.includes(outcome.scenario.file)) return outcome;
        const reloaded = await loadScenario(outcome.scenario.file);
        return reloaded.ok ? run(reloaded.scenario) : outcome;
      });
    }
  }
  const result: TestRun = { outcomes, broken, updated, durationMs: performance.now() - started };

  if (options.json) terminal.stdout.write(`${JSON.stringify(jsonReport(result, terminal.cwd), null, 2)}\n`);
  else terminal.stdout.write(textReport(result, { cwd: terminal.cwd, color: useColor(terminal, 'stdout') }));
  if (options.junit !== undefined) {
    const target = path.resolve(terminal.cwd, options.junit);
    try {
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, junitReport(result, terminal.cwd));
    } catch (error) {
      terminal.stderr.write(`${style('red', 'error')}: cannot write the JUnit report to ${options.junit}: ${(error as Error).message}\n`);
      return ExitCode.problems;
    }
  }
  return runPassed(result) ? ExitCode.ok : ExitCode.problems;
}

async function findScenarios(folder: string): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.isDirectory()) {
      if (!SKIPPED.has(entry.name)) found.push(...(await findScenarios(path.join(folder, entry.name))));
    } else if (entry.name.endsWith(SCENARIO_SUFFIX)) {
      found.push(path.join(folder, entry.name));
    }
  }
  return found;
}

/** Runs `work` over the items, at most `limit` at once, keeping the items' order in the results. */
async function inParallel<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export type { ScenarioOutcome };
