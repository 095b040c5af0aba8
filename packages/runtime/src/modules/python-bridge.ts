/**
 * The Node side of the Python bridge: one `python3 woodwork_bridge.py` child process per runtime,
 * started on the first `.py` module, speaking JSON lines (see python/woodwork_bridge.py for the
 * protocol). Requests are multiplexed by id; the child is restarted on the next request if it
 * dies; it holds the event loop open only while requests are pending.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { WoodworkRuntimeError } from '../errors.js';

export interface PythonFunctionInfo {
  readonly name: string;
  readonly parameters: readonly string[];
  readonly doc: string | null;
}

export interface PythonError {
  readonly type: string;
  readonly message: string;
  readonly traceback: string;
}

/** A Python exception, carried back to the caller with its type and traceback. */
export class PythonCallError extends Error {
  override readonly name = 'PythonError';
  constructor(
    readonly python: PythonError,
    readonly functionName: string,
  ) {
    super(`${python.type}: ${python.message}`);
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export interface PythonBridgeOptions {
  /** The interpreter. Default `WOODWORK_PYTHON` or `python3`. */
  readonly command?: string;
  /** Where user code's prints go. */
  readonly stdout: NodeJS.WritableStream;
  /** Where the interpreter's own errors go. */
  readonly stderr: NodeJS.WritableStream;
}

/** Where woodwork_bridge.py sits: `python/` at the package root, from src/modules or dist/. */
export function bridgeScriptPath(): string {
  let directory = path.dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 4; depth++) {
    const candidate = path.join(directory, 'python', 'woodwork_bridge.py');
    if (existsSync(candidate)) return candidate;
    directory = path.dirname(directory);
  }
  throw new WoodworkRuntimeError('WW_RUNTIME_PYTHON', 'the Python bridge script (python/woodwork_bridge.py) is missing from @woodwork/runtime', {
    hint: 'reinstall @woodwork/runtime',
    userError: false,
  });
}

export class PythonBridge {
  private child: ChildProcessWithoutNullStreams | undefined;
  private starting: Promise<ChildProcessWithoutNullStreams> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  readonly command: string;

  constructor(private readonly options: PythonBridgeOptions) {
    this.command = options.command ?? process.env.WOODWORK_PYTHON ?? 'python3';
  }

  private start(): Promise<ChildProcessWithoutNullStreams> {
    if (this.child) return Promise.resolve(this.child);
    this.starting ??= new Promise<ChildProcessWithoutNullStreams>((resolve, reject) => {
      const child = spawn(this.command, ['-u', bridgeScriptPath()], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, PYTHONIOENCODING: 'utf-8', PYTHONDONTWRITEBYTECODE: '1' },
      });
      let ready = false;
      child.once('error', (error: NodeJS.ErrnoException) => {
        this.starting = undefined;
        if (!ready) {
          reject(
            error.code === 'ENOENT'
              ? new WoodworkRuntimeError('WW_RUNTIME_PYTHON_MISSING', `Python pipes, hooks and functions need \`${this.command}\`, which is not on PATH`, {
                  cause: error,
                  hint: 'install Python 3 (or set WOODWORK_PYTHON to its path), or rewrite the module in TypeScript',
                })
              : new WoodworkRuntimeError('WW_RUNTIME_PYTHON', `cannot start ${this.command}: ${error.message}`, { cause: error }),
          );
        }
      });
      child.stderr.on('data', (chunk: Buffer) => this.options.stderr.write(chunk));
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        let message: Record<string, unknown>;
        try {
          message = JSON.parse(line) as Record<string, unknown>;
        } catch {
          this.options.stdout.write(`${line}\n`);
          return;
        }
        if (message.type === 'ready') {
          ready = true;
          this.child = child;
          this.starting = undefined;
          this.updateRef();
          resolve(child);
          return;
        }
        if (message.type === 'output') {
          this.options.stdout.write(String(message.text));
          return;
        }
        const id = message.id as number | undefined;
        const pending = id === undefined ? undefined : this.pending.get(id);
        if (!pending || id === undefined) return;
        this.pending.delete(id);
        this.updateRef();
        if (message.ok === true) pending.resolve(message.result);
        else pending.reject(message.error);
      });
      child.once('exit', (code, signal) => {
        const wasReady = ready;
        this.child = undefined;
        this.starting = undefined;
        const reason = new WoodworkRuntimeError(
          'WW_RUNTIME_PYTHON',
          `the Python bridge exited (${signal ?? `code ${code}`})${wasReady ? '' : ' before it was ready'}`,
          { hint: 'see the Python error printed above', isRetryable: true },
        );
        for (const pending of this.pending.values()) pending.reject(reason);
        this.pending.clear();
        if (!wasReady) reject(reason);
      });
    });
    return this.starting;
  }

  /** Holds the event loop open only while a request waits for Python. */
  private updateRef(): void {
    const child = this.child;
    if (!child) return;
    const streams = [child.stdout, child.stderr, child.stdin] as unknown as { ref?(): void; unref?(): void }[];
    if (this.pending.size > 0) {
      child.ref();
      for (const stream of streams) stream.ref?.();
    } else {
      child.unref();
      for (const stream of streams) stream.unref?.();
    }
  }

  private async request(message: Record<string, unknown>): Promise<unknown> {
    if (this.closed) throw new WoodworkRuntimeError('WW_RUNTIME_STATE', 'the Python bridge is closed');
    const child = await this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.updateRef();
      child.stdin.write(`${JSON.stringify({ ...message, id })}\n`);
    });
  }

  /** Imports a file and lists its functions. Rejects with the Python error when the import fails. */
  async load(file: string): Promise<PythonFunctionInfo[]> {
    const result = (await this.request({ op: 'load', path: file })) as { functions: PythonFunctionInfo[] };
    return result.functions;
  }

  async call(file: string, functionName: string, args: readonly unknown[]): Promise<unknown> {
    try {
      return await this.request({ op: 'call', path: file, function: functionName, args });
    } catch (error) {
      if (isPythonError(error)) throw new PythonCallError(error, functionName);
      throw error;
    }
  }

  /** Forgets loaded modules (hot reload); the next call imports them again. */
  async reload(): Promise<void> {
    if (!this.child) return;
    await this.request({ op: 'reload' });
  }

  async close(): Promise<void> {
    this.closed = true;
    const child = this.child ?? (await this.starting?.catch(() => undefined));
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.stdin.end();
    });
  }
}

export function isPythonError(value: unknown): value is PythonError {
  return typeof value === 'object' && value !== null && typeof (value as PythonError).type === 'string' && 'traceback' in value;
}
