/**
 * Hooks: side effects on the events a component emits. They run concurrently, each with a copy of
 * the event, never change or hold up the chain: the runtime delivers events to them through their
 * own consumer group (`<component>.hooks`) on the events topic, in the component's host. A hook
 * that throws or runs past `hookTimeoutMs` is logged and counted; the next event is handled anyway.
 *
 * A JavaScript or TypeScript hook gets the event: a copy of its envelope (`event_type`,
 * `session_id`, `component_source`, `payload`, `timestamp`, …). A Python hook, like the classic
 * engine's, gets the payload first and the envelope second (`def hook(payload)` works).
 */
import type { Envelope } from '@woodwork/bus';
import type { PipeSpec } from '@woodwork/parser';
import type { StreamChunkPayload } from '@woodwork/stream';
import { errorMessage } from './errors.js';
import { EventTypes, matchesEvent } from './events.js';
import { describeSpec, withTimeout } from './pipes.js';
import type { LoadedFunction, Logger } from './types.js';

export interface LoadedHook {
  readonly spec: PipeSpec;
  readonly fn: LoadedFunction;
}

export interface HookCounters {
  runs: number;
  failures: number;
  timeouts: number;
}

export class HookRunner {
  readonly counters: HookCounters = { runs: 0, failures: 0, timeouts: 0 };

  constructor(
    readonly hooks: readonly LoadedHook[],
    private readonly component: string,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  /** Whether any hook wants this event type. */
  wants(eventType: string): boolean {
    return this.hooks.some((hook) => matchesEvent(hook.spec.event, eventType));
  }

  /** Runs every matching hook at once on a copy of the payload; resolves when all settled. Never rejects. */
  async run(envelope: Envelope): Promise<void> {
    const matching = this.hooks.filter((hook) => matchesEvent(hook.spec.event, envelope.event_type));
    if (matching.length === 0) return;
    await Promise.all(matching.map((hook) => this.runOne(hook, envelope)));
  }

  private async runOne(hook: LoadedHook, envelope: Envelope): Promise<void> {
    this.counters.runs++;
    let timedOut = false;
    const name = describeSpec(hook.spec);
    try {
      const copy = structuredClone(envelope) as Envelope;
      const call = hook.fn.language === 'python' ? hook.fn.call(copy.payload, copy) : hook.fn.call(copy);
      await withTimeout(call, this.timeoutMs, () => {
        timedOut = true;
        return new Error(`timed out after ${this.timeoutMs} ms`);
      });
    } catch (error) {
      if (timedOut) this.counters.timeouts++;
      else this.counters.failures++;
      const python = (error as { python?: { traceback?: string } }).python;
      this.logger.warn(`hook ${name} ${timedOut ? 'timed out' : 'failed'} on ${envelope.event_type}; the chain goes on`, {
        error: errorMessage(error),
        session: envelope.session_id,
        at: `${hook.spec.location.file}:${hook.spec.location.line}:${hook.spec.location.column}`,
        ...(python?.traceback ? { traceback: python.traceback.trimEnd() } : {}),
      });
    }
  }
}

/**
 * A stream's events as hooks see them: its chunks with data, the last one marked `is_final` (the
 * envelope field that ends a stream, architecture.md), and never the marker without data that ends
 * it on the session's events — readers of a session need that marker to show a token the moment it
 * arrives, but to a hook it would be a chunk whose `data` is null. So each chunk is held until the
 * next event of its stream says whether it was the last: the next chunk (it was not), the marker
 * (it was). A stream that stops without a marker — aborted (its `agent.error` follows), started over
 * (`stream.restarted`), or cut by the host stopping (`releaseAll`) — hands its held chunk over as
 * it is, not final.
 */
export class HookStreamView {
  /** By `stream_id`: the latest chunk with data, not yet handed to the hooks. */
  private readonly held = new Map<string, Envelope>();

  /** Chunks held now. */
  get holding(): number {
    return this.held.size;
  }

  /**
   * The events hooks get now for this one, in order, and whether this one is an end marker that
   * hooks never get (the event it ended is in `due`, marked final).
   */
  accept(envelope: Envelope): { readonly due: Envelope[]; readonly dropped: boolean } {
    const streamId = envelope.stream_id;
    if (envelope.event_type === EventTypes.streamChunk && streamId) {
      const previous = this.held.get(streamId);
      this.held.delete(streamId);
      if ((envelope.payload as Partial<StreamChunkPayload> | null)?.data_type === null) {
        return { due: previous ? [{ ...previous, is_final: true }] : [], dropped: true };
      }
      if (envelope.is_final) return { due: previous ? [previous, envelope] : [envelope], dropped: false };
      this.held.set(streamId, envelope);
      return { due: previous ? [previous] : [], dropped: false };
    }
    const ended: Envelope[] = [];
    for (const [id, chunk] of this.held) {
      const endsIt = envelope.event_type === EventTypes.streamRestarted ? id === streamId : envelope.event_type === EventTypes.agentError && chunk.session_id === envelope.session_id;
      if (endsIt) {
        ended.push(chunk);
        this.held.delete(id);
      }
    }
    return { due: [...ended, envelope], dropped: false };
  }

  /** Every held chunk, as it is: nothing more of their streams will come (the host is stopping). */
  releaseAll(): Envelope[] {
    const all = [...this.held.values()];
    this.held.clear();
    return all;
  }
}
