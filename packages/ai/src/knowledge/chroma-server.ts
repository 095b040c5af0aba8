/**
 * A Chroma server of the project's own, for a `knowledge_base chroma` without `url` — what the
 * classic engine's embedded Chroma was (its data in `path`, default `.woodwork/chroma`). The
 * JavaScript client has no embedded mode, so the server program of pip's `chromadb` (`chroma run`)
 * is started on loopback, on a free port, with the data folder; one per folder per process, shared
 * by the knowledge bases that use it, stopped when the last of them stops.
 *
 * The program is `$WOODWORK_CHROMA` or `chroma` on the PATH. (npm's `chromadb` ships a server too,
 * as a native binding, but it needs glibc 2.38, newer than Debian 12's.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';

interface Running {
  readonly url: string;
  readonly child: ChildProcess;
  users: number;
}

const running = new Map<string, Promise<Running>>();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export class LocalChromaError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

async function start(folder: string, env: Readonly<Record<string, string | undefined>>): Promise<Running> {
  const program = env.WOODWORK_CHROMA || 'chroma';
  await mkdir(folder, { recursive: true });
  const port = await freePort();
  const child = spawn(program, ['run', '--path', folder, '--host', '127.0.0.1', '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ANONYMIZED_TELEMETRY: 'False' },
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<string>((resolve) => {
    child.once('error', (error) => resolve((error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : error.message));
    child.once('exit', (code) => resolve(`exited with code ${code}`));
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const outcome = await Promise.race([exited, new Promise<undefined>((resolve) => setTimeout(resolve, 200))]);
    if (outcome === 'missing') {
      throw new LocalChromaError(
        `no Chroma server to start: \`${program}\` is not installed`,
        'install it (`pip install chromadb`, which provides `chroma`), set WOODWORK_CHROMA to its path, or give the knowledge base the url of a running server',
      );
    }
    if (outcome !== undefined) throw new LocalChromaError(`the Chroma server (\`${program} run --path ${folder}\`) ${outcome}: ${output.trim().split('\n').slice(-5).join(' | ')}`, 'check the data folder (`path`), or give the knowledge base a url');
    const ready = await fetch(`${url}/api/v2/heartbeat`).then((response) => response.ok, () => false);
    if (ready) return { url, child, users: 0 };
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new LocalChromaError(`the Chroma server (\`${program} run --path ${folder}\`) did not answer within 60 s`, 'start it yourself and give the knowledge base its url');
    }
  }
}

/** The URL of the project's Chroma server on `folder`, started if needed; `release` when done. */
export async function acquireLocalChroma(folder: string, env: Readonly<Record<string, string | undefined>>): Promise<{ url: string; release: () => Promise<void> }> {
  let pending = running.get(folder);
  if (!pending) {
    pending = start(folder, env);
    running.set(folder, pending);
    pending.catch(() => running.delete(folder));
  }
  const server = await pending;
  server.users++;
  let released = false;
  return {
    url: server.url,
    release: async () => {
      if (released) return;
      released = true;
      if (--server.users > 0) return;
      running.delete(folder);
      const gone = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
      server.child.kill('SIGTERM');
      const timer = setTimeout(() => server.child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
