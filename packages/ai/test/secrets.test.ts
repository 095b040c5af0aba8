import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SessionEvent } from '@woodwork/runtime';
import { startScriptedServer } from '../src/testing/index.js';
import { capturingLogger, capturingStream } from './support/capture.js';
import { project, started } from './support/project.js';
import { inMemoryTelemetry } from './support/telemetry.js';

/** Everything written to the console and the process's own stdout/stderr while `work` runs. */
function consoleOutput() {
  const written: string[] = [];
  const keep = (...args: unknown[]) => void written.push(args.map((arg) => (arg instanceof Error ? `${arg.message} ${JSON.stringify(arg)} ${String((arg as { responseBody?: unknown }).responseBody)}` : typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' '));
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) vi.spyOn(console, method).mockImplementation(keep);
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream);
    vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
      written.push(String(chunk));
      return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as never);
  }
  return written;
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

describe('API keys', () => {
  it('appear in no log line, event, error, metric or trace of a run — successful turns and 401s whose body echoes the key', async () => {
    const key = `sk-proj-${'S3cr3tK3y'.repeat(4)}`;
    vi.stubEnv('LEAKY_OPENAI_KEY', key);
    vi.stubEnv('ANTHROPIC_API_KEY', key);
    await using telemetry = inMemoryTelemetry();
    // The server knows another key, so every provider's 401 echoes the one it was sent back.
    await using server = await startScriptedServer({ apiKey: 'sk-the-right-one' });
    // …and one where the same key is right, so successful turns are searched too.
    await using accepting = await startScriptedServer({ apiKey: key });
    const printed = consoleOutput();
    const logger = capturingLogger();
    const stdout = capturingStream();
    const stderr = capturingStream();
    await using files = await project({
      'main.ww': `
        gpt = llm openai { model = "gpt-4o-mini", api_key = $LEAKY_OPENAI_KEY, base_url = "${server.openaiBaseUrl}", max_retries = 0 }
        compatible = llm openai_compatible { model = "m", api_key = $LEAKY_OPENAI_KEY, base_url = "${server.openaiBaseUrl}", max_retries = 0 }
        claude = llm claude { model = "claude-sonnet-4-5", base_url = "${accepting.anthropicBaseUrl}", max_retries = 0 }
      `,
    });
    await using runtime = await started(await files.load({ LEAKY_OPENAI_KEY: key }), {
      logger,
      io: { stdout: stdout.stream, stderr: stderr.stream },
      metrics: { meterProvider: telemetry.meterProvider, events: true },
    });
    const events: SessionEvent[] = [];
    const results: unknown[] = [];
    for (const target of ['gpt', 'compatible', 'claude']) {
      const sessionId = await runtime.create();
      const reader = (async () => {
        for await (const event of runtime.events(sessionId)) {
          events.push(event);
          if (event.event_type === 'session.ended') break;
        }
      })();
      results.push(await runtime.ask(sessionId, 'first', { to: target }));
      results.push(await runtime.ask(sessionId, 'second', { to: target }));
      await runtime.end(sessionId);
      await reader;
    }
    expect(server.requests).toHaveLength(4);
    expect(accepting.requests).toHaveLength(2);
    expect([...server.requests, ...accepting.requests].every((request) => JSON.stringify(request.headers).includes(key))).toBe(true); // the key was really sent
    expect(results.map((result) => (result as { ok: boolean }).ok)).toEqual([false, false, false, false, true, true]);
    const everything = JSON.stringify({
      logs: logger.lines,
      stdout: stdout.text(),
      stderr: stderr.text(),
      printed,
      events,
      results,
      metrics: await telemetry.reader.all(),
      spans: telemetry.spans.getFinishedSpans().map((span) => ({ name: span.name, attributes: span.attributes, events: span.events, status: span.status })),
    });
    expect(everything).toContain('WW_AI_AUTH');
    expect(everything).not.toContain(key);
    expect(everything).not.toContain('S3cr3tK3y');
    expect(everything).not.toMatch(/Bearer\s+sk-/);
  });

  it('do not leak through a broken stream or a rate limit either', async () => {
    const key = `sk-ant-${'Pr1v4te'.repeat(5)}`;
    await using telemetry = inMemoryTelemetry();
    await using server = await startScriptedServer();
    server.enqueue({ status: 429, retryAfter: 0, message: `Rate limit for key ${key}` }, { text: ['partial ', 'reply ', 'lost'], cutAfter: 1 });
    const printed = consoleOutput();
    const logger = capturingLogger();
    await using files = await project({ 'main.ww': `chat = llm claude { model = "claude-sonnet-4-5", api_key = "${key}", base_url = "${server.anthropicBaseUrl}", max_retries = 0 }\n` });
    await using runtime = await started(await files.load(), { logger, metrics: { meterProvider: telemetry.meterProvider, events: true } });
    const limited = await runtime.ask(undefined, 'one');
    const broken = await runtime.ask(undefined, 'two');
    expect([limited.ok, broken.ok]).toEqual([false, false]);
    const everything = JSON.stringify({ logs: logger.lines, printed, limited, broken, metrics: await telemetry.reader.all(), spans: telemetry.spans.getFinishedSpans().map((span) => ({ attributes: span.attributes, events: span.events, status: span.status })) });
    expect(everything).toContain('WW_AI_RATE_LIMITED');
    expect(everything).toContain('WW_AI_STREAM_INTERRUPTED');
    expect(everything).not.toContain('Pr1v4te');
  });
});
