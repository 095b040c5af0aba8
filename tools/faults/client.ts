/**
 * The harness's clients: sessions driven through the API gateway as an application would — a POST
 * that waits for the reply, and the session's Server-Sent Events read at the same time (from another
 * gateway when there are several, resumed with Last-Event-ID on whichever gateway answers after a
 * failure). Every input is unique (`<tag>-s<session>-m<n>`), and the reply of this topology is
 * `ECHO:<INPUT>`, so the client knows which input each reply answers and counts what it saw:
 *
 * - accepted: the gateway answered the POST (200 or 202), or the SSE stream showed the input's
 *   `input.received` (the POST's connection died after the gateway took it);
 * - lost: accepted, and no reply by the end (POST body nor SSE);
 * - duplicate replies: more than one `session.replied` (distinct message ids) for one input the
 *   client sent once (inputs it sent again are counted apart: the gateway has no idempotency key,
 *   so a resent input is a second turn);
 * - SSE repeats: the same event id sent twice on the stream (a resume that repeated itself);
 * - SSE missing: a reply the POST returned but the stream never showed;
 * - resent: POSTs whose connection failed before any sign of acceptance, sent again to another
 *   gateway (the only way a client can tell; a duplicate this causes is counted as such).
 */

const REPLY_PREFIX = 'echo:';

/** The key of an input (its first word): what the reply and the pipe's log line carry too. */
export const keyOf = (text: string) => text.trim().split(/\s+/)[0]!.toLowerCase();

interface Sse {
  id?: string;
  event?: string;
  data?: string;
}

interface Pending {
  readonly key: string;
  readonly sentAt: number;
  acceptedAt?: number;
  repliedAt?: number;
  postReply?: boolean;
  sseReply?: boolean;
  /** The turn completed with an error instead of a reply (a component failed): answered, not lost. */
  errored?: boolean;
  /** The client sent it more than once. */
  resent?: boolean;
  done?: () => void;
  accepted?: () => void;
}

export interface SessionTotals {
  sent: number;
  accepted: number;
  replied: number;
  lost: string[];
  duplicateReplies: number;
  sseRepeats: number;
  sseMissing: number;
  resent: number;
  postErrors: number;
  errorReplies: number;
  /** What the first error replies said (a few), so a failed run names its cause. */
  errorTexts: string[];
  /** Duplicate replies of inputs the client itself sent twice (after a POST died): not the system's. */
  resentDuplicates: number;
  /** Inputs the client sent once that got more than one reply. */
  duplicateKeys: string[];
}

export class GatewaySession {
  id = '';
  private gateway: number;
  private lastEventId: string | undefined;
  private stream: AbortController | undefined;
  private streaming = false;
  private readonly pending = new Map<string, Pending>();
  private readonly replyIds = new Map<string, Set<string>>();
  private readonly seenIds = new Set<string>();
  private readonly received = new Set<string>();
  /** First arrival time of each reply (by key), in order: what recovery times are computed from. */
  readonly replies: { key: string; at: number }[] = [];
  readonly latencies: number[] = [];
  readonly totals: SessionTotals = { sent: 0, accepted: 0, replied: 0, lost: [], duplicateReplies: 0, sseRepeats: 0, sseMissing: 0, resent: 0, postErrors: 0, errorReplies: 0, errorTexts: [], resentDuplicates: 0, duplicateKeys: [] };

  constructor(
    private readonly gateways: readonly string[],
    readonly index: number,
    private readonly options: { readonly replyTimeoutMs: number; readonly log?: (line: string) => void } = { replyTimeoutMs: 90_000 },
  ) {
    this.gateway = index % gateways.length;
  }

