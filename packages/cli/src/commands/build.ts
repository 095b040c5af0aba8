/**
 * `woodwork build [file]`: the topology as container artifacts — an image (Dockerfile and its
 * context), a compose file, Kubernetes manifests and a Helm chart — written to `build/` (see
 * packages/cli/BUILD.md). `--deploy local` then runs the compose file with Docker.
 */
import { spawn } from 'node:child_process';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatDiagnostic, loadTopology } from '@woodwork/parser';
import { composeFile } from '../build/compose.js';
import { dockerfile, dockerignore, imagePackageJson, isLeftOutOfImage } from '../build/dockerfile.js';
import { requiredVariables, type Connections } from '../build/environment.js';
import { helmChart } from '../build/helm.js';
import { kubernetesManifests, kustomization, manifestHeader, secretName, yamlDocuments } from '../build/kubernetes.js';
import { BuildError, buildPlan, dnsLabel, SERVICE_URLS, type BuildPlan } from '../build/plan.js';
import { ExitCode, paint, useColor, type Terminal } from '../terminal.js';
import { cliVersion } from '../version.js';
import { displayPath, printError } from './up.js';
import { resolveWwFile } from './validate.js';

export const EXPORTS = ['docker', 'compose', 'kubernetes', 'helm'] as const;
export type ExportFormat = (typeof EXPORTS)[number];

export interface BuildOptions {
  /** Where to write; default `build/` beside the `.ww` file. */
  readonly output?: string;
  /** Comma-separated formats; default all. */
  readonly export?: string;
  /** The image name and tag the deployments run. */
  readonly image?: string;
  /** The broker URL for Kubernetes and Helm (compose starts its own). */
  readonly bus?: string;
  /** Redis for sessions on Kubernetes and Helm when the bus is NATS or Kafka. */
  readonly sessions?: string;
  /** The Kubernetes namespace the kustomization sets. */
  readonly namespace?: string;
  /** `local`: run the compose file with Docker once written. */
  readonly deploy?: string;
  /** Write into an output folder that does not hold an earlier build. */
  readonly force?: boolean;
}

/** Written beside the artifacts: marks the folder as ours, so the next build may replace it. */
const MARKER = '.woodwork-build.json';

/** What a build writes at the top of its output folder (the rest is left alone). */
const GENERATED = ['image', 'docker-compose.yml', 'kubernetes', 'helm', MARKER];

export function parseExports(value: string | undefined): ExportFormat[] {
  if (value === undefined || value.trim() === '' || value.trim() === 'all') return [...EXPORTS];
  const wanted = value.split(',').map((part) => part.trim().toLowerCase()).filter((part) => part !== '');
  const aliases: Record<string, ExportFormat> = { 'docker-compose': 'compose', k8s: 'kubernetes', dockerfile: 'docker' };
  const formats = wanted.map((part) => aliases[part] ?? part);
  const unknown = formats.filter((format) => !(EXPORTS as readonly string[]).includes(format));
  if (unknown.length > 0) {
    throw new BuildError(`--export ${value}: ${unknown.map((format) => `\`${format}\``).join(', ')} is not a format`, `use any of ${EXPORTS.join(', ')} (comma-separated), or all`);
  }
  return [...new Set(formats as ExportFormat[])];
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch {
    return true;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

async function projectDependencies(projectDir: string): Promise<Record<string, string>> {
  const file = path.join(projectDir, 'package.json');
  if (!(await exists(file))) return {};
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as { dependencies?: Record<string, string> };
    // Workspace links and local paths cannot be installed inside the image.
    return Object.fromEntries(Object.entries(parsed.dependencies ?? {}).filter(([name, version]) => !name.startsWith('@woodwork/') && !/^(file|link|workspace):/.test(version)));
  } catch (error) {
    throw new BuildError(`${file} is not valid JSON: ${(error as Error).message}`, 'fix it: the image installs the dependencies it lists');
  }
}

/** The project's files, without secrets, installs and the build output itself. */
async function copyProject(projectDir: string, target: string, outputDir: string): Promise<void> {
  const keep = (source: string): boolean => path.resolve(source) !== outputDir && !isLeftOutOfImage(path.basename(source));
  await mkdir(target, { recursive: true });
  // Entry by entry: the output folder is usually inside the project, and cp refuses to copy a folder into itself.
  for (const entry of await readdir(projectDir)) {
    const source = path.join(projectDir, entry);
    if (keep(source)) await cp(source, path.join(target, entry), { recursive: true, filter: keep });
  }
}

function connectionsFor(plan: BuildPlan, options: BuildOptions): Connections {
  const bus = options.bus ?? SERVICE_URLS[plan.bus.type];
  const scheme = /^([a-z]+):\/\//.exec(bus)?.[1];
  if (scheme !== plan.bus.type) {
    throw new BuildError(`--bus ${bus} is not a ${plan.bus.type}:// URL, and the file's bus is ${plan.bus.type}`, `give a ${plan.bus.type}:// URL, or change the file's bus`);
  }
  return { bus, sessions: plan.separateSessionsRedis ? (options.sessions ?? SERVICE_URLS.redis) : null };
}

