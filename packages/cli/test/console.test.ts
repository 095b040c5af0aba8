// The console of `woodwork dev --console`, in a real browser: Debian's chromium (tools/browser.sh)
// driven headless by puppeteer-core, against a real `woodwork dev` child process whose model is the
// scripted server. Screenshots of each screen go to test-results/console/.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedServer, type ScriptedServer } from '@woodwork/ai/testing';
import { createMemoryAdapter, DEAD_LETTER_EVENT_TYPE, deadLetterTopic, type DeadLetterPayload } from '@woodwork/bus';
import { loadTopology } from '@woodwork/parser';
import { componentGroup, componentTopic, createRuntime, silentLogger } from '@woodwork/runtime';
import { createRedisHostRegistry } from '@woodwork/runtime/distributed';
import { startConsole } from '../src/console/server.js';
import { spawnCli, type CliChild } from './child.js';
import { ensureConsoleBuilt } from './support/console-assets.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const shots = path.join(packageDir, 'test-results', 'console');
const chromium = process.env.WOODWORK_CHROMIUM ?? '/usr/bin/chromium';


describe('woodwork dev --console', () => {
  let server: ScriptedServer;
  let child: CliChild;
  let browser: Browser;
  let page: Page;
  let link: string;
  let projectDir: string;

  beforeAll(async () => {
    if (!existsSync(chromium)) throw new Error(`no chromium at ${chromium}: run \`bash tools/browser.sh install\` (npm test does it)`);
    await ensureConsoleBuilt();
    server = await startScriptedServer({
      apiKey: 'sk-console',
      // Slow enough that the page shows a reply half-written.
      respond: () => ({ text: ['The ', 'console ', 'streams ', 'this ', 'reply.'], chunkDelayMs: 250, usage: { inputTokens: 21, outputTokens: 5 } }),
    });
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-cli-console-'));
    projectDir = dir;
    await writeFile(path.join(dir, 'main.ww'), `chat = llm openai {\n    model = "gpt-4o-mini"\n    api_key = "sk-console"\n    base_url = "${server.openaiBaseUrl}"\n}\n`);
    child = spawnCli(['dev', '--console'], { cwd: dir });
    link = (await child.waitFor(/console listening on (http:\/\/127\.0\.0\.1:\d+\/#token=\S+)/, { timeoutMs: 60_000 }))[1]!;
    await mkdir(shots, { recursive: true });
    browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    child?.process.kill('SIGTERM');
    await child?.exited;
    await server?.close();
  });

  it('refuses the API without the token printed in the terminal', async () => {
    const base = new URL(link).origin;
    expect((await fetch(`${base}/api/topology`)).status).toBe(401);
    expect((await fetch(`${base}/v1/sessions`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(401);
  });

  it('draws the topology and shows its live state', async () => {
    await page.goto(link);
    await page.waitForFunction(() => document.querySelector('#components')?.textContent?.includes('chat:'), { timeout: 20_000 });
    expect(await page.$eval('#project', (element) => element.textContent)).toMatch(/main\.ww$/);
    expect(await page.$eval('#status', (element) => element.textContent)).toMatch(/running · bus memory ready/);
    // The graph is drawn on canvases by cytoscape.
    expect(await page.$$eval('#graph canvas', (canvases) => canvases.length)).toBeGreaterThan(0);
    // The token left the address bar once read.
    expect(page.url()).not.toContain('token');
    await page.screenshot({ path: path.join(shots, '1-topology.png') });
  });

  it('sends a message and shows the reply as it streams, then whole', async () => {
    const input = await page.waitForSelector('input[id="message"]');
    expect(await page.$eval('label[for="message"]', (label) => label.textContent)).toBe('Message');
    await input!.type('Hello console');
    await page.keyboard.press('Enter');
    // Part of the reply, before all of it: it streams.
    await page.waitForFunction(
      () => {
        const text = document.querySelector('#messages li.assistant .text')?.textContent ?? '';
        return text.startsWith('The ') && text !== 'The console streams this reply.';
      },
      { timeout: 20_000, polling: 20 },
    );
    await page.screenshot({ path: path.join(shots, '2-streaming.png') });
    await page.waitForFunction(() => document.querySelector('#messages li.assistant .text')?.textContent === 'The console streams this reply.', { timeout: 20_000 });
    expect(await page.$eval('#messages li.user', (element) => element.textContent)).toBe('Hello console');
    expect(server.requests.at(-1)?.userText).toBe('Hello console');
    await page.screenshot({ path: path.join(shots, '3-replied.png') });
  });

  it("opens the turn's timeline: every event in order, with timings and tokens", async () => {
    const button = await page.waitForSelector('button[aria-label="Timeline of turn 1"]', { timeout: 20_000 });
    await button!.click();
    await page.waitForFunction(() => document.querySelectorAll('#timeline tbody tr').length > 0);
    const rows = await page.$$eval('#timeline tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    const types = rows.map((row) => row[1]);
    // No input component here: the runtime announces the input, then the model answers.
    const others = types.filter((type) => type !== 'stream.chunk');
    expect(others[0]).toBe('input.received');
    expect(new Set(others)).toEqual(new Set(['input.received', 'agent.response', 'metrics.component_performance', 'session.replied', 'turn.completed']));
    expect(others.filter((type) => type !== 'metrics.component_performance').at(-1)).toBe('turn.completed');
    expect(types.lastIndexOf('stream.chunk')).toBeLessThan(types.indexOf('session.replied'));
    expect(types.filter((type) => type === 'stream.chunk')).toHaveLength(6); // five pieces and the end
    expect(rows.find((row) => row[1] === 'stream.chunk')?.[3]).toBe('"The "');
    expect(rows.every((row) => /^\d+$/.test(row[0]!))).toBe(true);
    // Chunks 250 ms apart: the timeline's offsets show time passing between them.
    expect(Number(rows.find((row) => row[3] === '"reply."')?.[0])).toBeGreaterThanOrEqual(250);
    // The step's tokens: what the provider reported (21 in, 5 out).
    expect(rows.find((row) => row[1] === 'metrics.component_performance')?.[3]).toMatch(/^\d+ ms, 26 tokens, \$/);
    expect(await page.$eval('#timeline-summary', (element) => element.textContent)).toMatch(/^Turn 1: \d+ events in \d+ ms, 26 tokens, \$[\d.]+ · trace [0-9a-f]{32}$/);
    await page.screenshot({ path: path.join(shots, '4-timeline.png'), fullPage: true });
  });

  it('replays a past session from the bus log into the timeline', async () => {
    const session = (await page.$eval('#session', (element) => element.textContent ?? '')).replace(/^session /, '');
    await page.type('#replay-session', session);
    await page.click('#replay-form button[type="submit"]');
    await page.waitForFunction((id) => document.querySelector('#timeline-summary')?.textContent?.startsWith(`Session ${id} (replayed from the bus log)`), { timeout: 10_000 }, session);
    const types = await page.$$eval('#timeline tbody tr td:nth-child(2)', (cells) => cells.map((cell) => cell.textContent));
    expect(types).toEqual(expect.arrayContaining(['session.started', 'stream.chunk', 'session.replied', 'turn.completed']));
    await page.screenshot({ path: path.join(shots, '4b-replay.png'), fullPage: true });
  });

  it('charts the metrics of the last minutes and shows each component\'s instances', async () => {
    // A second message, so the window holds two of them.
    await page.type('#message', 'And again');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => [...document.querySelectorAll('#messages li.assistant .text')].filter((element) => element.textContent === 'The console streams this reply.').length === 2, { timeout: 20_000 });
    const row = async () =>
      page.$$eval('#metrics-table tbody tr[data-component="chat"] [data-metric]', (cells) => Object.fromEntries(cells.map((cell) => [(cell as HTMLElement).dataset.metric, cell.textContent ?? ''])));
    // The page reads /api/metrics every 2 s; the server counts handled messages every 2 s.
    await page.waitForFunction(
      () => {
        const cell = (name: string) => document.querySelector(`#metrics-table tbody tr[data-component="chat"] [data-metric="${name}"]`)?.textContent;
        return cell('handled-per-s') !== '0' && cell('handled-per-s') !== undefined && cell('tokens-in') === '42';
      },
      { timeout: 20_000 },
    );
    const chat = await row();
    expect(chat).toMatchObject({ component: 'chat', instances: '1', 'tokens-in': '42', 'tokens-out': '10', errors: '0' });
    expect(Number(chat['handled-per-s']!.replace('<', ''))).toBeGreaterThan(0);
    // Latency of the model's steps: about 1.25 s of streamed chunks each.
    for (const key of ['p50', 'p95', 'p99']) expect(Number(chat[key])).toBeGreaterThan(1_000);
    expect(chat.cost).toMatch(/^\$0\.\d+$/);
    // Four uPlot charts, each drawn on a canvas, each named with its figures.
    expect(await page.$$eval('#metrics .chart canvas', (canvases) => canvases.length)).toBeGreaterThanOrEqual(4);
    expect(await page.$eval('#metrics-component', (element) => (element as HTMLSelectElement).value)).toBe('chat');
    expect(await page.$eval('#chart-latency', (element) => element.getAttribute('aria-label'))).toMatch(/^Latency \(ms\) of chat over the last \d+ minutes?; latest non-zero: p50 \d+/);
    expect(await page.$eval('#chart-throughput', (element) => element.getAttribute('aria-label'))).toMatch(/handled\/s (\d|<)/);
    // The instances: on the graph's node (its accessible name says what the canvas draws), in the list and in the detail.
    expect(await page.$eval('#graph', (element) => element.getAttribute('aria-label'))).toContain('chat (llm openai, 1 instance · ready, queue ');
    expect(await page.$eval('#components button[data-component="chat"]', (element) => element.textContent)).toMatch(/^chat: 1 instance · ready, \d+ handled, 0 failed/);
    // From the keyboard: focus the component's button, Enter shows its detail.
    await page.focus('#components button[data-component="chat"]');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => !(document.querySelector('#component-detail') as HTMLElement).hidden && document.querySelector('#components button[data-component="chat"]')?.getAttribute('aria-pressed') === 'true');
    expect(await page.$eval('#detail-title', (element) => element.textContent)).toBe('chat · llm openai');
    expect(await page.$eval('#detail-facts dd[data-fact="instances"]', (element) => element.textContent)).toBe('1 (1 ready) · in this process');
    expect(await page.$eval('#detail-facts dd[data-fact="tokens"]', (element) => element.textContent)).toMatch(/^42 in · 10 out · \$/);
    await page.$eval('#metrics', (element) => element.scrollIntoView());
    await page.screenshot({ path: path.join(shots, '10-metrics.png'), fullPage: true });
  });

  it('shows a reload that fails with its diagnostics and source line, then the one that works', async () => {
    const file = path.join(projectDir, 'main.ww');
    const good = await readFile(file, 'utf8');
    await writeFile(file, good.replace('model = "gpt-4o-mini"', 'model = "gpt-4o-mini"\n    temperature = "hot"'));
    await page.waitForFunction(() => document.querySelector('#notices li.failed pre')?.textContent?.includes('main.ww:'), { timeout: 30_000 });
    const details = await page.$eval('#notices li.failed pre', (element) => element.textContent ?? '');
    expect(details).toMatch(/main\.ww:3:\d+: error WW\d+: .*temperature/);
    expect(details).toContain('temperature = "hot"');
    await page.screenshot({ path: path.join(shots, '5-reload-failed.png'), fullPage: true });
    await writeFile(file, good);
    await page.waitForFunction(() => document.querySelector('#notices li:last-child')?.className === 'reloaded', { timeout: 30_000 });
    expect(await page.$eval('#notices li:last-child', (element) => element.textContent)).toMatch(/reloaded in \d+ ms \(main\.ww\)/);
  });

  it('lists the dead letters (none here)', async () => {
    await page.click('#refresh-dead');
    await page.waitForFunction(() => document.querySelector('#dead-letters tbody')?.textContent?.includes('No dead letters.'));
    await page.screenshot({ path: path.join(shots, '6-dead-letters.png'), fullPage: true });
  });
});

describe('woodwork up --console', () => {
  const redisUrl = process.env.WOODWORK_TEST_REDIS_URL;
  const suite = redisUrl || process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1' ? it : it.skip;

  suite('serves the console of the processes once they are ready, talking to them over the broker', { timeout: 120_000 }, async () => {
    if (!redisUrl) throw new Error('WOODWORK_TEST_REDIS_URL is not set: run `eval "$(bash tools/services.sh env)"` (npm test does it)');
    await ensureConsoleBuilt();
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-cli-up-console-'));
    await writeFile(path.join(dir, 'main.ww'), 'shout = transform uppercase {}\n');
    const namespace = `console-${path.basename(dir)}`;
    const child = spawnCli(['up', '--bus', redisUrl, '--namespace', namespace, '--console'], { cwd: dir });
    const registry = await createRedisHostRegistry({ url: redisUrl, namespace, ttlMs: 120_000 });
    try {
      const link = (await child.waitFor(/console listening on (http:\/\/127\.0\.0\.1:\d+\/#token=\S+)/, { timeoutMs: 90_000 }))[1]!;
      const { origin, hash } = new URL(link);
      const auth = { authorization: `Bearer ${new URLSearchParams(hash.slice(1)).get('token')}`, 'content-type': 'application/json' };
      const topology = await (await fetch(`${origin}/api/topology`, { headers: auth })).json();
      expect(topology.components).toEqual([expect.objectContaining({ name: 'shout', kind: 'transform', type: 'uppercase' })]);
      // The turn runs in the `shout` process; the console's client only sends and reads.
      const turn = await (await fetch(`${origin}/v1/sessions`, { method: 'POST', headers: auth, body: JSON.stringify({ input: 'hello up' }) })).json();
      expect(turn).toMatchObject({ ok: true, reply: 'HELLO UP' });
      expect(await (await fetch(`${origin}/api/dead-letters`, { headers: auth })).json()).toEqual({ dead_letters: [] });

      // A second instance of `shout`, on another machine as far as the registry can tell: the
      // console counts the live records of each component, wherever they run.
      const now = Date.now();
      await registry.put({ instance: 'shout-elsewhere-1', unit: 'shout', components: ['shout'], state: 'ready', pid: 4242, hostname: 'elsewhere', port: 9999, bus: 'redis', startedAt: now, stats: {} });
      const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
      try {
        const page = await browser.newPage();
        await page.setViewport({ width: 1280, height: 900 });
        await page.goto(link);
        await page.waitForFunction(() => document.querySelector('#components button[data-component="shout"]')?.textContent?.startsWith('shout: 2 instances · ready'), { timeout: 20_000 });
        expect(await page.$eval('#graph', (element) => element.getAttribute('aria-label'))).toMatch(/shout \(transform uppercase, 2 instances · ready, queue (\d+|–) · 0 failed\)/);
        // The turn above ran in the `shout` process: its heartbeat (every 5 s) brings the count, its metrics event the latency.
        await page.type('#message', 'hello browser');
        await page.keyboard.press('Enter');
        await page.waitForFunction(() => document.querySelector('#messages li.assistant .text')?.textContent === 'HELLO BROWSER', { timeout: 20_000 });
        await page.waitForFunction(
          () => {
            const cell = (name: string) => document.querySelector(`#metrics-table tbody tr[data-component="shout"] [data-metric="${name}"]`)?.textContent;
            return cell('instances') === '2' && cell('handled-per-s') !== undefined && cell('handled-per-s') !== '0' && cell('p50') !== '—';
          },
          { timeout: 30_000 },
        );
        expect(await page.$$eval('#metrics .chart canvas', (canvases) => canvases.length)).toBeGreaterThanOrEqual(4);
        await page.click('#components button[data-component="shout"]');
        await page.waitForFunction(() => document.querySelectorAll('#detail-instances tbody tr').length === 2);
        expect(await page.$eval('#detail-facts dd[data-fact="instances"]', (element) => element.textContent)).toBe('2 (2 ready) · live hosts in the registry');
        const hosts = await page.$$eval('#detail-instances tbody tr', (rows) => rows.map((row) => row.querySelector('td:nth-child(2)')?.textContent));
        expect(hosts).toContain('elsewhere');
        await mkdir(shots, { recursive: true });
        await page.screenshot({ path: path.join(shots, '11-up-instances-metrics.png'), fullPage: true });
      } finally {
        await browser.close();
      }
    } finally {
      await registry.remove('shout-elsewhere-1').catch(() => undefined);
      await registry.close();
      child.process.kill('SIGTERM');
      await child.exited;
    }
  });

  it('refuses --console with --detach, saying why', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-cli-up-console-'));
    await writeFile(path.join(dir, 'main.ww'), 'shout = transform uppercase {}\n');
    const child = spawnCli(['up', '--bus', 'redis://127.0.0.1:1', '--detach', '--console'], { cwd: dir });
    expect(await child.exited).toBe(2);
    expect(child.output()).toContain('--console needs `woodwork up` in the foreground');
  });
});

describe('woodwork dev --console, approvals', () => {
  let server: ScriptedServer;
  let child: CliChild;
  let browser: Browser;

  afterAll(async () => {
    await browser?.close();
    child?.process.kill('SIGTERM');
    await child?.exited;
    await server?.close();
  });

  it('shows a paused tool call with Approve and Deny, and the approved call goes on to the answer', { timeout: 120_000 }, async () => {
    server = await startScriptedServer({ apiKey: 'sk-console' });
    server.enqueue({ toolCalls: [{ name: 'pay', arguments: { amount: 5 } }] }, { text: 'Paid 5 euros.' });
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-cli-console-approval-'));
    await writeFile(
      path.join(dir, 'main.ww'),
      `assistant = agent llm {\n    model = model\n    tools = [payments]\n}\nmodel = llm openai {\n    model = "gpt-4o-mini"\n    api_key = "sk-console"\n    base_url = "${server.openaiBaseUrl}"\n}\npayments = api functions {\n    path = "pay.ts"\n    approval = true\n}\n`,
    );
    await writeFile(path.join(dir, 'pay.ts'), '/** Pays an amount in euros. */\nexport function pay(amount: number): string {\n  return `paid ${amount}`;\n}\n');
    await ensureConsoleBuilt();
    child = spawnCli(['dev', '--console'], { cwd: dir });
    const link = (await child.waitFor(/console listening on (http:\/\/127\.0\.0\.1:\d+\/#token=\S+)/, { timeoutMs: 60_000 }))[1]!;
    browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    await page.goto(link);
    await page.waitForSelector('input[id="message"]');
    await page.type('#message', 'Pay 5 euros');
    await page.keyboard.press('Enter');
    const approve = await page.waitForSelector('button[aria-label="Approve pay"]', { timeout: 30_000 });
    expect(await page.$eval('[role="group"][aria-label="Approval for pay"] p', (element) => element.textContent)).toBe('pay({"amount":5}) waits for your approval.');
    await page.screenshot({ path: path.join(shots, '7-approval.png') });
    await approve!.click();
    await page.waitForFunction(() => [...document.querySelectorAll('#messages li.assistant .text')].some((element) => element.textContent === 'Paid 5 euros.'), { timeout: 30_000 });
    expect(await page.$$eval('#messages li.user', (items) => items.map((item) => item.textContent))).toEqual(['Pay 5 euros', 'Approved pay']);
    // The model's second call carried the observation of the call that was made once approved.
    expect(JSON.stringify(server.requests.at(-1)?.body)).toContain('paid 5');
    await page.screenshot({ path: path.join(shots, '8-approved.png') });
  });
});

describe('the console, dead letters', () => {
  it('lists dead letters with their reason and attempts, and re-drives one from the page', { timeout: 60_000 }, async () => {
    // A memory bus that serialises records, so a record that is not an envelope can be written to it.
    const url = `memory://console-dead-${randomUUID().slice(0, 8)}?serialize=true`;
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-cli-console-dead-'));
    await writeFile(path.join(dir, 'main.ww'), 'shout = transform uppercase {}\n');
    const loaded = await loadTopology(path.join(dir, 'main.ww'), { mode: 'run', env: {} });
    await using runtime = createRuntime(loaded.resolved!, { bus: url, logger: silentLogger });
    await runtime.start();
    await ensureConsoleBuilt();
    await using web = await startConsole(runtime);
    const topic = componentTopic(runtime.namespace, 'shout');
    // A record that is not an envelope: the component's subscription dead-letters it at once.
    await createMemoryAdapter(new URL(url)).doPublish(topic, [{ messageId: randomUUID(), key: 'raw-1', body: new TextEncoder().encode('this is {not json') }]);
    // A message its handlers gave up on, as the bus records one after its attempts.
    const sessionId = await runtime.create();
    const replies: string[] = [];
    const reading = (async () => {
      for await (const event of runtime.events(sessionId)) if (event.event_type === 'session.replied') replies.push(JSON.stringify(event.payload));
    })();
    const original = await runtime.bus.publish(`scratch-${randomUUID().slice(0, 8)}`, { session_id: sessionId, event_type: 'input.received', component_source: 'runtime', component_target: 'shout', payload: { input: 'again' } });
    const letter: DeadLetterPayload = {
      envelope: original,
      raw_body: null,
      topic,
      group: componentGroup('shout'),
      position: '0',
      attempts: 3,
      last_error: { name: 'Error', message: 'boom', code: 'WW_BUS_HANDLER_FAILED' },
      dead_lettered_at: new Date().toISOString(),
    };
    await runtime.bus.publish(deadLetterTopic(topic, componentGroup('shout')), { session_id: sessionId, event_type: DEAD_LETTER_EVENT_TYPE, component_source: 'test', payload: letter });

    const browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    try {
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      await page.goto(web.link);
      const rows = async () => page.$$eval('#dead-letters tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
      const deadline = Date.now() + 20_000;
      while ((await rows()).filter((cells) => cells[0] === 'shout').length < 2) {
        if (Date.now() > deadline) throw new Error(`the dead letters are not listed: ${JSON.stringify(await rows())}`);
        await page.click('#refresh-dead');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const listed = await rows();
      const malformed = listed.find((cells) => cells[3]!.startsWith('WW_BUS_INVALID_ENVELOPE'))!;
      expect(malformed.slice(0, 3)).toEqual(['shout', '—', '1']);
      expect(malformed[5]).toBe('not an envelope: cannot be re-driven');
      const failed = listed.find((cells) => cells[3] === 'WW_BUS_HANDLER_FAILED: boom')!;
      expect(failed.slice(0, 3)).toEqual(['shout', 'input.received', '3']);
      await mkdir(shots, { recursive: true });
      await page.screenshot({ path: path.join(shots, '9-dead-letters.png'), fullPage: true });
      const index = listed.indexOf(failed) + 1;
      await page.click(`button[aria-label="Re-drive dead letter ${index} of shout"]`);
      await page.waitForFunction(() => document.querySelector('#dead-status')?.textContent === 're-drove 1 message to shout', { timeout: 10_000 });
      // The original went back to `shout`, which handled it this time.
      const until = Date.now() + 10_000;
      while (!replies.some((reply) => reply.includes('AGAIN')) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(replies.join()).toContain('AGAIN');
      await page.waitForFunction(() => ![...document.querySelectorAll('#dead-letters tbody td')].some((td) => td.textContent === 'WW_BUS_HANDLER_FAILED: boom'), { timeout: 10_000 });
    } finally {
      await browser.close();
      await runtime.end(sessionId).catch(() => undefined);
      await reading.catch(() => undefined);
    }
  });
});
