/// <reference types="vite/client" />
// The console page: the topology as a graph (cytoscape, laid out by its breadth-first layout) with
// each component's live instances, a chat that streams replies from the gateway's SSE, each turn's
// events as a timeline, the metrics of the last minutes (uPlot charts), and the dead letters. Plain
// DOM: the page is small, and every control is a native element with its own name.
import cytoscape from 'cytoscape';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

interface Envelope {
  message_id: string;
  event_type: string;
  component_source: string;
  timestamp: string;
  trace?: { traceparent?: string } | null;
  payload: any;
  is_final?: boolean;
}

const TOKEN_KEY = 'woodwork-console-token';
const fromLink = new URLSearchParams(location.hash.slice(1)).get('token');
if (fromLink) {
  sessionStorage.setItem(TOKEN_KEY, fromLink);
  history.replaceState(null, '', location.pathname);
}
const token = sessionStorage.getItem(TOKEN_KEY) ?? '';
const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

const $ = <T extends HTMLElement>(selector: string) => document.querySelector(selector) as T;
const status = (text: string) => ($('#status').textContent = text);

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(path, { ...init, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body?.error?.message ?? `${path} answered ${response.status}`);
  return body as T;
}

const turnOf = (event: Envelope) => event.trace?.traceparent?.split('-')[1];

function textOf(payload: any): string {
  if (typeof payload === 'string') return payload;
  if (payload && typeof payload === 'object') for (const key of ['text', 'output', 'content', 'response', 'input']) if (typeof payload[key] === 'string') return payload[key];
  return payload == null ? '' : JSON.stringify(payload);
}

// ---------------------------------------------------------------------------------------------
// The topology

const KIND_COLOURS: Record<string, string> = { input: '#2f855a', output: '#2f855a', llm: '#2b6cb0', agent: '#6b46c1', api: '#c05621', mcp: '#c05621', memory: '#718096', knowledge_base: '#718096' };

interface ComponentView {
  name: string;
  kind: string;
  type: string;
}

/** A component's live state, from `/api/state`. */
interface ComponentLive {
  instances: number;
  ready: number;
  handled: number;
  failed: number;
  queue_depth: number | null;
  hosts?: { instance: string; hostname: string; pid: number; state: string; heartbeat_at: number }[];
}

let graph: cytoscape.Core | undefined;
let topologyComponents: ComponentView[] = [];
let liveComponents: Record<string, ComponentLive> = {};
let instancesFrom: 'embedded' | 'registry' = 'embedded';
/** The component shown in the detail and the charts. */
let selected: string | undefined;