  /** Creates the session (trying every gateway for up to `timeoutMs`) and opens its event stream. */
  async open(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const base = this.gateways[(this.gateway + attempt) % this.gateways.length]!;
      try {
        const response = await fetch(`${base}/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(15_000) });
        if (response.status === 201) {
          this.id = ((await response.json()) as { session_id: string }).session_id;
          break;
        }
        await response.body?.cancel();
      } catch {
        // the gateway is down: the next one
      }
      if (Date.now() > deadline) throw new Error(`no gateway created a session within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    this.streaming = true;
    const connected = new Promise<void>((resolve) => void this.readEvents(resolve));
    await Promise.race([connected, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  }

  /** Reads the session's SSE from the "other" gateway, reconnecting (Last-Event-ID) until closed. */
  private async readEvents(onConnected: () => void): Promise<void> {
    let turn = this.gateways.length > 1 ? 1 : 0;
    while (this.streaming) {
      const base = this.gateways[(this.gateway + turn) % this.gateways.length]!;
      const controller = new AbortController();
      this.stream = controller;
      try {
        const headers: Record<string, string> = { accept: 'text/event-stream' };
        if (this.lastEventId) headers['last-event-id'] = this.lastEventId;
        const response = await fetch(`${base}/v1/sessions/${this.id}/events`, { headers, signal: controller.signal });
        if (response.status !== 200 || !response.body) throw new Error(`events answered ${response.status}`);
        let buffer = '';
        const decoder = new TextDecoder();
        for await (const bytes of response.body) {
          buffer += decoder.decode(bytes as Uint8Array, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (block.startsWith(': connected')) onConnected();
            const message: Sse = {};
            for (const line of block.split('\n')) {
              const colon = line.indexOf(':');
              if (colon <= 0) continue;
              const field = line.slice(0, colon);
              const value = line.slice(colon + 1).replace(/^ /, '');
              if (field === 'id') message.id = value;
              else if (field === 'event') message.event = value;
              else if (field === 'data') message.data = (message.data ? message.data + '\n' : '') + value;
            }
            if (message.id) this.onEvent(message);
          }
        }
      } catch {
        // the gateway went away, or we closed the stream
      }
      if (!this.streaming) break;
      turn++; // resume on the next gateway
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private onEvent(message: Sse): void {
    const id = message.id!;
    if (this.seenIds.has(id)) {
      this.totals.sseRepeats++;
      return;
    }
    this.seenIds.add(id);
    this.lastEventId = id;
    if (message.event !== 'session.replied' && message.event !== 'input.received') return;
    let envelope: { payload?: unknown };
    try {
      envelope = JSON.parse(message.data ?? '{}') as { payload?: unknown };
    } catch {
      return;
    }
    if (message.event === 'input.received') {
      const input = (envelope.payload as { input?: unknown } | null)?.input;
      if (typeof input === 'string') this.pending.get(keyOf(input))?.accepted?.();
      return;
    }
    const text = typeof envelope.payload === 'string' ? envelope.payload : JSON.stringify(envelope.payload);
    const lower = text.toLowerCase();
    if (!lower.startsWith(REPLY_PREFIX)) {
      this.noteError(text);
      return;
    }
    const key = keyOf(lower.slice(REPLY_PREFIX.length));
    const ids = this.replyIds.get(key) ?? new Set<string>();
    ids.add(id);
    this.replyIds.set(key, ids);
    const entry = this.pending.get(key);
    if (entry) entry.sseReply = true;
    this.gotReply(key);
  }

  private gotReply(key: string): void {
    if (this.received.has(key)) return;
    this.received.add(key);
    const now = Date.now();
    this.replies.push({ key, at: now });
    const entry = this.pending.get(key);
    if (entry) {
      entry.repliedAt = now;
      entry.acceptedAt ??= now;
      this.latencies.push(now - entry.sentAt);
      entry.done?.();
    }
  }

  /**
   * Sends one input and waits (up to the reply timeout) for its reply, by POST or by SSE. A POST
   * whose connection fails is sent again to another gateway unless the stream shows the gateway
   * took it. Resolves with whether the reply came.
   */
  async send(text: string): Promise<boolean> {
    const key = keyOf(text);
    const entry: Pending = { key, sentAt: Date.now() };
    this.pending.set(key, entry);
    this.totals.sent++;
    const replied = new Promise<void>((resolve) => (entry.done = resolve));
    const acceptedOnStream = new Promise<void>((resolve) => (entry.accepted = resolve));
    const deadline = entry.sentAt + this.options.replyTimeoutMs;
    let refused = false;
    while (entry.acceptedAt === undefined && entry.repliedAt === undefined && Date.now() < deadline) {
      const base = this.gateways[this.gateway]!;
      refused = false;
      try {
        const response = await fetch(`${base}/v1/sessions/${this.id}/messages`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ input: text }),
          signal: AbortSignal.timeout(Math.max(1_000, deadline - Date.now())),
        });
        if (response.status === 200 || response.status === 202) {
          entry.acceptedAt ??= Date.now();
          const body = (await response.json()) as { status: string; ok?: boolean; replies?: unknown[] };
          if (body.status === 'completed') {
            const reply = (body.replies ?? []).map((value) => (typeof value === 'string' ? value : JSON.stringify(value))).find((value) => value.toLowerCase().startsWith(REPLY_PREFIX));
            if (reply !== undefined && keyOf(reply.toLowerCase().slice(REPLY_PREFIX.length)) === key) {
              entry.postReply = true;
              this.gotReply(key);
            } else if (body.ok === false) {
              this.noteError(JSON.stringify(body));
              entry.errored = true;
              entry.done?.();
            }
          }
          break;
        }
        this.options.log?.(`session ${this.index}: POST ${key} answered ${response.status} ${(await response.text()).slice(0, 200)}`);
        this.totals.postErrors++;
      } catch (error) {
        this.totals.postErrors++;
        refused = (error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED';
        this.options.log?.(`session ${this.index}: POST ${key} failed: ${refused ? 'connection refused' : String((error as { cause?: unknown }).cause ?? error)}`);
      }
      // Did the gateway take it before it failed? The stream says so within a few seconds (a
      // refused connection never reached a gateway: send it elsewhere at once).
      const seen = !refused && (await Promise.race([acceptedOnStream.then(() => true), replied.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3_000))]));
      if (seen) {
        entry.acceptedAt ??= Date.now();
        break;
      }
      this.gateway = (this.gateway + 1) % this.gateways.length;
      this.totals.resent++;
      entry.resent = true;
      this.options.log?.(`session ${this.index}: resending ${key} to ${this.gateways[this.gateway]}`);
    }
    if (entry.acceptedAt !== undefined) this.totals.accepted++;
    const remaining = deadline - Date.now();
    if (entry.repliedAt === undefined && !entry.errored && remaining > 0) await Promise.race([replied, new Promise((resolve) => setTimeout(resolve, remaining))]);
    return entry.repliedAt !== undefined;
  }

  private noteError(text: string): void {
    this.totals.errorReplies++;
    if (this.totals.errorTexts.length < 3) this.totals.errorTexts.push(`session ${this.index}: ${text.slice(0, 400)}`);
  }

  /** Waits up to `ms` for the replies still missing (a late redelivery still counts). */
  async settle(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && [...this.pending.values()].some((entry) => entry.acceptedAt !== undefined && entry.repliedAt === undefined && !entry.errored)) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Final counts; call after `settle`. */
  finish(): SessionTotals {
    const totals = this.totals;
    totals.replied = [...this.pending.values()].filter((entry) => entry.repliedAt !== undefined).length;
    totals.lost = [...this.pending.values()].filter((entry) => entry.acceptedAt !== undefined && entry.repliedAt === undefined && !entry.errored).map((entry) => entry.key);
    const extra = (key: string) => Math.max(0, (this.replyIds.get(key)?.size ?? 0) - 1);
    const resentKeys = new Set([...this.pending.values()].filter((entry) => entry.resent).map((entry) => entry.key));
    totals.duplicateReplies = [...this.replyIds.keys()].filter((key) => !resentKeys.has(key)).reduce((sum, key) => sum + extra(key), 0);
    totals.duplicateKeys = [...this.replyIds.keys()].filter((key) => !resentKeys.has(key) && extra(key) > 0);
    totals.resentDuplicates = [...resentKeys].reduce((sum, key) => sum + extra(key), 0);
    totals.sseMissing = [...this.pending.values()].filter((entry) => entry.postReply && !this.replyIds.has(entry.key)).length;
    return totals;
  }

  /** Closes the event stream; with `end`, also DELETEs the session. */
  async close(end = false): Promise<void> {
    this.streaming = false;
    this.stream?.abort();
    if (!end) return;
    for (let attempt = 0; attempt < this.gateways.length; attempt++) {
      const base = this.gateways[(this.gateway + attempt) % this.gateways.length]!;
      try {
        const response = await fetch(`${base}/v1/sessions/${this.id}`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) });
        await response.body?.cancel();
        if (response.status === 204 || response.status === 404) return;
      } catch {
        // next gateway
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A steady stream of sessions

export interface TrafficOptions {
  readonly gateways: readonly string[];
  readonly sessions: number;
  /** Lowercase letters and digits: every input starts with it. */
  readonly tag: string;
  /** Pause between a reply and the next input of a session. Default 100 ms. */
  readonly thinkMs?: number;
  readonly replyTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

export interface TrafficResult extends SessionTotals {
  sessions: number;
  latencies: number[];
}

/**
 * `sessions` conversations at once, each sending its next input when the last one was answered
 * (or timed out), until `stop()`; `finish()` waits for what is still missing and sums up.
 */
export class Traffic {
  readonly clients: GatewaySession[];
  private sending = true;
  private loops: Promise<void>[] = [];
  /** Words appended to a session's next input (a poison, a slow call), taken once. */
  private readonly extra = new Map<number, string>();
  private counter = 0;

  constructor(private readonly options: TrafficOptions) {
    this.clients = Array.from({ length: options.sessions }, (_, index) => new GatewaySession(options.gateways, index, { replyTimeoutMs: options.replyTimeoutMs ?? 90_000, ...(options.log ? { log: options.log } : {}) }));
  }

  async start(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.open()));
    this.loops = this.clients.map((client) => this.run(client));
  }

  private async run(client: GatewaySession): Promise<void> {
    for (let m = 0; this.sending; m++) {
      const extra = this.extra.get(client.index);
      this.extra.delete(client.index);
      await client.send(`${this.options.tag}-s${client.index}-m${m}${extra ? ` ${extra}` : ''}`);
      this.counter++;
      await new Promise((resolve) => setTimeout(resolve, this.options.thinkMs ?? 100));
    }
  }

  /** Appends `words` to session `index`'s next input. */
  inject(index: number, words: string): void {
    this.extra.set(index, words);
  }

  /** Replies received so far, all sessions. */
  get replied(): number {
    return this.clients.reduce((sum, client) => sum + client.replies.length, 0);
  }

  async stop(settleMs = 60_000): Promise<TrafficResult> {
    this.sending = false;
    await Promise.all(this.loops);
    await Promise.all(this.clients.map((client) => client.settle(settleMs)));
    const totals = this.clients.map((client) => client.finish());
    await Promise.all(this.clients.map((client) => client.close(true)));
    const sum = (pick: (t: SessionTotals) => number) => totals.reduce((acc, t) => acc + pick(t), 0);
    return {
      sessions: this.clients.length,
      sent: sum((t) => t.sent),
      accepted: sum((t) => t.accepted),
      replied: sum((t) => t.replied),
      lost: totals.flatMap((t) => t.lost),
      duplicateReplies: sum((t) => t.duplicateReplies),
      sseRepeats: sum((t) => t.sseRepeats),
      sseMissing: sum((t) => t.sseMissing),
      resent: sum((t) => t.resent),
      postErrors: sum((t) => t.postErrors),
      errorReplies: sum((t) => t.errorReplies),
      errorTexts: totals.flatMap((t) => t.errorTexts),
      resentDuplicates: sum((t) => t.resentDuplicates),
      duplicateKeys: totals.flatMap((t) => t.duplicateKeys),
      latencies: this.clients.flatMap((client) => client.latencies),
    };
  }

  /**
   * Recovery after a fault from `at` to `end` (the same for an instant fault such as a SIGKILL): per
   * session, the time from `end` to its first reply after it — `worstMs` is the longest, `medianMs`
   * the typical one — and the stall a session saw: from its last reply before `at` to its first reply
   * after `end` (`stallMs`, the longest). Sessions with no reply after `end` are left out (they
   * show up as lost).
   */
  recovery(at: number, end: number): { worstMs: number; medianMs: number; stallMs: number; stalled: number } {
    const waits: number[] = [];
    const stalls: number[] = [];
    for (const client of this.clients) {
      const after = client.replies.find((reply) => reply.at >= end);
      if (!after) continue;
      const before = client.replies.filter((reply) => reply.at < at).at(-1);
      waits.push(after.at - end);
      stalls.push(after.at - (before?.at ?? at));
    }
    waits.sort((a, b) => a - b);
    return { worstMs: waits.at(-1) ?? NaN, medianMs: waits[Math.floor(waits.length / 2)] ?? NaN, stallMs: stalls.length > 0 ? Math.max(...stalls) : NaN, stalled: stalls.filter((ms) => ms > 1_000).length };
  }
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
