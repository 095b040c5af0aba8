/**
 * What a bus that cannot reach its broker tells the user: something a user of the published
 * packages can do (install and start the broker), with the repository's own script named only as
 * "in the Woodwork repository: …", since tools/ ships in no package. A free loopback port stands
 * for a broker that is not running.
 */
import { describe, expect, it } from 'vitest';
import { createBus } from '../src/index.js';
import { freePort } from './free-port.js';

const cases = [
  { scheme: 'redis', advice: (port: number) => `install redis-server and start it, \`redis-server --port ${port}\`` },
  { scheme: 'nats', advice: () => 'install nats-server and start it with JetStream, `nats-server -js`' },
  { scheme: 'kafka', advice: () => "Apache Kafka's quickstart starts one: https://kafka.apache.org/quickstart" },
] as const;

describe.each(cases)('a $scheme bus with no broker behind its URL', ({ scheme, advice }) => {
  it('says how to start one, and names the repository script only as the repository\'s', { timeout: 30_000 }, async () => {
    const port = await freePort();
    const error = (await createBus(`${scheme}://127.0.0.1:${port}?connectTimeoutMs=300`).catch((caught: unknown) => caught)) as Error & { code?: string };
    expect(error.code).toBe('WW_BUS_CONNECTION');
    expect(error.message).toContain(advice(port));
    expect(error.message).toContain(`in the Woodwork repository: \`bash tools/services.sh start ${scheme}\``);
    expect(error.message).not.toContain('starts one for development');
  });
});
