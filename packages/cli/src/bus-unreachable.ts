/**
 * A broker that does not answer is the user's to fix, not a bug in Woodwork: `run`, `dev` and `up`
 * say the same three things about it — which URL did not answer, how long it was tried, what to
 * check — and exit 1, without a stack.
 */
import { WoodworkBusError } from '@woodwork/bus';
import { redactUrl } from '@woodwork/runtime/distributed';
import { paint, useColor, type Terminal } from './terminal.js';

/** Bus errors that mean "the broker did not answer" (or its driver is not there), as opposed to a bug. */
const UNREACHABLE = new Set(['WW_BUS_CONNECTION', 'WW_BUS_TIMEOUT', 'WW_BUS_DRIVER_MISSING']);

export function isBusUnreachable(error: unknown): error is WoodworkBusError {
  return WoodworkBusError.isInstance(error) && UNREACHABLE.has(error.code);
}

function whatToCheck(url: string): string {
  let where = url;
  let scheme = '';
  try {
    const parsed = new URL(url);
    scheme = parsed.protocol.replace(/:$/, '');
    where = parsed.host || url;
  } catch {
    // Not a URL: createBus would have said so with WW_BUS_UNSUPPORTED_URL; name it as given.
  }
  const broker =
    scheme === 'redis' || scheme === 'rediss'
      ? `Redis runs and listens at ${where} (redis-cli -h ${where.replace(/:(\d+)$/, ' -p $1')} ping), and the URL's password, database and TLS (rediss://)`
      : scheme === 'nats'
        ? `nats-server runs with JetStream (-js) and listens at ${where}, and the URL's credentials`
        : scheme === 'kafka'
          ? `a Kafka broker listens at ${where} and advertises an address this machine can reach (advertised.listeners)`
          : `the broker runs and listens at ${where}`;
  return `check that ${broker}`;
}

/** The message and hint for a bus that did not answer: the URL (password hidden), how long, what to check. */
export function describeUnreachableBus(url: string, triedMs: number, error: WoodworkBusError): { message: string; hint?: string } {
  if (error.code === 'WW_BUS_DRIVER_MISSING') {
    return { message: `cannot use the bus at ${redactUrl(url)}: ${error.message}`, hint: 'reinstall @woodwork/cli (it brings every bus driver), or install the driver named above' };
  }
  const seconds = (triedMs / 1000).toFixed(1);
  // The adapters' own advice is written for code that embeds them and for this repository
  // (`raise connectTimeoutMs`, `bash tools/services.sh start redis`); someone at the command line
  // gets it in the command line's terms instead: what to check, and the URL that waits longer.
  const reason = error.message.replace(/\.?\s*\bCheck that\b[\s\S]*$/i, '');
  const patient = redactUrl(withParameter(url, 'connectTimeoutMs', '20000'));
  return {
    message: `the bus at ${redactUrl(url)} did not answer (tried for ${seconds} s): ${reason}`,
    hint: `${whatToCheck(url)}; to wait longer, add connectTimeoutMs to the URL (${patient})`,
  };
}

/** The URL with this query parameter set (replaced when it is there). */
function withParameter(url: string, name: string, value: string): string {
  try {
    const parsed = new URL(url);
    parsed.searchParams.set(name, value);
    return parsed.toString();
  } catch {
    return `${url}${url.includes('?') ? '&' : '?'}${name}=${value}`;
  }
}

/** Prints it as `run` and `dev` print a user error: `error CODE: …` and a hint line. */
export function printUnreachableBus(terminal: Terminal, url: string, triedMs: number, error: WoodworkBusError): void {
  const style = paint(useColor(terminal, 'stderr'));
  const { message, hint } = describeUnreachableBus(url, triedMs, error);
  terminal.stderr.write(`${style('red', `error ${error.code}`)}: ${message}\n${hint ? `  hint: ${hint}\n` : ''}\n`);
}
