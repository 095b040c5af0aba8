/**
 * The developer console of `woodwork dev --console`: a web page on loopback that draws the
 * topology, talks to it and shows every event of a turn. It is static assets (built from
 * `packages/cli/console/` into `dist/console/`, no internet needed) plus a small API here, and the
 * runtime's own gateway for sessions and their event streams, reached through this server so the
 * page has one origin and one token.
 *
 * Security: it listens on 127.0.0.1 only; every API and gateway request needs the token printed in
 * the terminal (`Authorization: Bearer <token>`; the printed link carries it in the URL fragment,
 * which browsers never send to a server or put in a Referer). The static files hold no secrets.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatDiagnostic, loadTopology, type ConfigValue } from '@woodwork/parser';
import { componentGroup, componentTopic, eventsTopic, startGateway, type Runtime } from '@woodwork/runtime';
import { paint, useColor, type Terminal } from '../terminal.js';
import { startLiveState, type HostsSource } from './live.js';

export interface ConsoleServer extends AsyncDisposable {
  /** The link to open, token included. */
  readonly link: string;
  readonly url: string;
  readonly token: string;
  /** `woodwork dev` reloaded: the page lists it. */
  reloaded(text: string): void;
  /** A reload did not load: the page lists the file's diagnostics with their source lines, or `reason`. */
  reloadFailed(file: string, reason?: string): Promise<void>;
  close(): Promise<void>;
}

/** What the page shows of reloads, newest last. */
interface Notice {
  readonly at: string;
  readonly ok: boolean;
  readonly text: string;
  readonly details?: string;
}

const KEPT_NOTICES = 20;

export interface ConsoleOptions {
  /** Default 0: a free port. */
  readonly port?: number;
  /** For reading the `.ww` file's variables when a reload fails. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Default: `dist/console` of this package. */
  readonly assetsDir?: string;
  /**
   * `woodwork up --console`: the host registry, where the instances of each component and their
   * counters are read. Default: the runtime's own hosts (`woodwork dev`, embedded).
   */
  readonly hosts?: HostsSource;
  /** How often the instances and counters are read. Default 2 000 ms. */
  readonly sampleIntervalMs?: number;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

/** Where the built page is: beside the bundle in `dist/`, or `dist/console` when running from source. */
export function consoleAssetsDir(): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return [path.join(here, 'console'), path.resolve(here, '../../dist/console')].find((dir) => existsSync(path.join(dir, 'index.html')));
}

