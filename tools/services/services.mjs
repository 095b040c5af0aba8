// Node wrapper around tools/services.sh for test runners, global setups and tests.
//
//   import { startServices, restartService, stopServices, serviceEnv } from '../../tools/services/services.mjs';
//   const env = await startServices(['kafka']);      // { WOODWORK_TEST_KAFKA_URL: 'kafka://127.0.0.1:9093', ... }
//   await restartService('kafka');                   // same data dir: what the broker persisted survives
//
// Every function is async and never blocks the event loop, so a test can restart a broker while its
// publishers and consumers keep running. A failure rejects with an Error whose message carries the
// script's stderr (which includes the broker's log tail when a broker does not come up).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Absolute path of tools/services.sh. */
export const servicesScript = fileURLToPath(new URL('../services.sh', import.meta.url));

/** The services the script knows. */
export const SERVICE_NAMES = Object.freeze(['redis', 'nats', 'kafka', 'chroma']);

/**
 * Run `bash tools/services.sh ...args`.
 * @param {string[]} args
 * @param {{ env?: NodeJS.ProcessEnv, verbose?: boolean }} [options] verbose: stream the script's
 *   progress (stderr) to this process's stderr instead of collecting it.
 * @returns {Promise<{ code: number, stdout: string, stderr: string }>}
 */
export function runServices(args, { env = process.env, verbose = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [servicesScript, ...args], {
      env,
      stdio: ['ignore', 'pipe', verbose ? 'inherit' : 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

async function mustRun(args, options) {
  const result = await runServices(args, options);
  if (result.code !== 0) {
    const err = new Error(
      `tools/services.sh ${args.join(' ')} failed (exit ${result.code})${result.stderr ? `:\n${result.stderr}` : ''}`,
    );
    err.result = result;
    throw err;
  }
  return result;
}

/** Parse `export KEY=VALUE` lines (comments and other lines are ignored). */
export function parseEnvLines(text) {
  const env = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) env[m[1]] = m[2];
  }
  return env;
}

/**
 * Install what is missing, start the named services (all three when none), wait until each
 * answers. Idempotent. Resolves to their WOODWORK_TEST_* variables; `applyEnv` also copies them
 * into process.env.
 * @param {string[]} [names]
 * @param {{ applyEnv?: boolean, verbose?: boolean, env?: NodeJS.ProcessEnv }} [options]
 * @returns {Promise<Record<string, string>>}
 */
export async function startServices(names = [], { applyEnv = false, ...options } = {}) {
  const { stdout } = await mustRun(['start', ...names], options);
  const env = parseEnvLines(stdout);
  if (applyEnv) Object.assign(process.env, env);
  return env;
}

/**
 * Stop then start the named services on the same data directories (persisted data survives).
 * @param {...string} names
 * @returns {Promise<Record<string, string>>}
 */
export async function restartService(...names) {
  const { stdout } = await mustRun(['restart', ...names]);
  return parseEnvLines(stdout);
}

/**
 * Stop the named services (all when none); `clean` also wipes their state.
 * @param {string[]} [names]
 * @param {{ clean?: boolean, verbose?: boolean, env?: NodeJS.ProcessEnv }} [options]
 */
export async function stopServices(names = [], { clean = false, ...options } = {}) {
  await mustRun(['stop', ...(clean ? ['--clean'] : []), ...names], options);
}

/**
 * The WOODWORK_TEST_* variables of the running services (`all`: of every service, running or not).
 * @param {{ all?: boolean }} [options]
 * @returns {Promise<Record<string, string>>}
 */
export async function serviceEnv({ all = false } = {}) {
  const { stdout } = await mustRun(['env', '--json', ...(all ? ['--all'] : [])]);
  return JSON.parse(stdout);
}

/**
 * Which services run: `{ redis: { running, pid, url, version }, ... }`.
 * @returns {Promise<Record<string, { running: boolean, pid: number | null, url: string, version: string }>>}
 */
export async function serviceStatus() {
  const { stdout } = await runServices(['status']);
  const status = {};
  for (const line of stdout.split('\n')) {
    const m = /^(\w+)\s+(running|stopped)\s+(?:pid (\d+))?\s*(\S+)\s*(\S*)/.exec(line);
    if (m) {
      status[m[1]] = { running: m[2] === 'running', pid: m[3] ? Number(m[3]) : null, url: m[4], version: m[5] };
    }
  }
  return status;
}
