// The console page: the topology as a graph (cytoscape, laid out by its breadth-first layout), a
// chat that streams replies from the gateway's SSE, each turn's events as a timeline, and the dead
// letters. Plain DOM: the page is small, and every control is a native element with its own name.
import cytoscape from 'cytoscape';

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

async function drawTopology(): Promise<void> {
  const view = await api<{ file: string; components: { name: string; kind: string; type: string }[]; edges: { from: string; to: string; kind: string; key?: string }[] }>('/api/topology');
  $('#project').textContent = view.file.split('/').slice(-2).join('/');
  cytoscape({
    container: $('#graph'),
    elements: [
      ...view.components.map((c) => ({ data: { id: c.name, label: `${c.name}\n${c.kind} ${c.type}`, colour: KIND_COLOURS[c.kind] ?? '#4a5568' } })),
      ...view.edges.map((e, i) => ({ data: { id: `e${i}`, source: e.from, target: e.to, label: e.kind === 'reference' ? e.key : '' }, classes: e.kind })),
    ],
    layout: { name: 'breadthfirst', directed: true, spacingFactor: 1.1, padding: 12 },
    style: [
      { selector: 'node', style: { shape: 'round-rectangle', width: 120, height: 44, 'background-color': 'data(colour)', label: 'data(label)', color: '#fff', 'font-size': 10, 'text-wrap': 'wrap', 'text-valign': 'center', 'text-halign': 'center' } },
      { selector: 'node.failing', style: { 'border-width': 3, 'border-color': '#e53e3e' } },
      { selector: 'edge', style: { width: 2, 'line-color': '#a0aec0', 'target-arrow-color': '#a0aec0', 'target-arrow-shape': 'triangle', 'curve-style': 'bezier', label: 'data(label)', 'font-size': 9, color: '#4a5568' } },
      { selector: 'edge.reference', style: { 'line-style': 'dashed' } },
    ],
    userZoomingEnabled: true,
    maxZoom: 1.4,
  });
  await refreshState();
  setInterval(() => void refreshState().catch(() => undefined), 2_000);
}

let shownNotice: string | undefined;

async function refreshState(): Promise<void> {
  const state = await api<{
    health: { state: string; bus: { adapter: string; ready: boolean }; openTurns: number };
    stats: Record<string, { handled: number; failed: number; queueDepth: number | null }>;
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
  const list = $('#components');
  list.replaceChildren(
    ...Object.entries(state.stats).map(([name, stats]) => {
      const item = document.createElement('li');
      item.textContent = `${name}: ${stats.handled} handled, ${stats.failed} failed${stats.queueDepth === null ? '' : `, queue ${stats.queueDepth}`}`;
      return item;
    }),
  );
}

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
  const steps = metricsEvents.filter((event) => components.has(event.component_source) && Date.parse(event.timestamp) >= from && Date.parse(event.timestamp) <= until + 1_000);
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
