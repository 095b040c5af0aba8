/**
 * The packages as a user's own project meets them. Every publishable package is packed
 * (`npm pack`, what `npm publish` uploads) and installed from those tarballs alone into a fresh
 * project outside this repository, and then used as the READMEs say:
 *
 * - every README sample that is runnable code runs there as ESM (`.mjs`) and as CommonJS (`.cjs`,
 *   `require()` of our ES modules), on the Node that runs this test (CI: 24 and 22);
 * - the same samples type-check as TypeScript with `strict` and `skipLibCheck: false` under
 *   `module: node16` (ESM), `module: esnext` + `moduleResolution: bundler`, and as CommonJS under
 *   `module: node20` (decision 0005) — so no public .d.ts needs a package the user did not install;
 * - the packed CLI: `--help`; `init`, `npm install` of the tarballs in the new project, `run` there;
 *   `validate` of a good and a bad file; `run --bus` on Redis, NATS and Kafka; `run --bus` where
 *   nothing listens or nothing answers (exit 1, the URL, how long, what to check, no stack, no
 *   driver noise, and the process ends). (`run --attach` is in distributed.e2e.test.ts, which
 *   starts `woodwork up`.)
 *
 * Installs cost most of the time (npm copies what its cache holds), so there are two: the
 * project the samples run in, and the one `init` writes. Broker URLs come from
 * WOODWORK_TEST_{REDIS,NATS,KAFKA}_URL (`tools/services.sh env`); a broker that is unset skips its
 * case, or fails it when WOODWORK_TEST_REQUIRE_BROKERS=1.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './free-port.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGES = ['packages/ai', 'packages/bus', 'packages/cli', 'packages/metrics', 'packages/parser', 'packages/runtime', 'packages/stream', 'apps/host'];
const requireBrokers = process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1';
const BROKERS = [
  { name: 'redis', url: process.env.WOODWORK_TEST_REDIS_URL },
  { name: 'nats', url: process.env.WOODWORK_TEST_NATS_URL },
  { name: 'kafka', url: process.env.WOODWORK_TEST_KAFKA_URL },
] as const;
// The node and npm of this test run (the Node of `tools/with-node.sh`, or 22 in CI's second run).
const nodeBin = path.dirname(process.execPath);
const INSTALL_TIMEOUT_MS = 300_000;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * A user's shell: this environment (proxies, CA certificates) without what the test runner adds —
 * NODE_OPTIONS, npm's lifecycle variables (npm_config_* of `npm test` would point npm install at
 * the workspace), vitest's, the WOODWORK_TEST_* settings — and with this test's Node first on PATH.
 * WOODWORK_LOCAL_MODEL stays (a user's setting: the file `llm local` loads); provider keys go, so
 * `init` writes the same local-model project everywhere.
 */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || /^(npm_|VITEST|NODE_OPTIONS$|NODE_ENV$|FORCE_COLOR$|WOODWORK_(?!LOCAL_MODEL$)|OPENAI_API_KEY$|ANTHROPIC_API_KEY$)/i.test(name)) continue;
    env[name] = value;
  }
  return { ...env, PATH: `${nodeBin}${path.delimiter}${process.env.PATH ?? ''}`, NO_COLOR: '1', ...extra };
}

