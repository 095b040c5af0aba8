/**
 * `environment coding` with real parts: a real git repository made here and cloned, real commands in
 * a real bubblewrap sandbox (tools/sandbox.sh installs it), driven by an agent on the scripted
 * provider server, as a user's topology would run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedServer, type ScriptedServer, type ScriptedToolCall } from '../src/testing/index.js';
import { createRuntime, silentLogger } from '@woodwork/runtime';
import { eventsUntil, project, started, type Project } from './support/project.js';

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });

let origin: string;
beforeAll(() => {
  // A repository with history, as a user's would have, served as a plain path.
  const source = mkdtempSync(path.join(tmpdir(), 'ww-env-src-'));
  git(source, 'init', '--quiet', '--initial-branch=main');
  writeFileSync(path.join(source, 'README.md'), '# Demo\n\nA demo repository.\n');
  writeFileSync(path.join(source, 'app.py'), 'def greet(name):\n    return "hello " + name\n\n\ndef shout(name):\n    return "HELLO " + name\n');
  git(source, 'add', '.');
  git(source, 'commit', '--quiet', '-m', 'first commit of the demo');
  origin = source;
});

function envProject(server: ScriptedServer, env: string, files: Record<string, string> = {}): Promise<Project> {
  return project({
    'main.ww': `
      model = llm openai { model = "m", api_key = "sk-test", base_url = "${server.openaiBaseUrl}" }
      env = environment coding {
        ${env}
      }
      coder = agent llm { model = model, tools = [env], max_steps = 20 }
    `,
    ...files,
  });
}

/** The tool outputs the model got in the request after each step. */
function outputs(server: ScriptedServer): string[] {
  const last = server.requests.at(-1)!.body.input as any[];
  return last.filter((item) => item.type === 'function_call_output').map((item) => String(item.output));
}

/** One turn in which the model makes `calls` (one a step) and then answers. */
async function callTools(server: ScriptedServer, files: Project, calls: ScriptedToolCall[], env: Record<string, string> = {}) {
  server.enqueue(...calls.map((call) => ({ toolCalls: [call] })), { text: 'done' });
  await using runtime = await started(await files.load(env));
  const id = await runtime.create();
  const events = runtime.events(id);
  const turn = await runtime.submit(id, 'go', { to: 'coder' });
  await eventsUntil(events, 'turn.completed');
  const result = await turn.result;
  expect(result.ok, JSON.stringify(result.errors)).toBe(true);
  return outputs(server);
}