async function writeFiles(base: string, files: Record<string, string>): Promise<void> {
  for (const [file, text] of Object.entries(files)) {
    const target = path.join(base, file);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, text);
  }
}

/** Writes the artifacts; returns the paths written, relative to the output folder. */
export async function writeBuild(plan: BuildPlan, outputDir: string, formats: readonly ExportFormat[], connections: Connections, namespace: string | undefined): Promise<string[]> {
  const written: string[] = [];
  for (const entry of GENERATED) await rm(path.join(outputDir, entry), { recursive: true, force: true });
  await mkdir(outputDir, { recursive: true });

  if (formats.includes('docker') || formats.includes('compose')) {
    const imageDir = path.join(outputDir, 'image');
    await copyProject(plan.projectDir, path.join(imageDir, 'project'), outputDir);
    await writeFiles(imageDir, {
      Dockerfile: dockerfile(plan),
      '.dockerignore': dockerignore(),
      'package.json': imagePackageJson(plan, cliVersion, await projectDependencies(plan.projectDir)),
    });
    written.push('image/Dockerfile', 'image/package.json', 'image/project/');
  }
  if (formats.includes('compose')) {
    await writeFile(path.join(outputDir, 'docker-compose.yml'), composeFile(plan));
    written.push('docker-compose.yml');
  }
  if (formats.includes('kubernetes')) {
    const manifests = kubernetesManifests(plan, connections);
    const files: Record<string, string> = { 'kustomization.yaml': kustomization(plan, manifests, namespace) };
    for (const manifest of manifests) files[manifest.file] = manifestHeader(plan) + yamlDocuments(manifest.objects);
    await writeFiles(path.join(outputDir, 'kubernetes'), files);
    written.push('kubernetes/');
  }
  if (formats.includes('helm')) {
    await writeFiles(path.join(outputDir, 'helm', plan.project), helmChart(plan, { connections, woodworkVersion: cliVersion }));
    written.push(`helm/${plan.project}/`);
  }
  const marker = {
    generatedBy: `woodwork build ${cliVersion}`,
    file: plan.wwFile,
    image: plan.image,
    exports: formats,
    units: plan.units.map((unit) => ({
      unit: unit.unit,
      name: unit.name,
      components: unit.components,
      replicas: unit.deployment.scaling.min_instances,
      apiPort: unit.apiPort,
      variables: unit.variables.map(({ variable }) => variable.name),
    })),
    leftOut: plan.leftOut,
  };
  await writeFile(path.join(outputDir, MARKER), `${JSON.stringify(marker, null, 2)}\n`);
  return written;
}