export async function startConsole(runtime: Runtime, options: ConsoleOptions = {}): Promise<ConsoleServer> {
  const assets = options.assetsDir ?? consoleAssetsDir();
  if (!assets) throw new Error('the console page is not built: run `npm run build -w @woodwork/cli` (it builds dist/console)');
  const token = randomBytes(24).toString('base64url');
  const notices: Notice[] = [];
  const notify = (notice: Omit<Notice, 'at'>) => {
    notices.push({ at: new Date().toISOString(), ...notice });
    if (notices.length > KEPT_NOTICES) notices.shift();
  };
  // The gateway serves sessions and their SSE; only this server talks to it, with the same token.
  const gateway = await startGateway(runtime, { host: '127.0.0.1', port: 0, auth: { keys: [token] }, rateLimit: false });
  // Instances, counters and the metrics of the last minutes, sampled whether or not a page looks.
  const live = await startLiveState(runtime, {
    ...(options.hosts ? { hosts: options.hosts } : {}),
    ...(options.sampleIntervalMs === undefined ? {} : { intervalMs: options.sampleIntervalMs }),
  });

  const authorized = (request: IncomingMessage) => {
    const given = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) json(response, 500, { error: { code: 'internal_error', message: error instanceof Error ? error.message : String(error) } });
      else response.destroy();
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://console');
    if (url.pathname.startsWith('/v1/')) return proxy(request, response, gateway.url);
    if (url.pathname.startsWith('/api/')) {
      if (!authorized(request)) return json(response, 401, { error: { code: 'unauthorized', message: 'the console token is missing or wrong: open the link woodwork printed' } });
      if (url.pathname === '/api/topology') return json(response, 200, topologyView(runtime));
      if (url.pathname === '/api/state') {
        return json(response, 200, { health: await runtime.health(), stats: runtime.stats(), components: live.components(), instances_from: live.source, notices });
      }
      if (url.pathname === '/api/metrics') return json(response, 200, live.metrics());
      const replay = /^\/api\/sessions\/([^/]+)\/replay$/.exec(url.pathname);
      if (replay) return json(response, 200, { events: await replayed(runtime, decodeURIComponent(replay[1]!)) });
      if (url.pathname === '/api/dead-letters' && request.method === 'GET') return json(response, 200, { dead_letters: await deadLetters(runtime) });
      if (url.pathname === '/api/dead-letters/redrive' && request.method === 'POST') {
        const result = await redrive(runtime, await bodyOf(request));
        return json(response, 'error' in result ? 400 : 200, result);
      }
      return json(response, 404, { error: { code: 'not_found', message: `no ${url.pathname}` } });
    }
    const file = path.join(assets!, path.normalize(url.pathname === '/' ? '/index.html' : url.pathname));
    if (!file.startsWith(assets!)) return json(response, 404, { error: { code: 'not_found', message: 'no such file' } });
    try {
      const body = await readFile(file);
      response.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      response.end(body);
    } catch {
      json(response, 404, { error: { code: 'not_found', message: `no ${url.pathname}` } });
    }
  }

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
    });
  } catch (error) {
    await live.close();
    await gateway.close();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await live.close();
    await gateway.close();
  };
  const reloadFailed = async (file: string, reason?: string) => {
    const loaded = await loadTopology(file, { mode: 'run', env: options.env ?? process.env });
    const errors = loaded.diagnostics.filter((diagnostic) => diagnostic.severity === 'error');
    const details = errors.length > 0 ? errors.map((diagnostic) => formatDiagnostic(diagnostic, { source: loaded.sources, color: false, cwd: path.dirname(file) })).join('\n\n') : reason;
    notify({ ok: false, text: 'reload failed; still running the previous version', ...(details === undefined ? {} : { details }) });
  };
  return {
    url,
    token,
    link: `${url}/#token=${token}`,
    reloaded: (text) => notify({ ok: true, text }),
    reloadFailed,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Passes a request to the gateway and its answer back as it comes (SSE included). */
function proxy(request: IncomingMessage, response: ServerResponse, target: string): void {
  const upstream = httpRequest(new URL(request.url ?? '/', target), { method: request.method, headers: request.headers }, (answer) => {
    response.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(response);
  });
  upstream.on('error', () => (response.headersSent ? response.destroy() : json(response, 502, { error: { code: 'unavailable', message: 'the gateway did not answer' } })));
  response.on('close', () => upstream.destroy());
  request.pipe(upstream);
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(JSON.stringify(body));
}

/** The components and the edges between them: routes (`to`) and references (model, tools, memory). */
function topologyView(runtime: Runtime) {
  const { topology } = runtime;
  const names = new Set(topology.components.map((component) => component.name));
  const edges: { from: string; to: string; kind: 'route' | 'reference'; key?: string }[] = [];
  for (const component of topology.components) {
    for (const to of component.to) edges.push({ from: component.name, to, kind: 'route' });
    for (const [key, value] of Object.entries(component.config)) {
      for (const reference of referencesIn(value)) if (names.has(reference)) edges.push({ from: component.name, to: reference, kind: 'reference', key });
    }
  }
  return {
    file: topology.file,
    namespace: runtime.namespace,
    components: topology.components.map((component) => ({ name: component.name, kind: component.kind, type: component.type, group: component.group, streaming: component.streaming })),
    edges,
  };
}

function referencesIn(value: ConfigValue): string[] {
  if (value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap(referencesIn);
  if ('$ref' in value && typeof value.$ref === 'string') return [value.$ref];
  return Object.values(value as Record<string, ConfigValue>).flatMap(referencesIn);
}

/** A session's events as the bus log keeps them (the broker's retention), whichever process emitted them. */
async function replayed(runtime: Runtime, sessionId: string): Promise<unknown[]> {
  const events: unknown[] = [];
  for await (const { envelope } of runtime.bus.replay(eventsTopic(runtime.namespace), { sessionId })) {
    if (envelope.session_id === sessionId) events.push(envelope);
  }
  return events;
}

async function bodyOf(request: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of request) {
    text += String(chunk);
    if (text.length > 65_536) break;
  }
  try {
    return JSON.parse(text || '{}');
  } catch {
    return {};
  }
}

/** Puts dead letters of one component back on its topic: `{ component, ids? }` (no ids: all of them). */
async function redrive(runtime: Runtime, body: unknown): Promise<{ redriven: number } | { error: { code: string; message: string } }> {
  const { component, ids } = (body ?? {}) as { component?: unknown; ids?: unknown };
  if (typeof component !== 'string' || !runtime.topology.components.some((c) => c.name === component)) {
    return { error: { code: 'invalid_request', message: `no component ${JSON.stringify(component)} to re-drive for` } };
  }
  const chosen = Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : undefined;
  return { redriven: await runtime.bus.redrive(componentTopic(runtime.namespace, component), componentGroup(component), chosen) };
}

async function deadLetters(runtime: Runtime) {
  const letters: unknown[] = [];
  for (const component of runtime.topology.components) {
    for await (const letter of runtime.bus.deadLetters(componentTopic(runtime.namespace, component.name), componentGroup(component.name))) {
      letters.push({
        id: letter.id,
        component: component.name,
        attempts: letter.attempts,
        error: letter.lastError,
        dead_lettered_at: letter.deadLetteredAt,
        event_type: letter.envelope?.event_type ?? null,
        session_id: letter.envelope?.session_id ?? null,
        // The bus republishes the original envelope; a record that was not one has nothing to republish.
        redrivable: letter.envelope !== null,
      });
    }
  }
  return letters;
}

/**
 * Starts the console for a command and prints its link (token included) where the command prints
 * its other notices, "listening on" as the `input api` line says it: on stderr, so stdout carries
 * only replies. The user asked for the console, so one that cannot start is an error (printed
 * here; undefined is returned and the command stops): running on without it would hide the failure
 * in scrollback.
 */
export async function openConsole(
  terminal: Terminal,
  runtime: Runtime,
  port: string | undefined,
  options: { readonly hosts?: HostsSource; readonly say?: (line: string) => void } = {},
): Promise<ConsoleServer | undefined> {
  const style = paint(useColor(terminal, 'stderr'));
  const say = options.say ?? ((line: string) => terminal.stderr.write(`${line}\n`));
  try {
    const server = await startConsole(runtime, {
      env: terminal.env,
      ...(options.hosts ? { hosts: options.hosts } : {}),
      ...(port === undefined ? {} : { port: Number(port) }),
    });
    say(`${style('green', '◆')} console listening on ${server.link}`);
    say(`  ${style('dim', `(loopback only; the token in the link is needed: ${server.token})`)}`);
    return server;
  } catch (error) {
    printConsoleError(terminal, port, error);
    return undefined;
  }
}

/**
 * `--console-port <port>` checked before anything starts: a port in use fails the command at once
 * (not after every process is ready), with what to do. The console's own start catches the port
 * being taken in between. True when the port is free, or none was asked for (a free one is picked).
 */
export async function consolePortFree(terminal: Terminal, port: string | undefined): Promise<boolean> {
  if (port === undefined || Number(port) === 0) return true;
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(Number(port), '127.0.0.1', () => resolve());
    });
    return true;
  } catch (error) {
    printConsoleError(terminal, port, error);
    return false;
  } finally {
    await new Promise<void>((resolve) => (probe.listening ? probe.close(() => resolve()) : resolve()));
  }
}

function printConsoleError(terminal: Terminal, port: string | undefined, error: unknown): void {
  const style = paint(useColor(terminal, 'stderr'));
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const [message, hint] =
    code === 'EADDRINUSE'
      ? [
          `WW_CLI_CONSOLE_PORT: the console cannot listen on 127.0.0.1:${port}: the port is in use`,
          'choose another with --console-port <port>, or leave --console-port out and a free port is picked (its link is printed)',
        ]
      : code === 'EACCES'
        ? [
            `WW_CLI_CONSOLE_PORT: the console may not listen on 127.0.0.1:${port}: this user is not allowed that port`,
            'choose a port above 1023 with --console-port <port>, or leave --console-port out and a free port is picked',
          ]
        : [`WW_CLI_CONSOLE: the console did not start: ${error instanceof Error ? error.message : String(error)}`, 'run without --console to do without it'];
  terminal.stderr.write(`${style('red', 'error')} ${message}\n  ${style('dim', 'hint:')} ${hint}\n`);
}
