import { describe, expect, it } from 'vitest';
import { createMemorySessionStore, SessionManager, type SessionStore } from '../src/index.js';
import { sessionStoreSuite } from './session-store-suite.js';

sessionStoreSuite('memory', async () => createMemorySessionStore());

describe('session manager: touchIfMetadata with a store that cannot check and touch at once', () => {
  it('reads the session first and touches only a match', async () => {
    const store = createMemorySessionStore();
    // A store of your own without the optional method.
    const plain: SessionStore = Object.assign(Object.create(store) as SessionStore, { touchIfMetadata: undefined });
    let clock = Date.now();
    const manager = new SessionManager(plain, { timeoutMs: 1_000, now: () => clock });
    const { info } = await manager.open('owned', { owner: 'key-a' });
    clock += 100;
    expect(await manager.touchIfMetadata('owned', 'owner', 'key-b')).toBe(false);
    expect((await store.get('owned'))?.lastActiveAt).toBe(info.lastActiveAt);
    expect(await manager.touchIfMetadata('missing', 'owner', 'key-a')).toBe(false);
    expect(await manager.touchIfMetadata('owned', 'owner', 'key-a')).toBe(true);
    expect((await store.get('owned'))?.lastActiveAt).toBe(clock);
    await store.close();
  });
});