const plural = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`;
const instancesText = (live: ComponentLive | undefined) =>
  !live ? 'not running' : `${plural(live.instances, 'instance')}${live.ready === live.instances ? (live.instances > 0 ? ' · ready' : '') : ` · ${live.ready} ready`}`;
const countersText = (live: ComponentLive | undefined) => (!live ? '' : `queue ${live.queue_depth ?? '–'} · ${live.failed} failed`);
const nodeLabel = (c: ComponentView) => {
  const live = liveComponents[c.name];
  return `${c.name}\n${c.kind} ${c.type}\n${instancesText(live)}${live ? `\n${countersText(live)}` : ''}`;
};

async function drawTopology(): Promise<void> {
  const view = await api<{ file: string; components: ComponentView[]; edges: { from: string; to: string; kind: string; key?: string }[] }>('/api/topology');
  $('#project').textContent = view.file.split('/').slice(-2).join('/');
  topologyComponents = view.components;
  selected ??= view.components[0]?.name;
  graph = cytoscape({
    container: $('#graph'),
    elements: [
      ...view.components.map((c) => ({ data: { id: c.name, label: nodeLabel(c), colour: KIND_COLOURS[c.kind] ?? '#4a5568' } })),
      ...view.edges.map((e, i) => ({ data: { id: `e${i}`, source: e.from, target: e.to, label: e.kind === 'reference' ? e.key : '' }, classes: e.kind })),
    ],
    layout: { name: 'breadthfirst', directed: true, spacingFactor: 1.1, padding: 12 },
    style: [
      { selector: 'node', style: { shape: 'round-rectangle', width: 140, height: 64, 'background-color': 'data(colour)', label: 'data(label)', color: '#fff', 'font-size': 10, 'text-wrap': 'wrap', 'text-valign': 'center', 'text-halign': 'center' } },
      { selector: 'node.failing', style: { 'border-width': 3, 'border-color': '#e53e3e' } },
      { selector: 'node.down', style: { 'background-opacity': 0.45 } },
      { selector: 'node:selected', style: { 'overlay-color': '#2b6cb0', 'overlay-opacity': 0.18, 'overlay-padding': 4 } },
      { selector: 'edge', style: { width: 2, 'line-color': '#a0aec0', 'target-arrow-color': '#a0aec0', 'target-arrow-shape': 'triangle', 'curve-style': 'bezier', label: 'data(label)', 'font-size': 9, color: '#4a5568' } },
      { selector: 'edge.reference', style: { 'line-style': 'dashed' } },
    ],
    userZoomingEnabled: true,
    maxZoom: 1.4,
  });
  // A node chosen in the graph is the component of the detail and the charts (the list below does the same from the keyboard).
  graph.on('tap', 'node', (event) => select(event.target.id()));
  await Promise.all([refreshState(), refreshMetrics().catch(() => undefined)]);
  setInterval(() => {
    void refreshState().catch(() => undefined);
    void refreshMetrics().catch(() => undefined);
  }, 2_000);
}

function select(name: string): void {
  selected = name;
  renderComponents();
  renderMetrics();
}

let shownNotice: string | undefined;

async function refreshState(): Promise<void> {
  const state = await api<{
    health: { state: string; bus: { adapter: string; ready: boolean }; openTurns: number };
    components: Record<string, ComponentLive>;
    instances_from: 'embedded' | 'registry';
    notices: { at: string; ok: boolean; text: string; details?: string }[];
  }>('/api/state');
  if (state.notices.length > 0 && state.notices.at(-1)!.at !== shownNotice) {
    shownNotice = state.notices.at(-1)!.at;
    $('#notices').replaceChildren(
      ...state.notices.map((notice) => {
        const item = document.createElement('li');
        item.className = notice.ok ? 'reloaded' : 'failed';
        item.textContent = `${new Date(notice.at).toLocaleTimeString()} ${notice.text}`;
        if (notice.details) {
          const details = document.createElement('pre');
          details.textContent = notice.details;
          item.append(details);
        }
        return item;
      }),
    );
  }
  status(`${state.health.state} · bus ${state.health.bus.adapter}${state.health.bus.ready ? ' ready' : ' not ready'} · ${state.health.openTurns} open turns`);
  liveComponents = state.components;
  instancesFrom = state.instances_from;
  renderComponents();
}

/** Each component's state on its node, in the list (one button each: it shows the component's detail) and in the detail. */
function renderComponents(): void {
  const names = [...new Set([...topologyComponents.map((c) => c.name), ...Object.keys(liveComponents)])];
  const summary = (name: string) => {
    const live = liveComponents[name];
    if (!live) return `${name}: not running`;
    return `${name}: ${instancesText(live)}, ${live.handled} handled, ${live.failed} failed${live.queue_depth === null ? '' : `, queue ${live.queue_depth}`}`;
  };
  if (graph) {
    for (const component of topologyComponents) {
      const node = graph.getElementById(component.name);
      const live = liveComponents[component.name];
      node.data('label', nodeLabel(component));
      node.toggleClass('failing', (live?.failed ?? 0) > 0);
      node.toggleClass('down', !live || live.instances === 0);
      if (component.name === selected) node.select();
      else node.unselect();
    }
    $('#graph').setAttribute(
      'aria-label',
      `The topology as a graph: ${topologyComponents.map((c) => `${c.name} (${[`${c.kind} ${c.type}`, instancesText(liveComponents[c.name]), countersText(liveComponents[c.name])].filter(Boolean).join(', ')})`).join('; ')}`,
    );
  }
  $('#components').replaceChildren(
    ...names.map((name) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.component = name;
      button.textContent = summary(name);
      button.setAttribute('aria-pressed', String(name === selected));
      button.setAttribute('aria-controls', 'component-detail');
      if ((liveComponents[name]?.failed ?? 0) > 0) button.classList.add('failing');
      button.addEventListener('click', () => {
        select(name);
        ($(`#components button[data-component="${CSS.escape(name)}"]`) as HTMLButtonElement | null)?.focus();
      });
      item.append(button);
      return item;
    }),
  );
  renderDetail();
}

