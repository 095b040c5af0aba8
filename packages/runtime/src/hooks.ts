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
import { errorMessage } from './errors.js';
import { matchesEvent } from './events.js';
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
