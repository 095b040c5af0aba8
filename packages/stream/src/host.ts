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
}