function renderDetail(): void {
  const panel = $('#component-detail');
  const component = topologyComponents.find((c) => c.name === selected);
  if (!selected || !component) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  const live = liveComponents[selected];
  const totals = metrics?.components[selected]?.totals;
  $('#detail-title').textContent = `${component.name} · ${component.kind} ${component.type}`;
  const facts: [key: string, term: string, value: string][] = [
    ['instances', 'Instances', live ? `${live.instances} (${live.ready} ready) · ${instancesFrom === 'registry' ? 'live hosts in the registry' : 'in this process'}` : 'not running'],
    ['handled', 'Handled', live ? `${live.handled} (${live.failed} failed)` : '—'],
    ['queue', 'Queue depth', live?.queue_depth == null ? '—' : String(live.queue_depth)],
  ];
  if (totals) {
    facts.push(
      ['rate', 'Last minute', `${formatRate(totals.handled_per_s)} handled/s`],
      ['latency', 'Latency (15 min)', totals.p50_ms === null ? 'no steps yet' : `p50 ${formatMs(totals.p50_ms)} · p95 ${formatMs(totals.p95_ms)} · p99 ${formatMs(totals.p99_ms)} ms`],
      ['tokens', 'Tokens (15 min)', `${totals.input_tokens} in · ${totals.output_tokens} out · ${formatCost(totals.cost)}`],
    );
  }
  $('#detail-facts').replaceChildren(
    ...facts.flatMap(([key, term, value]) => {
      const dt = document.createElement('dt');
      dt.textContent = term;
      const dd = document.createElement('dd');
      dd.textContent = value;
      dd.dataset.fact = key;
      return [dt, dd];
    }),
  );
  const table = $<HTMLTableElement>('#detail-instances');
  table.hidden = !live?.hosts;
  if (live?.hosts) {
    $('#detail-instances tbody').replaceChildren(
      ...live.hosts.map((host) => {
        const row = document.createElement('tr');
        for (const text of [host.instance, host.hostname, String(host.pid), host.state, `${Math.max(0, Math.round((Date.now() - host.heartbeat_at) / 1000))} s ago`]) {
          const cell = document.createElement('td');
          cell.textContent = text;
          row.append(cell);
        }
        return row;
      }),
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Metrics: per component over the last minutes, from `/api/metrics` (the server's rolling window)

interface Series {
  handled_per_s: number[];
  errors_per_s: number[];
  steps_per_s: number[];
  p50_ms: (number | null)[];
  p95_ms: (number | null)[];
  p99_ms: (number | null)[];
  input_tokens: number[];
  output_tokens: number[];
  cost: number[];
  totals: {
    handled: number;
    failed: number;
    steps: number;
    handled_per_s: number;
    p50_ms: number | null;
    p95_ms: number | null;
    p99_ms: number | null;
    input_tokens: number;
    output_tokens: number;
    cost: number;
  };
}

let metrics: { bucket_ms: number; times: number[]; components: Record<string, Series> } | undefined;
const charts = new Map<string, uPlot>();

const formatRate = (value: number) => (value === 0 ? '0' : value < 0.01 ? '<0.01' : value.toFixed(2));
const formatMs = (value: number | null) => (value === null ? '—' : value === 0 ? '0' : value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : String(Math.round(value)));
const formatCost = (value: number) =>
  value === 0 ? '$0' : value < 0.000001 ? `$${value.toExponential(1)}` : `$${value < 0.01 ? String(Number(value.toFixed(6))) : value.toFixed(4)}`;

async function refreshMetrics(): Promise<void> {
  metrics = await api('/api/metrics');
  renderMetrics();
}

const CHARTS: { id: string; series: { label: string; key: keyof Omit<Series, 'totals'>; stroke: string; fill?: string }[]; value: (v: number | null) => string; points?: boolean }[] = [
  {
    id: 'chart-throughput',
    series: [
      { label: 'handled/s', key: 'handled_per_s', stroke: '#2b6cb0', fill: 'rgba(43,108,176,0.12)' },
      { label: 'errors/s', key: 'errors_per_s', stroke: '#e53e3e' },
    ],
    value: (v) => (v === null ? '—' : formatRate(v)),
  },
  {
    id: 'chart-latency',
    series: [
      { label: 'p50', key: 'p50_ms', stroke: '#2f855a' },
      { label: 'p95', key: 'p95_ms', stroke: '#c05621' },
      { label: 'p99', key: 'p99_ms', stroke: '#9b2c2c' },
    ],
    value: (v) => formatMs(v),
    points: true,
  },
  {
    id: 'chart-tokens',
    series: [
      { label: 'in', key: 'input_tokens', stroke: '#6b46c1', fill: 'rgba(107,70,193,0.12)' },
      { label: 'out', key: 'output_tokens', stroke: '#d69e2e' },
    ],
    value: (v) => (v === null ? '—' : String(v)),
  },
  { id: 'chart-cost', series: [{ label: 'US$', key: 'cost', stroke: '#2c7a7b', fill: 'rgba(44,122,123,0.12)' }], value: (v) => (v === null ? '—' : formatCost(v)) },
];

function chartWidth(container: HTMLElement): number {
  return Math.max(260, Math.floor(container.getBoundingClientRect().width || 300));
}

function renderMetrics(): void {
  if (!metrics) return;
  const names = Object.keys(metrics.components);
  // The component choice: every component, the selected one chosen.
  const choice = $<HTMLSelectElement>('#metrics-component');
  if ([...choice.options].map((option) => option.value).join('\n') !== names.join('\n')) {
    choice.replaceChildren(
      ...names.map((name) => {
        const option = document.createElement('option');
        option.value = name;
        option.textContent = name;
        return option;
      }),
    );
  }
  if (!selected || !names.includes(selected)) selected = names[0];
  if (selected) choice.value = selected;

  $('#metrics-table tbody').replaceChildren(
    ...Object.entries(metrics.components).map(([name, series]) => {
      const row = document.createElement('tr');
      row.dataset.component = name;
      if (name === selected) row.className = 'selected';
      const t = series.totals;
      const live = liveComponents[name];
      const cells: [string, string][] = [
        ['component', name],
        ['instances', live ? String(live.instances) : '0'],
        ['handled-per-s', formatRate(t.handled_per_s)],
        ['p50', formatMs(t.p50_ms)],
        ['p95', formatMs(t.p95_ms)],
        ['p99', formatMs(t.p99_ms)],
        ['tokens-in', String(t.input_tokens)],
        ['tokens-out', String(t.output_tokens)],
        ['cost', formatCost(t.cost)],
        ['errors', String(t.failed)],
      ];
      for (const [key, text] of cells) {
        const cell = document.createElement(key === 'component' ? 'th' : 'td');
        if (key === 'component') cell.setAttribute('scope', 'row');
        cell.dataset.metric = key;
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );

  const series = selected ? metrics.components[selected] : undefined;
  if (!series) return;
  const times = metrics.times;
  for (const spec of CHARTS) {
    const container = $(`#${spec.id}`);
    const data = [times, ...spec.series.map((s) => series[s.key] as (number | null)[])] as uPlot.AlignedData;
    let chart = charts.get(spec.id);
    if (!chart) {
      chart = new uPlot(
        {
          width: chartWidth(container),
          height: 160,
          scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(max ?? 0, spec.id === 'chart-cost' ? 0.00001 : 1)] } },
          series: [
            {},
            ...spec.series.map((s) => ({
              label: s.label,
              stroke: s.stroke,
              width: 2,
              ...(s.fill ? { fill: s.fill } : {}),
              value: (_u: uPlot, v: number | null) => spec.value(v),
              ...(spec.points ? { points: { show: true, size: 5 } } : {}),
            })),
          ],
          axes: [{}, { size: spec.id === 'chart-cost' ? 78 : 56, values: (_u, splits) => splits.map((v) => spec.value(v)) }],
          cursor: { drag: { x: false, y: false } },
        },
        data,
        container,
      );
      charts.set(spec.id, chart);
    } else {
      chart.setData(data);
    }
    // The canvas says nothing to a screen reader: its container's name carries the figures.
    const caption = $(`#${spec.id}-title`).textContent ?? spec.id;
    const latest = spec.series.map((s) => `${s.label} ${spec.value(series[s.key].findLast((v) => v !== null && v !== 0) ?? 0)}`).join(', ');
    const minutes = Math.max(1, Math.round((times.length * metrics.bucket_ms) / 60_000));
    container.setAttribute('aria-label', `${caption} of ${selected} over the last ${plural(minutes, 'minute')}; latest non-zero: ${latest}`);
    container.removeAttribute('aria-labelledby');
  }
}

window.addEventListener('resize', () => {
  for (const [id, chart] of charts) chart.setSize({ width: chartWidth($(`#${id}`)), height: 160 });
});
$('#metrics-component').addEventListener('change', (event) => select((event.target as HTMLSelectElement).value));

// ---------------------------------------------------------------------------------------------
// The chat

let sessionId: string | undefined;
let reader: AbortController | undefined;
const turns = new Map<string, { events: Envelope[]; item: HTMLLIElement; number: number; streamed: string }>();
let pending: { item: HTMLLIElement; number: number } | undefined;
let turnCount = 0;

async function newSession(): Promise<string> {
  reader?.abort();
  const session = await api<{ session_id: string }>('/v1/sessions', { method: 'POST', body: '{}' });
  sessionId = session.session_id;
  $('#session').textContent = `session ${sessionId}`;
  $('#messages').replaceChildren();
  turns.clear();
  reader = new AbortController();
  // Listening before the first message goes, so its first chunks are seen.
  const response = await fetch(`/v1/sessions/${sessionId}/events?from=live`, { headers, signal: reader.signal });
  void readEvents(response, onEvent).catch(() => undefined);
  return sessionId;
}

/** Server-Sent Events, read with fetch: EventSource cannot send the token. */
async function readEvents(response: Response, each: (event: Envelope) => void): Promise<void> {
  if (!response.body) return;
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trimStart()).join('\n');
      if (data) each(JSON.parse(data) as Envelope);
    }
  }
}

/** Metrics events of the session: they carry no trace id, so a timeline takes those of its time span. */
const metricsEvents: Envelope[] = [];

function onEvent(event: Envelope): void {
  if (event.event_type === 'metrics.component_performance') metricsEvents.push(event);
  const id = turnOf(event);
  if (!id) return;
  let turn = turns.get(id);
  if (!turn) {
    if (!pending) return;
    turn = { events: [], item: pending.item, number: pending.number, streamed: '' };
    pending = undefined;
    turns.set(id, turn);
  }
  turn.events.push(event);
  const text = turn.item.querySelector('.text')!;
  if (event.event_type === 'stream.chunk' && event.payload?.data_type === 'text' && typeof event.payload.data === 'string') {
    turn.streamed += event.payload.data;
    text.textContent = turn.streamed;
  } else if (event.event_type === 'session.replied') {
    text.textContent = textOf(event.payload);
  } else if (event.event_type === 'agent.error') {
    turn.item.classList.add('error');
    text.textContent = `${event.payload?.error?.code ?? 'error'}: ${event.payload?.error?.message ?? ''}`;
  } else if (event.event_type === 'tool.approval_requested') {
    turn.item.append(approvalControls(event.payload));
  } else if (event.event_type === 'turn.completed') {
    turn.item.setAttribute('aria-busy', 'false');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Timeline';
    button.setAttribute('aria-label', `Timeline of turn ${turn.number}`);
    button.addEventListener('click', () => void showTimeline(id).catch((error: Error) => status(error.message)));
    turn.item.append(button);
  }
}

/** A paused tool call: the answer is the session's next input, `{ approval: { id, approved } }`. */
function approvalControls(request: { approval_id: string; tool: string; input: unknown; text?: string }): HTMLElement {
  const box = document.createElement('div');
  box.setAttribute('role', 'group');
  box.setAttribute('aria-label', `Approval for ${request.tool}`);
  const question = document.createElement('p');
  question.textContent = `${request.tool}(${JSON.stringify(request.input)}) waits for your approval.`;
  box.append(question);
  for (const approved of [true, false]) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = approved ? 'Approve' : 'Deny';
    button.setAttribute('aria-label', `${approved ? 'Approve' : 'Deny'} ${request.tool}`);
    button.addEventListener('click', () => {
      for (const control of box.querySelectorAll('button')) control.disabled = true;
      send({ approval: { id: request.approval_id, approved } }, approved ? `Approved ${request.tool}` : `Denied ${request.tool}`).catch((error: Error) => status(`could not answer: ${error.message}`));
    });
    box.append(button);
  }
  return box;
}