describe('environment coding', () => {
  it('clones the repository, runs setup scripts once (the classic marker) and startup scripts every start, with environment_variables', async () => {
    await using server = await startScriptedServer();
    await using files = await envProject(server, `
      repo_url = "${origin}"
      local_path = "work"
      setup_scripts = ["setup.sh", "echo setup >> setup-count.txt"]
      startup_scripts = ["echo started >> startup-count.txt"]
      environment_variables = { GREETING = "bonjour", CONFIG = { level = 2 } }
    `, { 'setup.sh': '#!/bin/bash\necho "$GREETING $CONFIG $HOME $PWD" > setup-env.txt\n' });
    const work = path.join(files.dir, 'work');
    for (let start = 0; start < 2; start++) {
      await using runtime = await started(await files.load());
      void runtime;
    }
    expect(git(work, 'log', '--oneline')).toContain('first commit of the demo');
    expect(readFileSync(path.join(work, 'setup-env.txt'), 'utf8').trim()).toBe('bonjour {"level":2} /home/agent /workspace');
    expect(readFileSync(path.join(work, 'setup-count.txt'), 'utf8')).toBe('setup\n');
    expect(readFileSync(path.join(work, 'startup-count.txt'), 'utf8')).toBe('started\nstarted\n');
    expect(existsSync(path.join(work, '.woodwork_setup_complete'))).toBe(true);

    // The classic way to force the setup again: a first entry that removes the marker.
    await files.write('main.ww', readFileSync(files.file, 'utf8').replace('setup_scripts = ["setup.sh"', 'setup_scripts = ["rm -f /workspace/.woodwork_setup_complete", "setup.sh"'));
    {
      await using runtime = await started(await files.load());
      void runtime;
    }
    expect(readFileSync(path.join(work, 'setup-count.txt'), 'utf8')).toBe('setup\nsetup\n');
  });

  it('a failing setup script stops the start naming it, and runs again next time', async () => {
    await using server = await startScriptedServer();
    await using files = await envProject(server, `local_path = "work"\nsetup_scripts = ["echo trying >> tries.txt; echo broken >&2; exit 3"]`);
    for (let attempt = 0; attempt < 2; attempt++) {
      const error = await started(await files.load()).then(
        () => undefined,
        (caught: unknown) => caught as Error,
      );
      expect(error?.message).toContain('failed with exit code 3');
      expect(error?.message).toContain('broken');
    }
    expect(readFileSync(path.join(files.dir, 'work', 'tries.txt'), 'utf8')).toBe('trying\ntrying\n');
  });

  it('runs commands in the sandbox: the clone is there, git works, the host is not, cd is kept for the session', async () => {
    await using server = await startScriptedServer();
    await using files = await envProject(server, `repo_url = "${origin}"\nlocal_path = "work"`);
    const [log, etc, home, mkdir, cd, pwd, commit] = await callTools(server, files, [
      { name: 'execute_command', arguments: { command: 'git log --oneline && cat README.md' } },
      { name: 'execute_command', arguments: { command: 'ls /etc/shadow /root 2>&1; echo exit=$?' } },
      { name: 'execute_command', arguments: { command: `ls ${files.dir}/main.ww 2>&1; echo $HOME` } },
      { name: 'execute_command', arguments: { command: 'mkdir -p src/lib && echo made' } },
      { name: 'execute_command', arguments: { command: 'cd src/lib' } },
      { name: 'execute_command', arguments: { command: 'pwd && touch here.txt' } },
      { name: 'execute_command', arguments: { command: 'cd /workspace && git add -A && git commit -qm "agent change" && git log --oneline | head -1' } },
    ]);
    expect(log).toContain('first commit of the demo');
    expect(log).toContain('A demo repository.');
    expect(etc).toContain('No such file or directory');
    expect(etc).toContain('exit=2');
    expect(home).toContain('No such file or directory');
    expect(home).toContain('/home/agent');
    expect(mkdir).toBe('made');
    expect(cd).toBe('Changed directory to /workspace/src/lib');
    expect(pwd).toBe('/workspace/src/lib');
    expect(existsSync(path.join(files.dir, 'work', 'src', 'lib', 'here.txt'))).toBe(true);
    expect(commit).toContain('agent change');
    expect(git(path.join(files.dir, 'work'), 'log', '--format=%an', '-1').trim()).toBe('Woodwork Agent');
  });

  it("sees none of the host's processes or environment, and cannot write outside the workspace", async () => {
    await using server = await startScriptedServer();
    await using files = await envProject(server, 'local_path = "work"');
    process.env.WW_TEST_SECRET_KEY = 'sk-should-not-leak';
    try {
      const [processes, env, write] = await callTools(server, files, [
        { name: 'execute_command', arguments: { command: 'ls /proc | grep -c "^[0-9]"' } },
        { name: 'execute_command', arguments: { command: 'env' } },
        { name: 'execute_command', arguments: { command: 'touch /usr/ww-escape 2>&1; touch /home/agent/ok && echo home-ok' } },
      ]);
      // The shell and the commands it started: a new PID namespace.
      expect(Number(processes)).toBeLessThan(5);
      expect(env).not.toContain('sk-should-not-leak');
      expect(env).toContain('WORKSPACE=/workspace');
      expect(write).toContain('Read-only file system');
      expect(write).toContain('home-ok');
      expect(existsSync('/usr/ww-escape')).toBe(false);
    } finally {
      delete process.env.WW_TEST_SECRET_KEY;
    }
  });

  it('has no network unless the file allows it', async () => {
    const listener = createServer((socket) => socket.end('hello from the host\n'));
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const port = (listener.address() as { port: number }).port;
    const probe = { name: 'execute_command', arguments: { command: `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && cat <&3' 2>&1; echo exit=$?` } };
    try {
      await using server = await startScriptedServer();
      await using closed = await envProject(server, 'local_path = "work"');
      const [denied] = await callTools(server, closed, [probe]);
      expect(denied).not.toContain('hello from the host');
      expect(denied).toContain('exit=1');
      await using open = await envProject(server, 'local_path = "work"\nnetwork = true');
      const [allowed] = await callTools(server, open, [probe]);
      expect(allowed).toContain('hello from the host');
    } finally {
      listener.close();
    }
  });

  it('kills a command at command_timeout and keeps at most max_command_output, saying which limit', async () => {
    await using server = await startScriptedServer();
    await using files = await envProject(server, 'local_path = "work"\ncommand_timeout = "500ms"\nmax_command_output = 1000');
    const started_ = Date.now();
    const [slow, loud, failing] = await callTools(server, files, [
      { name: 'execute_command', arguments: { command: 'echo before; sleep 30; echo after' } },
      { name: 'execute_command', arguments: { command: 'head -c 50000 /dev/zero | tr "\\0" x' } },
      { name: 'execute_command', arguments: { command: 'echo nope >&2; exit 4' } },
    ]);
    expect(Date.now() - started_).toBeLessThan(20_000);
    expect(slow).toContain('before');
    expect(slow).not.toContain('after');
    expect(slow).toContain('[killed: the command ran longer than 500 ms (command_timeout of `env`)]');
    expect(loud).toContain('x'.repeat(1000));
    expect(loud).toContain('[output cut: 49000 more bytes were not kept (max_command_output of `env`)]');
    expect(failing).toBe('nope\n[exit code 4]');
  });

  it('reads, writes, edits, searches, finds, backs up and restores files, and no path leaves the workspace', async () => {
    await using server = await startScriptedServer();
    await using files = await envProject(server, `repo_url = "${origin}"\nlocal_path = "work"`);
    const results = await callTools(server, files, [
      { name: 'read_file', arguments: { file_path: 'app.py' } },
      { name: 'read_file', arguments: { file_path: 'app.py', offset: 4, limit: 1 } },
      { name: 'edit_file', arguments: { file_path: 'app.py', old_string: 'return', new_string: 'yield' } },
      { name: 'edit_file', arguments: { file_path: 'app.py', old_string: '"hello "', new_string: '"bonjour "' } },
      { name: 'multi_edit', arguments: { file_path: 'app.py', edits: [{ old_string: 'def greet', new_string: 'def welcome' }, { old_string: 'missing', new_string: 'x' }] } },
      { name: 'multi_edit', arguments: { file_path: 'app.py', edits: [{ old_string: 'def greet', new_string: 'def welcome' }, { old_string: 'name', new_string: 'who', replace_all: true }] } },
      { name: 'write_file', arguments: { file_path: 'docs/notes.md', content: 'first\nsecond\n' } },
      { name: 'search_in_files', arguments: { pattern: 'bonjour|HELLO', file_glob: '*.py' } },
      { name: 'find_files', arguments: { pattern: '**/*.md' } },
      { name: 'backup_file', arguments: { file_path: 'README.md' } },
      { name: 'write_file', arguments: { file_path: 'README.md', content: 'overwritten\n' } },
      { name: 'read_file', arguments: { file_path: '../main.ww' } },
      { name: 'execute_command', arguments: { command: 'ln -s / rootlink && echo linked' } },
      { name: 'read_file', arguments: { file_path: 'rootlink/etc/passwd' } },
      { name: 'list_files', arguments: { path: 'docs' } },
    ]);
    const [read, window, ambiguous, edited, badMulti, multi, written, search, found, backup, , escape, , linkEscape, listed] = results;
    expect(read).toBe('     1\tdef greet(name):\n     2\t    return "hello " + name\n     3\t\n     4\t\n     5\tdef shout(name):\n     6\t    return "HELLO " + name');
    expect(window).toBe('     5\tdef shout(name):\n[1 more lines: read again with offset 5]');
    expect(ambiguous).toContain("String 'return' appears 2 times in file");
    expect(edited).toBe("Successfully replaced string in 'app.py'");
    expect(badMulti).toContain("String not found in file for edit 2: 'missing'");
    expect(multi).toBe("Successfully applied 2 edits with 5 total replacements to 'app.py'");
    const app = readFileSync(path.join(files.dir, 'work', 'app.py'), 'utf8');
    expect(app).toBe('def welcome(who):\n    return "bonjour " + who\n\n\ndef shout(who):\n    return "HELLO " + who\n');
    expect(written).toBe('Updated file docs/notes.md');
    expect(search).toBe('app.py:2:    return "bonjour " + who\napp.py:6:    return "HELLO " + who');
    expect(JSON.parse(found!)).toEqual(['README.md', 'docs/notes.md']);
    const backupName = /Backup created: (\S+)/.exec(backup!)![1]!;
    expect(backupName).toMatch(/^README\.md\.backup_\d{8}_\d{6}$/);
    expect(escape).toContain('outside the workspace');
    expect(linkEscape).toContain('outside the workspace');
    expect(JSON.parse(listed!)).toEqual(['docs/notes.md']);

    server.enqueue({ toolCalls: [{ name: 'restore_backup', arguments: { file_path: 'README.md', backup_name: backupName } }] }, { text: 'ok' });
    await using runtime = await started(await files.load());
    await runtime.ask(undefined, 'restore', { to: 'coder' });
    expect(readFileSync(path.join(files.dir, 'work', 'README.md'), 'utf8')).toBe('# Demo\n\nA demo repository.\n');
  });

  it("runs the classic core command_line and core code on the same folder, with the classic tool names", async () => {
    await using server = await startScriptedServer();
    await using files = await project({
      'main.ww': `
        model = llm openai { model = "m", api_key = "sk-test", base_url = "${server.openaiBaseUrl}" }
        line = core command_line {}
        code = core code { container: line, repo_url: "${origin}" }
        coder = agent llm { model = model, tools = [line, code], max_steps = 10 }
      `,
    });
    const outputs = await callTools(server, files, [
      { name: 'read_file', arguments: { path: 'README.md' } },
      { name: 'run', arguments: { input: 'pwd && git log --oneline | wc -l' } },
      { name: 'write_file', arguments: { path: 'notes.txt', content: 'from code' } },
      { name: 'run', arguments: { input: 'cat notes.txt' } },
    ]);
    expect(outputs).toEqual(['     1\t# Demo\n     2\t\n     3\tA demo repository.', '/home/ubuntu/repo\n1', 'Updated file notes.txt', 'from code']);
    expect(existsSync(path.join(files.dir, '.woodwork/vm/.git'))).toBe(true);
    const offered = (server.requests[0]!.body.tools as any[]).map((tool) => tool.name).sort();
    expect(offered).toEqual(['backup_file', 'edit_file', 'find_files', 'list_files', 'multi_edit', 'read_file', 'restore_backup', 'run', 'search_in_files', 'write_file']);
  });

  it("starts with the runtime's default registry alone, as a host running only the environment does (woodwork up)", async () => {
    await using files = await project({ 'main.ww': 'env = environment coding { local_path = "work" }\n' });
    await using runtime = createRuntime(await files.load(), { logger: silentLogger });
    await runtime.start();
    expect(existsSync(path.join(files.dir, 'work'))).toBe(true);
  });

  describe('without a sandbox', () => {
    const saved = process.env.WOODWORK_BWRAP;
    beforeAll(() => {
      process.env.WOODWORK_BWRAP = '/nonexistent/bwrap';
    });
    afterAll(() => {
      if (saved === undefined) delete process.env.WOODWORK_BWRAP;
      else process.env.WOODWORK_BWRAP = saved;
    });

    it('refuses commands and says how to fix it, while file tools still work', async () => {
      await using server = await startScriptedServer();
      await using files = await envProject(server, 'local_path = "work"');
      const [command, write] = await callTools(server, files, [
        { name: 'execute_command', arguments: { command: 'touch should-not-exist' } },
        { name: 'write_file', arguments: { file_path: 'a.txt', content: 'a' } },
      ]);
      expect(command).toContain('bubblewrap (`bwrap`) is not installed');
      expect(command).toContain('was not run');
      expect(existsSync(path.join(files.dir, 'work', 'should-not-exist'))).toBe(false);
      expect(write).toBe('Updated file a.txt');
    });

    it('refuses to start with setup scripts to run', async () => {
      await using server = await startScriptedServer();
      await using files = await envProject(server, 'local_path = "work"\nsetup_scripts = ["echo hi"]');
      await expect(started(await files.load())).rejects.toThrow(/not installed.*setup or startup scripts/s);
    });

    it('runs commands unconfined only with sandbox = "none", still without the host\'s secrets', async () => {
      await using server = await startScriptedServer();
      await using files = await envProject(server, 'local_path = "work"\nsandbox = "none"\nenvironment_variables = { WHO = "me" }\nsetup_scripts = ["setup.sh"]', {
        'setup.sh': '#!/bin/bash\necho "set up by $WHO" > setup.txt\n',
      });
      process.env.WW_TEST_SECRET_KEY = 'sk-should-not-leak';
      try {
        const [out, env] = await callTools(server, files, [
          { name: 'execute_command', arguments: { command: 'echo $WHO > who.txt && pwd' } },
          { name: 'execute_command', arguments: { command: 'env' } },
        ]);
        expect(out).toBe(path.join(files.dir, 'work'));
        expect(env).not.toContain('sk-should-not-leak');
        expect(readFileSync(path.join(files.dir, 'work', 'who.txt'), 'utf8')).toBe('me\n');
        expect(readFileSync(path.join(files.dir, 'work', 'setup.txt'), 'utf8')).toBe('set up by me\n');
      } finally {
        delete process.env.WW_TEST_SECRET_KEY;
      }
    });
  });
});