export async function buildCommand(terminal: Terminal, file: string | undefined, options: BuildOptions): Promise<number> {
  const style = paint(useColor(terminal, 'stderr'));
  const target = await resolveWwFile(terminal.cwd, file);
  // Validate mode: variables stay references; a missing one is no reason not to build.
  const result = await loadTopology(target, { mode: 'validate', env: terminal.env });
  if (!result.topology) {
    const color = useColor(terminal, 'stderr');
    for (const diagnostic of result.diagnostics.filter((candidate) => candidate.severity === 'error')) {
      terminal.stderr.write(`${formatDiagnostic(diagnostic, { source: result.sources ?? result.source, color, cwd: terminal.cwd })}\n\n`);
    }
    printError(terminal, `${displayPath(terminal, target)} cannot be built`, '`woodwork validate` lists the same problems; fix them and build again');
    return ExitCode.problems;
  }
  const projectDir = path.dirname(target);
  const outputDir = path.resolve(terminal.cwd, options.output ?? path.join(displayPath(terminal, projectDir), 'build'));

  let plan: BuildPlan;
  let formats: ExportFormat[];
  let connections: Connections;
  try {
    formats = parseExports(options.export);
    if (options.deploy !== undefined && options.deploy !== 'local') {
      throw new BuildError(`--deploy ${options.deploy} is not a target`, 'the one target is `local` (docker compose on this machine); for Kubernetes apply build/kubernetes or install build/helm');
    }
    if (options.deploy === 'local' && !formats.includes('compose')) formats = [...formats, 'compose'];
    if (options.namespace !== undefined && dnsLabel(options.namespace) !== options.namespace) {
      throw new BuildError(`--namespace ${options.namespace} is not a Kubernetes namespace name`, `namespaces hold lower-case letters, digits and dashes, like ${dnsLabel(options.namespace)}`);
    }
    if (options.image !== undefined && !/^[a-z0-9]+([._\-/:@][a-zA-Z0-9]+)*$/.test(options.image)) {
      throw new BuildError(`--image ${options.image} is not an image reference`, 'for example registry.example.com/team/agents:1.4.0');
    }
    plan = buildPlan(result.topology, projectDir, options.image === undefined ? {} : { image: options.image });
    connections = connectionsFor(plan, options);
    if (!(await isEmptyOrMissing(outputDir)) && !(await exists(path.join(outputDir, MARKER))) && !options.force) {
      throw new BuildError(`${displayPath(terminal, outputDir)} exists and does not hold an earlier build`, 'choose another --output, or pass --force to write into it (its other files are kept)');
    }
    if (path.relative(outputDir, projectDir) === '' || !path.relative(outputDir, projectDir).startsWith('..')) {
      throw new BuildError(`--output ${displayPath(terminal, outputDir)} holds the project itself`, 'write the build into a folder of its own, such as build/');
    }
  } catch (error) {
    if (error instanceof BuildError) {
      printError(terminal, error.message, error.hint);
      return ExitCode.problems;
    }
    throw error;
  }

  for (const warning of plan.warnings) terminal.stderr.write(`${style('yellow', 'warning')} ${warning}\n`);
  const written = await writeBuild(plan, outputDir, formats, connections, options.namespace);
  const shownOutput = displayPath(terminal, outputDir);
  const out = terminal.stdout;
  out.write(`Built ${displayPath(terminal, target)} into ${shownOutput}/: ${written.join(', ')}\n\n`);
  out.write(`Image ${plan.image}, one container per unit:\n`);
  const width = Math.max(...plan.units.map((unit) => unit.name.length));
  for (const unit of plan.units) {
    const scaling = unit.deployment.scaling;
    const replicas = scaling.max_instances > scaling.min_instances ? `${scaling.min_instances}-${scaling.max_instances} replicas on ${scaling.scale_metric}` : `${scaling.min_instances} replica${scaling.min_instances === 1 ? '' : 's'}`;
    out.write(`  ${unit.name.padEnd(width)}  ${unit.components.join(', ')}; ${replicas}${unit.apiPort === null ? '' : `; API on port ${unit.apiPort}`}\n`);
  }
  for (const left of plan.leftOut) out.write(`  (not in a container: ${left.unit}, because ${left.why})\n`);

  const required = requiredVariables(plan);
  if (required.length > 0) {
    const listed = required.map((variable) => `${variable.name} (${variable.units.join(', ')})`).join(', ');
    out.write(`\nVariables with no default, which every deployment must supply (each only to the units in brackets): ${listed}\n`);
    if (formats.includes('kubernetes') || formats.includes('helm')) {
      out.write(`  kubectl create secret generic ${secretName(plan)} ${required.map((variable) => `--from-literal=${variable.name}=…`).join(' ')}\n`);
    }
  }
  out.write('\nNext:\n');
  if (formats.includes('docker')) out.write(`  docker build -t ${plan.image} ${shownOutput}/image\n`);
  if (formats.includes('compose')) out.write(`  docker compose -f ${shownOutput}/docker-compose.yml up -d --build    (or woodwork build --deploy local)\n`);
  if (formats.includes('kubernetes')) out.write(`  kubectl apply -k ${shownOutput}/kubernetes\n`);
  if (formats.includes('helm')) out.write(`  helm install ${plan.project} ${shownOutput}/helm/${plan.project}\n`);

  if (options.deploy === 'local') return deployLocal(terminal, outputDir);
  return ExitCode.ok;
}

function run(command: string, args: readonly string[], terminal: Terminal, capture: boolean): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(command, args, { cwd: terminal.cwd, env: terminal.env, stdio: capture ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'] });
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error) => resolve({ code: 127, output: error.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

/** `docker compose up -d --build` on the written file, after checking that a Docker engine answers. */
async function deployLocal(terminal: Terminal, outputDir: string): Promise<number> {
  const composePath = path.join(outputDir, 'docker-compose.yml');
  const engine = await run('docker', ['info', '--format', '{{.ServerVersion}}'], terminal, true);
  if (engine.code !== 0) {
    const reason = engine.code === 127 ? 'the docker command is not installed' : (engine.output.trim().split('\n').find((line) => line.trim() !== '') ?? 'docker info failed');
    printError(
      terminal,
      `--deploy local needs a Docker engine, and none answers here: ${reason}`,
      `the artifacts are written; start Docker (or point DOCKER_HOST at one) and run \`docker compose -f ${displayPath(terminal, composePath)} up -d --build\``,
    );
    return ExitCode.problems;
  }
  const compose = await run('docker', ['compose', 'version'], terminal, true);
  if (compose.code !== 0) {
    printError(terminal, '--deploy local needs Docker Compose v2 (`docker compose`), which this Docker does not have', 'install the docker-compose-plugin package, then build again');
    return ExitCode.problems;
  }
  terminal.stdout.write(`\nStarting the stack: docker compose -f ${displayPath(terminal, composePath)} up -d --build\n`);
  const up = await run('docker', ['compose', '-f', composePath, 'up', '-d', '--build'], terminal, false);
  if (up.code !== 0) {
    printError(terminal, `docker compose up failed (exit ${up.code})`, 'its output is above; fix what it names and run the same command again');
    return ExitCode.problems;
  }
  terminal.stdout.write(`Running. Stop it with: docker compose -f ${displayPath(terminal, composePath)} down\n`);
  return ExitCode.ok;
}
