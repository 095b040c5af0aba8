/**
 * A local OTLP/HTTP receiver for tests: accepts the JSON encoding on /v1/metrics and /v1/traces
 * (what the `*-otlp-http` exporters send), keeps every request body, and answers 200 like a
 * collector would.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OtlpKeyValue {
  key: string;
  value: { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
}
export interface OtlpResource {
  attributes: OtlpKeyValue[];
}
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: OtlpKeyValue[];
}
export interface OtlpTraces {
  resourceSpans: { resource: OtlpResource; scopeSpans: { spans: OtlpSpan[] }[] }[];
}
export interface OtlpDataPoint {
  attributes: OtlpKeyValue[];
  asDouble?: number;
  asInt?: string | number;
  count?: string | number;
  sum?: number;
  bucketCounts?: (string | number)[];
  explicitBounds?: number[];
}
export interface OtlpMetric {
  name: string;
  unit?: string;
  histogram?: { dataPoints: OtlpDataPoint[] };
  sum?: { dataPoints: OtlpDataPoint[]; isMonotonic?: boolean };
  gauge?: { dataPoints: OtlpDataPoint[] };
}
export interface OtlpMetrics {
  resourceMetrics: { resource: OtlpResource; scopeMetrics: { scope: { name: string }; metrics: OtlpMetric[] }[] }[];
}

export interface OtlpReceiver extends AsyncDisposable {
  readonly endpoint: string;
  readonly metrics: OtlpMetrics[];
  readonly traces: OtlpTraces[];
  readonly contentTypes: string[];
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const metrics: OtlpMetrics[] = [];
  const traces: OtlpTraces[] = [];
  const contentTypes: string[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      contentTypes.push(String(request.headers['content-type']));
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (request.url === '/v1/metrics') metrics.push(body);
      else if (request.url === '/v1/traces') traces.push(body);
      else return void response.writeHead(404).end();
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections(); // the exporters keep connections alive
    });
  return { endpoint: `http://127.0.0.1:${port}`, metrics, traces, contentTypes, close, [Symbol.asyncDispose]: close };
}

export function attribute(attributes: OtlpKeyValue[], key: string): string | number | boolean | undefined {
  const value = attributes.find((entry) => entry.key === key)?.value;
  if (!value) return undefined;
  return value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : undefined) ?? value.doubleValue ?? value.boolValue;
}

export function allSpans(receiver: Pick<OtlpReceiver, 'traces'>): (OtlpSpan & { serviceName: string })[] {
  return receiver.traces.flatMap((body) =>
    body.resourceSpans.flatMap((resourceSpans) =>
      resourceSpans.scopeSpans.flatMap((scope) =>
        scope.spans.map((span) => ({ ...span, serviceName: String(attribute(resourceSpans.resource.attributes, 'service.name')) })),
      ),
    ),
  );
}

export function allMetrics(receiver: Pick<OtlpReceiver, 'metrics'>): OtlpMetric[] {
  return receiver.metrics.flatMap((body) =>
    body.resourceMetrics.flatMap((resourceMetrics) => resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics)),
  );
}

/** Polls until `check` returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(check: () => T | undefined, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