function exec(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Result> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: userEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timeoutMs = options.timeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const node = (args: string[], cwd: string) => exec(process.execPath, args, { cwd });
/** The installed CLI, as `npx woodwork` finds it in the project. */
const woodwork = (project: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) =>
  exec(process.execPath, [path.join(project, 'node_modules', '@woodwork', 'cli', 'bin', 'woodwork.js'), ...args], { cwd: project, ...options });

async function npmInstall(project: string, tarballs: readonly string[]): Promise<void> {
  // --prefer-offline: npm's cache already holds every third-party package (the workspace's `npm ci`).
  const result = await exec('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs], { cwd: project, timeoutMs: INSTALL_TIMEOUT_MS });
  if (result.code !== 0) throw new Error(`npm install in ${project} failed (${result.code}):\n${result.stderr}`);
}

const count = (text: string, part: string) => text.split(part).length - 1;

/** Entries whose module needs an optional peer the user installs only to use them. */
const NEEDS_PEER: Readonly<Record<string, string>> = { '@woodwork/bus/testing': 'vitest (the conformance suite runs in a test)' };

/**
 * The libraries: what a service that embeds Woodwork installs. Their types are checked in a project
 * of these alone, without the CLI (which brings every bus driver), so a public .d.ts that needs an
 * optional driver or SDK fails there as it would for that user.
 */
const LIBRARIES = ['@woodwork/parser', '@woodwork/bus', '@woodwork/stream', '@woodwork/runtime', '@woodwork/metrics'];

/** Every JavaScript entry of these installed packages, read from their `exports` maps. */
async function entryPoints(project: string, names: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const name of names) {
    const installed = JSON.parse(await readFile(path.join(project, 'node_modules', name, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    for (const [key, target] of Object.entries(installed.exports)) {
      if (key === './package.json' || (typeof target === 'string' && target.endsWith('.json'))) continue;
      const entry = `${name}${key.slice(1)}`;
      if (!(entry in NEEDS_PEER)) found.push(entry);
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// The README samples

interface Sample {
  /** The README, and a text that picks its first ```ts block containing it. */
  readonly readme: string;
  readonly contains: string;
  /** A broker URL replacing the one written in the sample (adapter READMEs). */
  readonly broker?: (typeof BROKERS)[number]['name'];
  readonly check: (result: Result) => void;
}

const SAMPLES: readonly Sample[] = [
  {
    readme: 'README.md',
    contains: 'Embedded in your own Node service',
    check: ({ stdout }) => {
      // examples/echo's `output = cli {}` prints the reply; the sample must not print it again.
      expect(count(stdout, 'HELLO')).toBe(1);
    },
  },
  {
    readme: 'packages/runtime/README.md',
    contains: 'runtime.events(sessionId)',
    check: ({ stdout, stderr }) => {
      expect(count(stdout, 'HELLO')).toBe(1);
      expect(count(stdout, 'AND AGAIN')).toBe(1);
      expect(stderr).toContain('input.received from input');
      expect(stderr).toContain('turn.completed from');
    },
  },
  {
    readme: 'packages/parser/README.md',
    contains: 'formatDiagnostic',
    check: ({ stdout }) => expect(stdout).toContain('shout: transform uppercase → output'),
  },
  {
    readme: 'packages/cli/README.md',
    contains: 'processTerminal',
    check: ({ stdout }) => expect(stdout).toMatch(/main\.ww/),
  },
  {
    readme: 'packages/bus/README.md',
    contains: 'WOODWORK_BUS_URL',
    check: ({ stdout }) => expect(stdout).toMatch(/^s-1 \{ text: 'hi' \} try 1$/m),
  },
  {
    readme: 'packages/stream/README.md',
    contains: 'createStreamManager',
    check: ({ stdout }) => expect(stdout).toBe('Hello, world\n'),
  },
  ...(['redis', 'nats', 'kafka'] as const).map(
    (name): Sample => ({ readme: `packages/bus/src/adapters/${name}/README.md`, contains: `createBus('${name}://`, broker: name, check: () => undefined }),
  ),
];

/** README code blocks that import a package but are not programs, and why. */
const NOT_RUNNABLE: readonly { readme: string; contains: string; why: string }[] = [
  { readme: 'packages/bus/README.md', contains: '@woodwork/bus/testing', why: "a test file of the adapter's own repository" },
  { readme: 'packages/metrics/README.md', contains: 'startTelemetry', why: 'a fragment of a component (envelope, callTheModel come from around it)' },
  { readme: 'packages/runtime/README.md', contains: 'defineComponent', why: 'a component definition with placeholders, not a program' },
  { readme: 'packages/runtime/README.md', contains: 'createComponentRegistry()', why: 'registering components: openaiLlm and topology come from around it' },
  { readme: 'packages/ai/README.md', contains: '@woodwork/ai/testing', why: "a test helper (a scripted provider server); @woodwork/ai's own tests run it" },
  { readme: 'packages/ai/README.md', contains: 'createLocalModel', why: "loads a 98 MB GGUF model (WOODWORK_LOCAL_MODEL); @woodwork/ai's own tests run it" },
  { readme: 'packages/language-server/README.md', contains: 'startServer', why: "serves LSP on stdin/stdout until an editor ends it; @woodwork/language-server's own tests speak LSP to it over stdio" },
];

const BLOCK = /```ts\n([\s\S]*?)```/g;

/** The ```ts block a sample names: the first that contains `contains` or comes after it. */
async function pickBlock(readme: string, contains: string): Promise<string> {
  const text = await readFile(path.join(root, readme), 'utf8');
  const at = text.indexOf(contains);
  expect(at, `${readme} no longer contains ${JSON.stringify(contains)}`).toBeGreaterThanOrEqual(0);
  for (const match of text.matchAll(BLOCK)) if (match.index + match[0].length > at) return match[1]!;
  throw new Error(`no ts block at or after ${JSON.stringify(contains)} in ${readme}`);
}

/**
 * The adapters give a broker 2 s to answer by default; on CI's two shared cores a JVM broker can
 * take longer. A live broker's cases wait longer; the case of a port where nothing listens keeps
 * the default.
 */
function patient(url: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}connectTimeoutMs=20000`;
}

async function sampleCode(sample: Sample): Promise<string> {
  const code = await pickBlock(sample.readme, sample.contains);
  if (!sample.broker) return code;
  const url = BROKERS.find((broker) => broker.name === sample.broker)!.url!.replace(/\/$/, '');
  // The sample's own broker address becomes the test's; its query (partitions, clientId) stays.
  return code.replace(/createBus\('[a-z]+:\/\/[^?']*([^']*)'/, (_match, query: string) => `createBus('${patient(`${url}${query}`)}'`);
}

/** Every README.md of the packages and the top one (not of dependencies, builds or test output). */
async function readmes(dir = root): Promise<string[]> {
  if (dir === root) return ['README.md', ...(await readmes(path.join(root, 'packages'))), ...(await readmes(path.join(root, 'apps')))];
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || ['node_modules', 'dist', 'test-results', 'test', 'bench'].includes(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await readmes(full)));
    else if (entry.name === 'README.md') found.push(path.relative(root, full));
  }
  return found;
}

const importLines = /^import\s[^;]+;\n/gm;

/** ESM JavaScript, as a user would write the sample in a `.mjs` file. */
function asEsm(code: string): string {
  return ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
}

/** The sample as a CommonJS module: imports become `require()` (of ES modules), the rest an async main (no top-level await in CommonJS). */
function asCommonJsSource(code: string): string {
  const imports = code.match(importLines) ?? [];
  const body = code.replace(importLines, '');
  return `${imports.join('')}\nasync function runSample(): Promise<void> {\n${body}}\n\nrunSample().catch((error: unknown) => {\n  console.error(error);\n  process.exitCode = 1;\n});\n`;
}

function asCommonJs(code: string): string {
  return ts.transpileModule(asCommonJsSource(code), { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
}

// ---------------------------------------------------------------------------------------------

let work: string;
let tarballs: string[];
let app: string;
/** The libraries alone (LIBRARIES), for the type checks. */
let library: string;
/** `run --bus` where nothing listens or answers: started once the CLI is installed (kafkajs gives a silent port ~30 s). */
let unreachable: Promise<{ name: string; url: string; result: Result }[]>;
/** Accepts connections and never says a word. */
let silent: Server | undefined;
/** The project `woodwork init` writes, once its own `npm install` is done: made while the samples run. */
let initialized: Promise<{ dir: string; init: Result; dependencies: string[] }>;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'ww-packed-'));
  const packs = path.join(work, 'packs');
  await mkdir(packs);
  const packed = await exec('npm', ['pack', '--json', '--pack-destination', packs, ...PACKAGES.map((dir) => path.join(root, dir))], { cwd: root });
  expect(packed.code, packed.stderr).toBe(0);
  tarballs = (JSON.parse(packed.stdout) as { filename: string }[]).map((entry) => path.join(packs, entry.filename));
  expect(tarballs).toHaveLength(PACKAGES.length);

  app = path.join(work, 'app');
  library = path.join(work, 'service');
  for (const [dir, name] of [[app, 'user-app'], [library, 'user-service']] as const) {
    await mkdir(dir);
    // No "type": CommonJS by default, as `npm init` writes it; the samples say .mjs / .cjs themselves.
    await writeFile(path.join(dir, 'package.json'), `${JSON.stringify({ name, version: '1.0.0', private: true }, null, 2)}\n`);
  }
  const ofLibraries = tarballs.filter((file) => LIBRARIES.some((name) => path.basename(file).startsWith(`${name.slice(1).replace('/', '-')}-`)));
  expect(ofLibraries).toHaveLength(LIBRARIES.length);
  await Promise.all([npmInstall(app, tarballs), npmInstall(library, ofLibraries)]);
  await cp(path.join(root, 'examples', 'echo'), app, { recursive: true });

  initialized = (async () => {
    const dir = path.join(work, 'my-agent');
    const init = await woodwork(app, ['init', dir]);
    if (init.code !== 0) return { dir, init, dependencies: [] };
    // As init wrote it, before npm install adds the tarballs' packages to it.
    const manifest = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    await npmInstall(dir, tarballs);
    return { dir, init, dependencies: Object.keys(manifest.dependencies ?? {}).sort() };
  })();
  // Awaited by the tests that need it; until then a failure must not be an unhandled rejection.
  initialized.catch(() => undefined);

  // Two ways a broker does not answer: nothing listens (refused), or something accepts and never
  // says a word (a wrong service, a broker too busy to answer).
  const refused = await freePort();
  silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent!.listen(0, '127.0.0.1', resolve));
  const quiet = (silent.address() as AddressInfo).port;
  unreachable = Promise.all(
    ['redis', 'nats', 'kafka'].flatMap((scheme) =>
      [
        { name: `${scheme}, refused`, url: `${scheme}://127.0.0.1:${refused}` },
        { name: `${scheme}, silent`, url: `${scheme}://127.0.0.1:${quiet}` },
      ].map(async ({ name, url }) => ({ name, url, result: await woodwork(app, ['run', 'main.ww', '--bus', url, '--input', 'hello'], { timeoutMs: 120_000 }) })),
    ),
  );
}, INSTALL_TIMEOUT_MS + 60_000);

afterAll(async () => {
  await Promise.allSettled([unreachable, initialized]);
  silent?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the packed packages in a project of their own', () => {
  it('packs every publishable package without tests or sources', async () => {
    const listed = await exec('tar', ['-tzf', tarballs.find((file) => file.includes('woodwork-runtime-'))!], { cwd: work });
    expect(listed.stdout).toContain('package/dist/index.js');
    expect(listed.stdout).not.toMatch(/\.test\.|\/src\//);
  });

  it('every README code sample that uses a package is run below, or says why not', { timeout: 60_000 }, async () => {
    for (const readme of await readmes()) {
      const text = await readFile(path.join(root, readme), 'utf8');
      const picked = await Promise.all(SAMPLES.filter((sample) => sample.readme === readme).map((sample) => pickBlock(readme, sample.contains)));
      const excused = NOT_RUNNABLE.filter((entry) => entry.readme === readme);
      for (const [, code] of text.matchAll(BLOCK)) {
        if (!/from '@woodwork\//.test(code!)) continue;
        const covered = picked.includes(code!) || excused.some((entry) => code!.includes(entry.contains));
        expect(covered, `${readme} has a sample that no test runs (add it to SAMPLES, or to NOT_RUNNABLE with why):\n${code}`).toBe(true);
      }
    }
  });

  for (const sample of SAMPLES) {
    const label = `${sample.readme} (${sample.contains})`;
    const url = sample.broker ? BROKERS.find((broker) => broker.name === sample.broker)!.url : 'memory';
    it.skipIf(!url && !requireBrokers)(`runs the sample of ${label} as ESM and as CommonJS, with no await using`, { timeout: 120_000 }, async () => {
      expect(url, `WOODWORK_TEST_${sample.broker?.toUpperCase()}_URL is not set`).toBeDefined();
      const code = await sampleCode(sample);
      // Node 22 does not parse `await using`; the samples run on the floor.
      expect(code).not.toMatch(/await using/);
      const name = `${path.basename(path.dirname(path.join(root, sample.readme))) || 'root'}-${SAMPLES.indexOf(sample)}`;
      await writeFile(path.join(app, `${name}.mjs`), asEsm(code));
      await writeFile(path.join(app, `${name}.cjs`), asCommonJs(code));
      const [esm, cjs] = await Promise.all([node([`${name}.mjs`], app), node([`${name}.cjs`], app)]);
      for (const [kind, result] of [['ESM', esm], ['CommonJS', cjs]] as const) {
        expect(result.code, `${kind} ${label} exited ${result.code}:\n${result.stderr}`).toBe(0);
        expect(result.stderr, kind).not.toMatch(/ExperimentalWarning|MaxListenersExceededWarning/);
        // The adapters' own logs of a broker (kafkajs' retried group joins) may carry its stacks;
        // everything else prints none. (kafkajs 2.2.4 also warns TimeoutNegativeWarning on Node 24:
        // tulios/kafkajs#1751, unreleased upstream.)
        if (!sample.broker) expect(result.stderr, kind).not.toMatch(/^\s+at /m);
        sample.check(result);
      }
    });
  }

  it('type-checks the samples and every library entry with skipLibCheck false, without the drivers, under node16, bundler and (CommonJS) node20', { timeout: 180_000 }, async () => {
    // No bus driver, no OpenTelemetry SDK, no vitest here: only what the libraries depend on.
    for (const optional of ['ioredis', 'kafkajs', '@nats-io/transport-node', '@opentelemetry/sdk-metrics', 'vitest']) {
      await expect(readFile(path.join(library, 'node_modules', optional, 'package.json')), `${optional} is installed in the libraries' project`).rejects.toThrow();
    }
    const checks = path.join(library, 'typecheck');
    await rm(checks, { recursive: true, force: true });
    const common = {
      strict: true,
      skipLibCheck: false,
      noEmit: true,
      target: 'es2022',
      lib: ['es2024'],
      // @types/node as a user installs it; taken from the workspace so the test needs no registry.
      typeRoots: [path.join(root, 'node_modules', '@types')],
      types: ['node'],
    };
    // Every public entry as well, so each package's .d.ts is checked, not only what the samples use.
    // Not yet @woodwork/ai: its public types reach the AI SDK's (which need the DOM lib), @ai-sdk/provider's
    // `json-schema` (no @types/json-schema installed) and chromadb's (which imports @hey-api/client-fetch,
    // not installed): with skipLibCheck false a user of it sees those errors. Its package decides
    // what to expose; then it joins LIBRARIES. The CLI is a program; its sample runs above.
    const entries = await entryPoints(library, LIBRARIES);
    const checked = SAMPLES.filter((sample) => sample.readme !== 'packages/cli/README.md');
    const entriesSource = `${entries.map((entry, index) => `import * as entry${index} from '${entry}';`).join('\n')}\nexport const entries = [${entries.map((_, index) => `entry${index}`).join(', ')}];\n`;
    const variants = [
      { dir: 'node16', ext: '.mts', options: { module: 'node16', moduleResolution: 'node16' }, source: (code: string) => code },
      { dir: 'bundler', ext: '.ts', options: { module: 'esnext', moduleResolution: 'bundler' }, source: (code: string) => code },
      { dir: 'node20-cjs', ext: '.cts', options: { module: 'node20', moduleResolution: 'node16' }, source: asCommonJsSource },
    ];
    for (const variant of variants) {
      const dir = path.join(checks, variant.dir);
      await mkdir(dir, { recursive: true });
      const files: string[] = [];
      for (const [index, sample] of checked.entries()) {
        const file = `sample-${index}${variant.ext}`;
        files.push(file);
        const code = await pickBlock(sample.readme, sample.contains);
        await writeFile(path.join(dir, file), variant.source(code));
      }
      files.push(`entries${variant.ext}`);
      await writeFile(path.join(dir, `entries${variant.ext}`), entriesSource);
      await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...common, ...variant.options }, files }, null, 2));
    }
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const results = await Promise.all(
      variants.map((variant) => exec(process.execPath, [tsc, '-p', path.join(checks, variant.dir, 'tsconfig.json')], { cwd: library, timeoutMs: 170_000 })),
    );
    for (const [index, result] of results.entries()) {
      expect({ variant: variants[index]!.dir, code: result.code, errors: result.stdout }).toEqual({ variant: variants[index]!.dir, code: 0, errors: '' });
    }
  });

  it('CommonJS requires every entry of every package (but those that need an optional peer)', async () => {
    // Not @woodwork/host: a program (its entry starts a host), not a library.
    const entries = await entryPoints(app, [...LIBRARIES, '@woodwork/cli', '@woodwork/ai']);
    expect(entries).toEqual(expect.arrayContaining(['@woodwork/parser', '@woodwork/runtime', '@woodwork/runtime/distributed', '@woodwork/metrics/node']));
    const script = `for (const entry of ${JSON.stringify(entries)}) console.log(entry, Object.keys(require(entry)).length > 0);\nconsole.log('schema', typeof require('@woodwork/bus/schema').$schema);`;
    await writeFile(path.join(app, 'entries.cjs'), script);
    const result = await node(['entries.cjs'], app);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual([...entries.map((entry) => `${entry} true`), 'schema string']);
  });

  describe('the packed CLI', () => {
    let project: string;

    it('--help lists the commands and exits 0', async () => {
      const result = await woodwork(app, ['--help']);
      expect(result.code).toBe(0);
      for (const command of ['init', 'validate', 'run', 'dev', 'up', 'status', 'logs', 'stop', 'build']) expect(result.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
      expect(result.stderr).toBe('');
    });

    it('init writes a project that installs from the tarballs and runs on its own', { timeout: INSTALL_TIMEOUT_MS + 60_000 }, async () => {
      const { dir, init, dependencies } = await initialized;
      expect(init.code, init.stderr).toBe(0);
      expect(dependencies).toEqual(['@woodwork/cli', '@woodwork/runtime']);
      project = dir;

      // What init's README says to do next, through npx as the user types it. Its project answers
      // with `llm local`: the model file comes from WOODWORK_LOCAL_MODEL (npm test fetches it).
      expect(process.env.WOODWORK_LOCAL_MODEL, 'WOODWORK_LOCAL_MODEL is not set: eval "$(bash tools/models.sh env)" (npm test does it)').toBeTruthy();
      const run = await exec('npx', ['woodwork', 'run', '--input', 'What is the capital of France?'], { cwd: project, timeoutMs: 120_000 });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout.trim(), 'a reply').not.toBe('');
      expect(run.stderr).not.toMatch(/internal error|^\s+at /m);
    });

    it('validate: a good file exits 0; a bad one exits 1 with file:line:col and no stack', async () => {
      expect(project, 'the init test made the project').toBeDefined();
      const good = await woodwork(project, ['validate']);
      expect(good.code, good.stderr).toBe(0);
      await writeFile(path.join(project, 'bad.ww'), 'input = command_line {\n    to = nowhere\n}\n');
      const bad = await woodwork(project, ['validate', 'bad.ww']);
      expect(bad.code).toBe(1);
      expect(bad.stderr + bad.stdout).toMatch(/bad\.ww:2:\d+: error WW\d+/);
      expect(bad.stderr).not.toMatch(/^\s+at /m);
    });

    for (const broker of BROKERS) {
      it.skipIf(!broker.url && !requireBrokers)(`run --bus ${broker.name}: the reply, once`, { timeout: 120_000 }, async () => {
        expect(broker.url, `WOODWORK_TEST_${broker.name.toUpperCase()}_URL is not set`).toBeDefined();
        // Topic names carry the runtime's namespace ("woodwork"); a key prefix keeps this run's apart where the adapter has one.
        const prefix = `e2e${randomUUID().slice(0, 8)}`;
        const url = patient(broker.name === 'redis' ? `${broker.url}?keyPrefix=${prefix}` : broker.name === 'nats' ? `${broker.url}?prefix=${prefix}` : broker.url!);
        // examples/echo in the samples' project: a reply that says whether it came once.
        const result = await woodwork(app, ['run', 'main.ww', '--bus', url, '--input', 'world'], { timeoutMs: 110_000 });
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toBe('WORLD\n');
        expect(result.stderr).not.toMatch(/MaxListenersExceededWarning|internal error/);
      });
    }

    it('run --bus where nothing listens or nothing answers: exit 1, the URL, how long, what to check; no stack, no driver noise', { timeout: 150_000 }, async () => {
      for (const { name, url, result } of await unreachable) {
        const said = `${name}: ${result.stderr}`;
        expect(result.code, said).toBe(1);
        expect(result.stdout, said).toBe('');
        expect(result.stderr, said).toContain(`the bus at ${url} did not answer (tried for `);
        expect(result.stderr, said).toMatch(/check that/i);
        expect(result.stderr, said).not.toMatch(/internal error|a bug in Woodwork|^\s+at |MaxListenersExceededWarning/m);
        // One error, its hint and the closing line: not a page of the driver's retries. (Not counted:
        // kafkajs 2.2.4's TimeoutNegativeWarning on Node 24, tulios/kafkajs#1751, three lines.)
        const lines = result.stderr.replace(/^\(node:\d+\) TimeoutNegativeWarning:.*\n.*\n\(Use `node --trace-warnings.*\n/m, '').trim().split('\n');
        expect(lines.length, said).toBeLessThanOrEqual(5);
        // Said, and exited: not left waiting at a prompt (kafkajs gives a silent port ~30 s; the
        // child is killed at 120 s).
        expect(result.ms, said).toBeLessThan(90_000);
      }
    });
  });
});
