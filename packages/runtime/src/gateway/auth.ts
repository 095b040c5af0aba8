/**
 * Who is calling: the configured API keys, checked in constant time, each mapped to a principal —
 * the owner of the sessions its requests create. The key itself is never stored with a session:
 * the principal is a hash of it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { GatewaySettings } from './settings.js';

/** The principal of every request when authentication is off. */
export const ANONYMOUS = 'anonymous';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

export class Credentials {
  private readonly keys: readonly { readonly digest: Buffer; readonly principal: string }[];
  readonly header: string;
  readonly required: boolean;

  constructor(auth: GatewaySettings['auth']) {
    this.header = auth.header;
    this.required = auth.keys.length > 0;
    this.keys = auth.keys.map((key) => {
      const hashed = digest(key);
      return { digest: hashed, principal: `key:${hashed.toString('hex').slice(0, 24)}` };
    });
  }

  /** The key a request presents: in the configured header, or as `Authorization: Bearer`. */
  presented(headers: { get(name: string): string | null | undefined }, webSocketProtocols?: string | null): string | undefined {
    const fromHeader = (name: string) => {
      const value = headers.get(name)?.trim();
      if (!value) return undefined;
      const bearer = /^bearer\s+(.+)$/i.exec(value);
      if (name === 'authorization') return bearer?.[1]?.trim();
      return bearer ? bearer[1]!.trim() : value;
    };
    const key = fromHeader(this.header) ?? (this.header === 'authorization' ? undefined : fromHeader('authorization'));
    if (key !== undefined) return key;
    // Browsers cannot set headers on a WebSocket: they offer `bearer.<key>` as a subprotocol.
    for (const protocol of (webSocketProtocols ?? '').split(',')) {
      const trimmed = protocol.trim();
      if (trimmed.startsWith('bearer.')) return trimmed.slice('bearer.'.length);
    }
    return undefined;
  }

  /**
   * The principal of a presented key, or undefined when it is not one of ours. Every configured
   * key is compared, in constant time, so timing says nothing about which one nearly matched.
   */
  principal(key: string | undefined): string | undefined {
    if (!this.required) return ANONYMOUS;
    if (key === undefined || key === '') return undefined;
    const presented = digest(key);
    let found: string | undefined;
    for (const candidate of this.keys) {
      if (timingSafeEqual(candidate.digest, presented)) found ??= candidate.principal;
    }
    return found;
  }
}
