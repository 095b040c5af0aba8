/**
 * kafkajs logs a lot, and logs every error response of every request at ERROR even when it
 * retries and recovers (a coordinator still loading, a broker restarting). This routes its logger
 * to one quiet sink: only the chosen level and above, per-request protocol noise dropped (a
 * request that finally fails reaches us as a rejected promise or a consumer crash, which the
 * adapter reports), and a repeated line printed once per window with how often it repeated.
 */
import type { LogEntry, logCreator } from 'kafkajs';

export type KafkaLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

/** kafkajs's numeric levels (its `logLevel` enum), kept here so this file needs no runtime import. */
export const KAFKAJS_LEVEL: Readonly<Record<KafkaLogLevel, number>> = {
  nothing: 0,
  error: 1,
  warn: 2,
  info: 4,
  debug: 5,
};

const LEVEL_NAME: Readonly<Record<number, string>> = { 1: 'error', 2: 'warn', 4: 'info', 5: 'debug' };

export interface KafkaLogLine {
  readonly level: 'error' | 'warn' | 'info' | 'debug';
  readonly namespace: string;
  readonly message: string;
  readonly extra: Readonly<Record<string, unknown>>;
}

export type KafkaLogSink = (line: KafkaLogLine) => void;

export const defaultLogSink: KafkaLogSink = (line) => {
  const detail = line.extra.error ?? line.extra.stack;
  console.error(`[woodwork:kafka] ${line.level} ${line.namespace}: ${line.message}${detail ? ` (${String(detail)})` : ''}`);
};

function isRetriedConnectFailure(namespace: string, message: string): boolean {
  return (
    (namespace === 'Connection' && (message.startsWith('Connection error') || message.startsWith('Connection timeout'))) ||
    (namespace === 'BrokerPool' && message.startsWith('Failed to connect to seed broker'))
  );
}

export function createLogCreator(
  level: KafkaLogLevel,
  sink: KafkaLogSink,
  options: { repeatWindowMs?: number; now?: () => number } = {},
): logCreator {
  const threshold = KAFKAJS_LEVEL[level];
  const repeatWindowMs = options.repeatWindowMs ?? 10_000;
  const now = options.now ?? Date.now;
  const lastSeen = new Map<string, { at: number; repeated: number }>();

  return () =>
    ({ namespace, level: entryLevel, log }: LogEntry) => {
      if (entryLevel > threshold || entryLevel === 0) return;
      const { message, timestamp: _timestamp, logger: _logger, ...extra } = log as LogEntry['log'] & Record<string, unknown>;
      // Every error response of every request, logged before kafkajs decides to retry it.
      if (threshold < KAFKAJS_LEVEL.debug && namespace === 'Connection' && message.startsWith('Response ')) return;
      // A broker that does not answer, logged (with a stack) on every attempt kafkajs retries: the
      // adapter's WW_BUS_CONNECTION names the brokers and the last error when it gives up, and a
      // consumer that gives up logs its crash, so these would only be pages of the same line.
      if (threshold < KAFKAJS_LEVEL.debug && isRetriedConnectFailure(namespace, message)) return;
      // Advice about kafkajs 1 → 2 migration, irrelevant to us (we pick the partitioner explicitly).
      if (message.includes('KafkaJS v2.0.0 switched default partitioner')) return;
      // kafkajs names the group in `extra` only: without it, one line stands for every consumer.
      const text = typeof extra.groupId === 'string' ? `${message} [group ${extra.groupId}]` : message;
      const signature = `${entryLevel}|${namespace}|${text}|${String(extra.error ?? '')}`;
      const seen = lastSeen.get(signature);
      const at = now();
      if (seen && at - seen.at < repeatWindowMs) {
        seen.repeated += 1;
        return;
      }
      lastSeen.set(signature, { at, repeated: 0 });
      if (lastSeen.size > 500) lastSeen.clear();
      const repeated = seen?.repeated ?? 0;
      sink({
        level: (LEVEL_NAME[entryLevel] ?? 'info') as KafkaLogLine['level'],
        namespace,
        message: repeated > 0 ? `${text} (and ${repeated} more like it)` : text,
        extra,
      });
    };
}
