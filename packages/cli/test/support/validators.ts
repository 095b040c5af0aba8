/**
 * Real validators for the container artifacts `woodwork build` writes, for tests on machines with
 * no Docker engine and no cluster:
 *
 * - Dockerfile: `dockerfile-utils` (the linter behind the Dockerfile language server); warnings
 *   and errors both count as problems.
 * - docker-compose.yml: the official Compose Specification JSON schema (draft 2020-12), from
 *   `compose-go` (`$WOODWORK_COMPOSE_SCHEMA`), checked with Ajv.
 * - Kubernetes manifests: `kubernetes-models`' generated OpenAPI validators, plus an unknown-field
 *   check of our own: those validators never reject a field the schema does not declare (no
 *   `additionalProperties: false` anywhere), while the API server's strict field validation does.
 * - Helm chart: the real Helm 3 CLI (`$WOODWORK_HELM lint --strict`, `template`).
 *
 * helm and the Compose schema come from `bash tools/validators.sh install`; `npm test` runs it and
 * passes the env on. Gate a suite with `describe.skipIf(skipWithoutValidators('helm'))`: it skips
 * when the tool is missing, except under WOODWORK_TEST_REQUIRE_BROKERS=1 (CI), where the suite
 * runs and every call to the missing tool fails, saying how to install it.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { validate as lintDockerfileText, ValidationSeverity } from 'dockerfile-utils';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { parseAllDocuments, parseDocument } from 'yaml';

export type ValidatorName = 'helm' | 'compose';

const INSTALL_HINT = 'run `bash tools/validators.sh install` and `eval "$(bash tools/validators.sh env)"` (npm test does both)';

// ------------------------------------------------------------------------------------------------
// availability

function executable(file: string | undefined): file is string {
  if (!file) return false;
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Which of the installed validators this process can use (from WOODWORK_HELM and WOODWORK_COMPOSE_SCHEMA). */
export function validatorsAvailable(): { helm: boolean; compose: boolean } {
  const schema = process.env.WOODWORK_COMPOSE_SCHEMA;
  return { helm: executable(process.env.WOODWORK_HELM), compose: !!schema && existsSync(schema) };
}

/**
 * For `describe.skipIf(skipWithoutValidators('helm'))`: true (skip) when a named validator is
 * missing. Under WOODWORK_TEST_REQUIRE_BROKERS=1 it is never true: the suite runs and each call to
 * the missing tool fails with the install hint, so CI cannot pass by skipping the validation.
 */
export function skipWithoutValidators(...tools: ValidatorName[]): boolean {
  const available = validatorsAvailable();
  const missing = tools.filter((tool) => !available[tool]);
  if (missing.length === 0) return false;
  if (process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1') return false;
  console.warn(`\n*** SKIPPED tests that need ${missing.join(' and ')}: ${INSTALL_HINT} ***\n`);
  return true;
}

/** Throws unless the named validators are available; the message says how to install them. */
export function requireValidators(...tools: ValidatorName[]): void {
  const available = validatorsAvailable();
  const missing = tools.filter((tool) => !available[tool]);
  if (missing.length === 0) return;
  const what = missing.map((tool) => {
    const [label, variable, kind] = tool === 'helm' ? ['helm', 'WOODWORK_HELM', 'an executable'] : ['the Compose schema', 'WOODWORK_COMPOSE_SCHEMA', 'a file'];
    const value = process.env[variable];
    return `${label} is missing (${value ? `${variable}=${value} is not ${kind}` : `${variable} is not set`})`;
  });
  throw new Error(`${what.join(' and ')}: ${INSTALL_HINT}`);
}

// ------------------------------------------------------------------------------------------------
// Dockerfile

const STRICT_DOCKERFILE = {
  deprecatedMaintainer: ValidationSeverity.WARNING,
  directiveCasing: ValidationSeverity.WARNING,
  emptyContinuationLine: ValidationSeverity.WARNING,
  instructionCasing: ValidationSeverity.WARNING,
  instructionCmdMultiple: ValidationSeverity.WARNING,
  instructionEntrypointMultiple: ValidationSeverity.WARNING,
  instructionHealthcheckMultiple: ValidationSeverity.WARNING,
  instructionJSONInSingleQuotes: ValidationSeverity.WARNING,
  instructionWorkdirRelative: ValidationSeverity.WARNING,
};

/** Every problem dockerfile-utils finds, warnings included, as `line:col message` (1-based). */
export async function lintDockerfile(text: string): Promise<string[]> {
  return lintDockerfileText(text, STRICT_DOCKERFILE)
    .sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character)
    .map((d) => `${d.range.start.line + 1}:${d.range.start.character + 1} ${d.message}`);
}

