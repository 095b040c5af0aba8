/**
 * What producers and readers need from the manager that owns them (internal).
 */
import type { Bus } from '@woodwork/bus';
import type { ResolvedStreamManagerOptions } from './options.js';
import type { Producer } from './producer.js';
import type { Reader } from './reader.js';

export interface StreamHost {
  readonly bus: Bus;
  readonly options: ResolvedStreamManagerOptions;
  /** The stream is over on this side: stop routing its messages to it. */
  releaseProducer(producer: Producer): void;
  releaseReader(reader: Reader): void;
  /** Aborts when the manager closes: publishes still being tried again stop. */
  readonly closing: AbortSignal;
  /**
   * The bus failed a publish with a retryable error: a broker outage begins, unless one is on
   * already (then false: it was reported).
   */
  busFailing(): boolean;
  /** A publish went through: an outage, if one was on, is over. */
  busWorking(): void;
  /**
   * How long a peer that was last heard at `lastHeardAt` has been silent, not counting a broker
   * outage (for up to `publishRetryMs` of it): the bus kept them apart, the peer may be fine.
   */
  silenceSince(lastHeardAt: number, now: number): number;
}