async function send(input: unknown, shown: string): Promise<void> {
  const id = sessionId ?? (await newSession());
  const mine = document.createElement('li');
  mine.className = 'user';
  mine.textContent = shown;
  const reply = document.createElement('li');
  reply.className = 'assistant';
  reply.setAttribute('aria-busy', 'true');
  reply.setAttribute('data-turn', String(++turnCount));
  const body = document.createElement('div');
  body.className = 'text';
  body.textContent = '…';
  reply.append(body);
  $('#messages').append(mine, reply);
  pending = { item: reply, number: turnCount };
  const accepted = await api<{ turn_id: string }>(`/v1/sessions/${id}/messages`, { method: 'POST', body: JSON.stringify({ input, wait: false }) });
  if (!turns.has(accepted.turn_id) && pending?.item === reply) {
    turns.set(accepted.turn_id, { events: [], item: reply, number: turnCount, streamed: '' });
    pending = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// A turn's timeline

function details(event: Envelope): string {
  const p = event.payload ?? {};
  switch (event.event_type) {
    case 'tool.call':
    case 'agent.action':
      return `${p.tool}(${JSON.stringify(p.input)})`;
    case 'tool.observation':
      return `${p.tool} ${p.status ?? ''} in ${p.duration_ms ?? '?'} ms: ${textOf(p.output).slice(0, 200)}`;
    case 'agent.step_complete':
      return `step ${p.step}, ${p.finish_reason}${p.usage ? `, tokens ${p.usage.input_tokens} in / ${p.usage.output_tokens} out` : ''}`;
    case 'metrics.component_performance':
      return `${Math.round(p.processing_time_ms ?? 0)} ms${p.tokens_processed ? `, ${p.tokens_processed} tokens` : ''}${p.cost_estimate ? `, $${p.cost_estimate}` : ''}`;
    case 'stream.chunk':
      return event.is_final ? '(end of stream)' : JSON.stringify(p.data ?? '');
    case 'agent.error':
      return `${p.error?.code}: ${p.error?.message}`;
    case 'agent.thought':
      return p.thought ?? '';
    default:
      return textOf(p).slice(0, 200);
  }
}

/** The whole turn from the gateway (its kept history, ending after `turn.completed`), not only what this page saw live. */
async function showTimeline(id: string): Promise<void> {
  const turn = turns.get(id);
  if (!turn || !sessionId) return;
  const response = await fetch(`/v1/sessions/${sessionId}/events?turn_id=${id}`, { headers });
  const events: Envelope[] = [];
  await readEvents(response, (event) => void events.push(event));
  const from = Date.parse(events[0]?.timestamp ?? '');
  const until = Date.parse(events[events.length - 1]?.timestamp ?? '');
  const components = new Set(events.map((event) => event.component_source));
  // A step's event is written when the step has ended, which can be just after the turn completed.
  // Steps that carry the turn's trace are in `events` already.
  const seen = new Set(events.map((event) => event.message_id));
  const steps = metricsEvents.filter(
    (event) => !seen.has(event.message_id) && components.has(event.component_source) && Date.parse(event.timestamp) >= from && Date.parse(event.timestamp) <= until + 1_000,
  );
  turn.events = [...events, ...steps].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
  renderTimeline(turn.events, `Turn ${turn.number}`, ` · trace ${id}`);
}

/** A past session, read back from the bus log: every turn of it, in order. */
async function replaySession(id: string): Promise<void> {
  const { events } = await api<{ events: Envelope[] }>(`/api/sessions/${encodeURIComponent(id)}/replay`);
  renderTimeline(events, `Session ${id} (replayed from the bus log)`, '');
}

function renderTimeline(events: readonly Envelope[], title: string, suffix: string): void {
  const start = Date.parse(events[0]?.timestamp ?? '') || 0;
  const end = Date.parse(events[events.length - 1]?.timestamp ?? '') || start;
  // Every step's metrics event carries its tokens and cost (the console turns those events on).
  let tokens = 0;
  let cost = 0;
  for (const event of events) {
    if (event.event_type !== 'metrics.component_performance') continue;
    tokens += event.payload?.tokens_processed ?? 0;
    cost += event.payload?.cost_estimate ?? 0;
  }
  const usage = tokens > 0 ? `, ${tokens} tokens${cost > 0 ? `, $${cost.toFixed(6)}` : ''}` : '';
  $('#timeline-summary').textContent = `${title}: ${events.length} events in ${end - start} ms${usage}${suffix}`;
  $('#timeline tbody').replaceChildren(
    ...events.map((event) => {
      const row = document.createElement('tr');
      for (const [text, className] of [[String((Date.parse(event.timestamp) || start) - start), ''], [event.event_type, ''], [event.component_source, ''], [details(event), 'details']] as const) {
        const cell = document.createElement('td');
        cell.textContent = text;
        if (className) cell.className = className;
        row.append(cell);
      }
      return row;
    }),
  );
  $('#timeline-title').scrollIntoView({ block: 'nearest' });
}

// ---------------------------------------------------------------------------------------------
// Dead letters

async function refreshDeadLetters(): Promise<void> {
  const { dead_letters } = await api<{ dead_letters: { id: string; redrivable: boolean; component: string; event_type: string | null; attempts: number; error: { message?: string; code?: string }; dead_lettered_at: string }[] }>('/api/dead-letters');
  const rows = dead_letters.map((letter, index) => {
    const row = document.createElement('tr');
    for (const text of [letter.component, letter.event_type ?? '—', String(letter.attempts), `${letter.error?.code ? `${letter.error.code}: ` : ''}${letter.error?.message ?? ''}`, new Date(letter.dead_lettered_at).toLocaleTimeString()]) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    const actions = document.createElement('td');
    row.append(actions);
    if (!letter.redrivable) {
      actions.textContent = 'not an envelope: cannot be re-driven';
      return row;
    }
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Re-drive';
    button.setAttribute('aria-label', `Re-drive dead letter ${index + 1} of ${letter.component}`);
    button.addEventListener('click', () => {
      button.disabled = true;
      api<{ redriven: number }>('/api/dead-letters/redrive', { method: 'POST', body: JSON.stringify({ component: letter.component, ids: [letter.id] }) })
        .then((result) => ($('#dead-status').textContent = `re-drove ${result.redriven} message${result.redriven === 1 ? '' : 's'} to ${letter.component}`))
        .then(() => refreshDeadLetters())
        .catch((error: Error) => ($('#dead-status').textContent = `could not re-drive: ${error.message}`));
    });
    actions.append(button);
    return row;
  });
  if (rows.length === 0) {
    const row = document.createElement('tr');
    const cell = document.createElement('td');
    cell.colSpan = 6;
    cell.textContent = 'No dead letters.';
    row.append(cell);
    rows.push(row);
  }
  $('#dead-letters tbody').replaceChildren(...rows);
}

// ---------------------------------------------------------------------------------------------

$('#chat-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $<HTMLInputElement>('#message');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  send(text, text).catch((error: Error) => status(`could not send: ${error.message}`));
});
$('#replay-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const id = $<HTMLInputElement>('#replay-session').value.trim();
  if (id) replaySession(id).catch((error: Error) => status(`could not replay: ${error.message}`));
});
$('#new-session').addEventListener('click', () => void newSession().catch((error: Error) => status(error.message)));
$('#refresh-dead').addEventListener('click', () => void refreshDeadLetters().catch((error: Error) => status(error.message)));

if (!token) status('No token: open the link `woodwork dev --console` printed.');
else {
  drawTopology().catch((error: Error) => status(error.message));
  refreshDeadLetters().catch(() => undefined);
}