// ------------------------------------------------------------------------------------------------
// docker-compose.yml

function yamlErrors(errors: readonly { message: string }[]): string[] {
  return errors.map((error) => `yaml: ${error.message.split('\n')[0]}`);
}

function ajvMessage(error: ErrorObject): string {
  const where = error.instancePath || '/';
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties') return `${where} must NOT have additional property "${String(params.additionalProperty)}"`;
  if (error.keyword === 'unevaluatedProperties') return `${where} must NOT have property "${String(params.unevaluatedProperty)}" (not in the schema)`;
  if (error.keyword === 'enum') return `${where} ${error.message}: ${JSON.stringify(params.allowedValues)}`;
  return `${where} ${error.message ?? error.keyword}`;
}

let composeValidator: { file: string; validate: ValidateFunction } | undefined;

function composeSchema(): ValidateFunction {
  requireValidators('compose');
  const file = path.resolve(process.env.WOODWORK_COMPOSE_SCHEMA!);
  if (composeValidator?.file !== file) {
    // The schema declares draft 2020-12 ($schema), hence Ajv2020; it uses no `format` keyword, so
    // no ajv-formats. Strict mode stays on (a keyword Ajv does not know would throw) except for two
    // style rules the official schema does not follow (a `type` beside every `properties`, each
    // `required` name declared in the same subschema); neither changes what validates.
    const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
    composeValidator = { file, validate: ajv.compile(JSON.parse(readFileSync(file, 'utf8'))) };
  }
  return composeValidator.validate;
}

/** Problems with a docker-compose.yml against the Compose Specification schema, as `/instance/path message`. */
export function validateCompose(yamlText: string): string[] {
  const validate = composeSchema();
  const doc = parseDocument(yamlText, { merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) return yamlErrors(doc.errors);
  const value: unknown = doc.toJS();
  if (validate(value)) return [];
  const errors = validate.errors ?? [];
  // With allErrors, a property that fails its own schema also counts as "unevaluated" for its
  // parent's `unevaluatedProperties: false`; report that only for properties with no error of their own.
  const own = (error: ErrorObject): boolean => {
    if (error.keyword !== 'unevaluatedProperties') return true;
    const child = `${error.instancePath}/${String((error.params as { unevaluatedProperty?: unknown }).unevaluatedProperty)}`;
    return !errors.some((other) => other.instancePath === child || other.instancePath.startsWith(`${child}/`));
  };
  return [...new Set(errors.filter(own).map(ajvMessage))];
}

// ------------------------------------------------------------------------------------------------
// Kubernetes

interface KubernetesModel {
  validate(): void;
}
type ModelClass = new (data: never) => KubernetesModel;

const MODELS: Record<string, ModelClass> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1/Ingress': Ingress,
};

/** The apiVersion/kind pairs validateKubernetes knows. */
export const kubernetesKinds: readonly string[] = Object.keys(MODELS);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/**
 * Wraps `root` so that every property read, at any depth, is recorded per object. The generated
 * validators read each property their schema declares (present or not) and iterate the keys of
 * maps (labels, data, resources), so a key nobody read is one the schema does not know.
 */
function tracked(root: object): { proxy: object; reads: WeakMap<object, Set<string>> } {
  const reads = new WeakMap<object, Set<string>>();
  const proxies = new WeakMap<object, object>();
  const wrap = (target: object): object => {
    let proxy = proxies.get(target);
    if (!proxy) {
      reads.set(target, new Set());
      proxy = new Proxy(target, {
        get(object, key, receiver) {
          if (typeof key === 'string') reads.get(object)!.add(key);
          const value: unknown = Reflect.get(object, key, receiver);
          return isObject(value) ? wrap(value) : value;
        },
      });
      proxies.set(target, proxy);
    }
    return proxy;
  };
  return { proxy: wrap(root), reads };
}

