#!/usr/bin/env node
// The whole test suite, as README.md and .ci/run call it (`npm test`):
//   1. start the real brokers the tests need (tools/services.sh installs whatever is missing), and
//      install the validators the container-artifact tests use (tools/validators.sh: helm, the
//      Compose schema), and fetch the local model `llm local`'s tests run (tools/models.sh, once
//      into the cache; its path reaches the tests as WOODWORK_LOCAL_MODEL),
//   2. build and lint the packages (publint), then run every project's tests through Nx — the bus
//      suite last and alone, because it restarts the brokers,
//   3. stop the brokers, and print one closing line "N passed, N failed, N skipped".
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const services = path.join(root, 'tools', 'services.sh');
const validators = path.join(root, 'tools', 'validators.sh');
const browser = path.join(root, 'tools', 'browser.sh');
const models = path.join(root, 'tools', 'models.sh');
const sandbox = path.join(root, 'tools', 'sandbox.sh');
const skipServices = process.env.WOODWORK_TEST_NO_SERVICES === '1';

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: process.env, ...options });
  return result.status ?? 1;
}

function startServices() {
  if (skipServices || !existsSync(services)) return {};
  if (run('bash', [services, 'start']) !== 0) {
    console.error('tools/services.sh could not start the brokers; see the log tail above.');
    process.exit(1);
  }
  return exportedEnv(services);
}

function stopServices() {
  if (!skipServices && existsSync(services) && process.env.WOODWORK_TEST_KEEP_SERVICES !== '1') run('bash', [services, 'stop', '--clean']);
}

// The `export NAME=value` lines that `bash <script> env` prints, as an object.
function exportedEnv(script) {
  const printed = spawnSync('bash', [script, 'env'], { cwd: root, encoding: 'utf8' });
  const env = {};
  for (const line of (printed.stdout ?? '').split('\n')) {
    const match = /^export (\w+)=(.*)$/.exec(line.trim());
    if (match) env[match[1]] = match[2].replace(/^['"]|['"]$/g, '');
  }
  return env;
}

// What groups of tests need besides the brokers, each installed once by its script: helm and the
// Compose schema (validators.sh), Debian's chromium for the console (browser.sh), bubblewrap for
// `environment coding` (sandbox.sh), the 98 MB local model (models.sh). The tests fail without
// them, so a failed install stops the run here with the script's error. Returns the variables the
// script's `env` prints.
function prepare(script, what) {
  if (run('bash', [script, 'install']) !== 0) {
    console.error(`tools/${path.basename(script)} could not install ${what}; see its error above.`);
    stopServices();
    process.exit(1);
  }
  return script === sandbox ? {} : exportedEnv(script);
}

function resultFiles() {
  const files = [];
  for (const group of ['packages', 'apps', '.']) {
    const base = path.join(root, group);
    const projects = group === '.' ? ['e2e'] : existsSync(base) ? readdirSync(base) : [];
    for (const project of projects) {
      const file = path.join(base, project, 'test-results', 'vitest.json');
      if (existsSync(file)) files.push(file);
    }
  }
  return files;
}

for (const file of resultFiles()) rmSync(file);
const brokerEnv = startServices();
const preparedEnv = {
  ...(skipServices
    ? {}
    : { ...prepare(validators, 'the validators'), ...prepare(browser, 'chromium'), ...prepare(sandbox, 'bubblewrap or make a sandbox') }),
  // A WOODWORK_LOCAL_MODEL already set (a model of your own) wins.
  ...(process.env.WOODWORK_LOCAL_MODEL ? {} : prepare(models, 'the local model')),
};
let status = 1;
const testEnv = { ...process.env, ...brokerEnv, ...preparedEnv, WOODWORK_TEST_REQUIRE_BROKERS: skipServices ? '0' : '1' };
const nx = (...args) => run('npx', ['nx', ...args, '--outputStyle=stream'], { env: testEnv });
try {
  // The bus suite restarts the brokers on purpose (nothing acknowledged may be lost); it runs on its
  // own so those restarts never land in the middle of another package's test.
  status = nx('run-many', '-t', 'build', 'publint', 'attw');
  if (status === 0) {
    const others = nx('run-many', '-t', 'test', '--exclude=@woodwork/bus');
    const bus = nx('run-many', '-t', 'test', '--projects=@woodwork/bus');
    status = others || bus;
  }
} finally {
  stopServices();
}

const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];
const flaky = [];
for (const file of resultFiles()) {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  totals.passed += report.numPassedTests ?? 0;
  totals.failed += report.numFailedTests ?? 0;
  totals.skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  for (const suite of report.testResults ?? []) {
    const where = path.relative(root, suite.name);
    const before = failures.length;
    for (const test of suite.assertionResults ?? []) {
      const found = { where, name: test.fullName, message: test.failureMessages?.[0] ?? '' };
      if (test.status === 'failed') failures.push(found);
      // Passed, yet with an error on record: it failed once and passed when retried (CI retries once).
      else if (test.status === 'passed' && test.failureMessages?.length > 0) flaky.push(found);
    }
    // A file that fails to load (or an error outside any test) has no failed assertion to show.
    if (failures.length === before && suite.status === 'failed') failures.push({ where, name: '(the file itself)', message: suite.message ?? '' });
  }
}
// The closing lines are what a CI log's tail shows, so they name every failure and its first lines.
const firstLines = (message) => message.split('\n').filter((line) => line.trim()).slice(0, 6).join('\n      ');
for (const test of flaky) console.log(`\nFLAKY (failed, then passed when retried) ${test.where} > ${test.name}\n      ${firstLines(test.message)}`);
for (const failure of failures) console.log(`\nFAILED ${failure.where} > ${failure.name}\n      ${firstLines(failure.message)}`);
if (status !== 0 && totals.failed === 0) console.log('\nA build, publint or test step failed before or outside the test counts; see the output above.');
const retried = flaky.length > 0 ? ` (${flaky.length} of them only when retried, named above)` : '';
// Labelled with the Node major, so a CI log that runs the suite on 24 and on 22 says which is which;
// the totals also go to a file .ci/run adds up.
const label = `node${process.versions.node.split('.')[0]}`;
mkdirSync(path.join(root, 'test-results'), { recursive: true });
writeFileSync(path.join(root, 'test-results', `summary-${label}.json`), `${JSON.stringify({ node: process.version, status, ...totals, flaky: flaky.length })}\n`);
console.log(`\n${label}: ${totals.passed} passed${retried}, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(status === 0 && totals.failed === 0 ? 0 : 1);
