#!/usr/bin/env node
// Readiness probe for the Kafka broker started by tools/services.sh, with no dependencies:
// it speaks the Kafka wire protocol itself. It sends ApiVersions (v0, which every broker
// answers), picks a non-flexible Metadata version (4..8) the broker supports, asks for the
// cluster metadata and succeeds only when the broker lists itself at the probed port and a
// controller is known, i.e. the broker has registered with the KRaft quorum and serves clients.
//
// Usage: node tools/services/kafka-probe.mjs [host] [port] [timeoutMs]
// Exit 0 and one JSON line on stdout when ready; exit 1 with the reason on stderr otherwise.
import net from 'node:net';

const [host = '127.0.0.1', portArg = '9093', timeoutArg = '3000'] = process.argv.slice(2);
const port = Number(portArg);
const timeoutMs = Number(timeoutArg);

const API_METADATA = 3;
const API_VERSIONS = 18;

function fail(reason) {
  process.stderr.write(`kafka-probe ${host}:${port}: ${reason}\n`);
  process.exit(1);
}

const timer = setTimeout(() => fail(`no answer within ${timeoutMs} ms`), timeoutMs);

const sock = net.connect({ host, port });
sock.setNoDelay(true);
sock.on('error', (err) => fail(err.code || err.message));

let pending = Buffer.alloc(0);
const waiters = [];
sock.on('data', (chunk) => {
  pending = Buffer.concat([pending, chunk]);
  while (pending.length >= 4) {
    const size = pending.readInt32BE(0);
    if (pending.length < 4 + size) break;
    const frame = pending.subarray(4, 4 + size);
    pending = pending.subarray(4 + size);
    const waiter = waiters.shift();
    if (waiter) waiter(frame);
  }
});
sock.on('close', () => {
  if (waiters.length) fail('connection closed before the answer');
});

// Request header v1: api_key int16, api_version int16, correlation_id int32, client_id string.
function send(apiKey, apiVersion, correlationId, body) {
  const clientId = Buffer.from('woodwork-services-probe');
  const header = Buffer.alloc(10);
  header.writeInt16BE(apiKey, 0);
  header.writeInt16BE(apiVersion, 2);
  header.writeInt32BE(correlationId, 4);
  header.writeInt16BE(clientId.length, 8);
  const message = Buffer.concat([header, clientId, body]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(message.length, 0);
  sock.write(Buffer.concat([size, message]));
  return new Promise((resolve) => waiters.push(resolve));
}

function reader(buf) {
  let at = 0;
  return {
    int8: () => buf.readInt8((at += 1) - 1),
    int16: () => buf.readInt16BE((at += 2) - 2),
    int32: () => buf.readInt32BE((at += 4) - 4),
    string() {
      const len = buf.readInt16BE((at += 2) - 2);
      if (len < 0) return null;
      const s = buf.toString('utf8', at, at + len);
      at += len;
      return s;
    },
  };
}

sock.on('connect', async () => {
  // ApiVersions v0: empty body; response: correlation_id, error_code, [api_key, min, max].
  const versions = reader(await send(API_VERSIONS, 0, 1, Buffer.alloc(0)));
  if (versions.int32() !== 1) fail('ApiVersions: unexpected correlation id');
  const errorCode = versions.int16();
  if (errorCode !== 0) fail(`ApiVersions error code ${errorCode}`);
  const apis = new Map();
  for (let n = versions.int32(); n > 0; n -= 1) {
    const key = versions.int16();
    apis.set(key, { min: versions.int16(), max: versions.int16() });
  }
  const metadata = apis.get(API_METADATA);
  if (!metadata) fail('broker does not list the Metadata API');
  const version = Math.min(metadata.max, 8);
  if (version < Math.max(metadata.min, 4)) {
    fail(`no non-flexible Metadata version in the broker's range ${metadata.min}..${metadata.max}`);
  }

  // Metadata v4..v8 body: topics (empty array: none), allow_auto_topic_creation,
  // and from v8 include_cluster/topic_authorized_operations.
  const body = Buffer.alloc(version >= 8 ? 7 : 5);
  body.writeInt32BE(0, 0);
  body.writeInt8(0, 4);
  if (version >= 8) {
    body.writeInt8(0, 5);
    body.writeInt8(0, 6);
  }
  const meta = reader(await send(API_METADATA, version, 2, body));
  if (meta.int32() !== 2) fail('Metadata: unexpected correlation id');
  meta.int32(); // throttle_time_ms
  const brokers = [];
  for (let n = meta.int32(); n > 0; n -= 1) {
    brokers.push({ nodeId: meta.int32(), host: meta.string(), port: meta.int32(), rack: meta.string() });
  }
  const clusterId = meta.string();
  const controllerId = meta.int32();
  clearTimeout(timer);
  sock.end();
  if (!brokers.some((b) => b.port === port)) {
    fail(`broker not registered yet (brokers: ${JSON.stringify(brokers)})`);
  }
  if (controllerId < 0) fail('no controller known yet');
  process.stdout.write(
    `${JSON.stringify({ ready: true, metadataVersion: version, clusterId, controllerId, brokers, apiCount: apis.size })}\n`,
  );
  process.exit(0);
});