function unknownFields(value: unknown, at: string, reads: WeakMap<object, Set<string>>, out: string[]): void {
  if (!isObject(value)) return;
  const read = reads.get(value);
  // Never looked into: a free-form object (`x-kubernetes-preserve-unknown-fields`) or one whose
  // type was already wrong. Nothing to say about its keys.
  if (!read || read.size === 0) return;
  for (const [key, child] of Object.entries(value)) {
    const where = `${at}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (!Array.isArray(value) && !read.has(key)) out.push(`${where} is not a field of this object (unknown field "${key}")`);
    else unknownFields(child, where, reads, out);
  }
}

function validateObject(object: Record<string, unknown>): string[] {
  const key = `${String(object.apiVersion)}/${String(object.kind)}`;
  const Model = MODELS[key];
  if (!Model) return [`unknown apiVersion/kind "${key}" (known: ${kubernetesKinds.join(', ')})`];
  // The model deep-copies the object; its validate() runs the generated validator on `this`.
  const model = new Model(object as never);
  const { proxy, reads } = tracked(model);
  const problems: string[] = [];
  try {
    model.validate.call(proxy);
  } catch (error) {
    const errors = (error as { errors?: ErrorObject[] }).errors;
    if (!errors) throw error;
    problems.push(...new Set(errors.map(ajvMessage)));
  }
  unknownFields(model, '', reads, problems);
  const metadata = object.metadata;
  const name = isObject(metadata) ? metadata.name : undefined;
  if (typeof name !== 'string' || name === '') problems.push('/metadata/name is required');
  return problems;
}

/**
 * Problems in a multi-document Kubernetes YAML stream (empty documents are skipped), each as
 * `document N (Kind name): /instance/path message`. An apiVersion/kind outside `kubernetesKinds`
 * is a problem too.
 */
export function validateKubernetes(yamlText: string): string[] {
  const problems: string[] = [];
  const docs = parseAllDocuments(yamlText, { uniqueKeys: true });
  if (!Array.isArray(docs)) return problems; // an empty stream
  docs.forEach((doc, index) => {
    const label = `document ${index + 1}`;
    if (doc.errors.length > 0) {
      problems.push(...yamlErrors(doc.errors).map((error) => `${label}: ${error}`));
      return;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return;
    if (!isObject(value) || Array.isArray(value)) {
      problems.push(`${label}: not a Kubernetes object (a YAML mapping with apiVersion and kind)`);
      return;
    }
    const metadata = value.metadata;
    const name = isObject(metadata) && typeof metadata.name === 'string' ? ` ${metadata.name}` : '';
    const where = `${label} (${String(value.kind)}${name})`;
    problems.push(...validateObject(value).map((problem) => `${where}: ${problem}`));
  });
  return problems;
}

// ------------------------------------------------------------------------------------------------
// Helm

/** The release name helmTemplate renders with. */
export const HELM_RELEASE = 'woodwork';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function helm(args: string[]): Promise<Run> {
  requireValidators('helm');
  return new Promise((resolve, reject) => {
    execFile(
      process.env.WOODWORK_HELM!,
      args,
      { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) resolve({ code: 0, stdout, stderr });
        else if (typeof error.code === 'number') resolve({ code: error.code, stdout, stderr });
        else if (error.killed) reject(new Error(`helm ${args.join(' ')} did not finish within 60 s:\n${stderr}`));
        else reject(new Error(`helm ${args.join(' ')} did not run: ${error.message}`));
      },
    );
  });
}

/** `helm lint --strict <chartDir>`: ok when helm exits 0; output is what it printed (stdout, then stderr). */
export async function helmLint(chartDir: string): Promise<{ ok: boolean; output: string }> {
  const { code, stdout, stderr } = await helm(['lint', '--strict', chartDir]);
  return { ok: code === 0, output: `${stdout}${stderr}` };
}

/** `helm template woodwork <chartDir> ...args`: the rendered YAML. Throws with helm's stderr when it fails. */
export async function helmTemplate(chartDir: string, args: string[] = []): Promise<string> {
  const { code, stdout, stderr } = await helm(['template', HELM_RELEASE, chartDir, ...args]);
  if (code !== 0) throw new Error(`helm template ${chartDir} failed (exit ${code}):\n${stderr.trim()}`);
  return stdout;
}
