/**
 * One suite for every SessionStore: each store calls it with a factory. Keys use a random prefix,
 * so runs against a shared Redis never meet.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionManager, type SessionStore } from '../src/index.js';
import { waitFor } from './helpers.js';

export function sessionStoreSuite(name: string, factory: (prefix: string) => Promise<SessionStore>): void {
  describe(`session store: ${name}`, () => {
    let store: SessionStore;
    beforeEach(async () => {
      store = await factory(`test-${randomUUID().slice(0, 8)}`);
    });
    afterEach(async () => {
      await store.close();
    });

    const info = (id: string, now = Date.now(), timeoutMs = 60_000) => ({
      id,
      createdAt: now,
      lastActiveAt: now,
      expiresAt: now + timeoutMs,
      metadata: { user: 'ada', tags: ['a', 'b'], nested: { n: 1 } },
    });

    // Times are real (Redis expires keys by them), offsets from now.
    const base = Date.now();

    it('creates a session once and reads it back', async () => {
      expect(await store.create(info('s1', base))).toBe(true);
      expect(await store.create(info('s1', base + 1))).toBe(false);
      expect(await store.get('s1')).toEqual(info('s1', base));
      expect(await store.get('nope')).toBeUndefined();
    });

    it('touches, and deletes exactly once', async () => {
      await store.create(info('s2', base));
      expect(await store.touch('s2', base + 5_000, base + 65_000)).toBe(true);
      expect(await store.get('s2')).toMatchObject({ createdAt: base, lastActiveAt: base + 5_000, expiresAt: base + 65_000 });
      expect(await store.touch('missing', base, base + 65_000)).toBe(false);
      const deletions = await Promise.all([store.delete('s2'), store.delete('s2'), store.delete('s2')]);
      expect(deletions.filter(Boolean)).toHaveLength(1);
      expect(await store.get('s2')).toBeUndefined();
    });

    it('touches only when the metadata holds the value asked for', async () => {
      await store.create(info('s3', base));
      // Optional in the contract; both built-in stores have it.
      const touchIf = store.touchIfMetadata!.bind(store);
      expect(await touchIf('s3', base + 1_000, base + 61_000, 'user', 'grace')).toBe(false);
      expect(await touchIf('s3', base + 1_000, base + 61_000, 'nested', '1')).toBe(false);
      expect(await touchIf('s3', base + 1_000, base + 61_000, 'absent', 'ada')).toBe(false);
      expect(await touchIf('missing', base + 1_000, base + 61_000, 'user', 'ada')).toBe(false);
      expect(await store.get('s3')).toMatchObject({ lastActiveAt: base, expiresAt: base + 60_000 });
      expect(await touchIf('s3', base + 2_000, base + 62_000, 'user', 'ada')).toBe(true);
      expect(await store.get('s3')).toMatchObject({ createdAt: base, lastActiveAt: base + 2_000, expiresAt: base + 62_000 });
      expect(await store.get('missing')).toBeUndefined();
    });

    it('keeps records beside the sessions: put if absent (atomically, one winner), replace, expire', async () => {
      // Optional in the contract; both built-in stores have them.
      const record = { state: 'accepting', turn: 't1' };
      const claims = await Promise.all([1, 2, 3].map((n) => store.putRecordIfAbsent!('idem:k1', { ...record, n }, 60_000)));
      expect(claims.filter((held) => held === undefined)).toHaveLength(1);
      const winner = await store.getRecord!('idem:k1');
      expect(claims.filter((held) => held !== undefined)).toEqual([winner, winner]);
      await store.putRecord!('idem:k1', { state: 'completed' }, 60_000);
      expect(await store.getRecord!('idem:k1')).toEqual({ state: 'completed' });
      expect(await store.putRecordIfAbsent!('idem:k1', record, 60_000)).toEqual({ state: 'completed' });
      expect(await store.getRecord!('idem:missing')).toBeUndefined();
      await store.putRecord!('idem:short', 'gone soon', 1);
      await waitFor(async () => (await store.getRecord!('idem:short')) === undefined);
      expect(await store.putRecordIfAbsent!('idem:short', 'again', 60_000)).toBeUndefined();
    });

    it('keeps state per session and per component, and clears a component everywhere', async () => {
      await store.create(info('a'));
      await store.create(info('b'));
      await store.setState('a', 'memory', 'messages', [{ role: 'user', content: 'hi' }]);
      await store.setState('a', 'other', 'messages', 'not mine');
      await store.setState('b', 'memory', 'messages', []);
      expect(await store.getState('a', 'memory', 'messages')).toEqual([{ role: 'user', content: 'hi' }]);
      expect(await store.getState('a', 'other', 'messages')).toBe('not mine');
      expect(await store.getState('a', 'memory', 'missing')).toBeUndefined();
      await store.deleteState('a', 'other', 'messages');
      expect(await store.getState('a', 'other', 'messages')).toBeUndefined();
      await store.clearScope('memory');
      expect(await store.getState('a', 'memory', 'messages')).toBeUndefined();
      expect(await store.getState('b', 'memory', 'messages')).toBeUndefined();
      await store.setState('gone', 'memory', 'x', 1); // no session: nothing is stored
      expect(await store.getState('gone', 'memory', 'x')).toBeUndefined();
      await store.delete('a');
      expect(await store.getState('a', 'memory', 'messages')).toBeUndefined();
    });

    it('counts a turn\'s open branches atomically', async () => {
      await store.create(info('t'));
      expect(await store.adjustTurn('t', 'turn1', 1)).toBe(1);
      await Promise.all(Array.from({ length: 20 }, () => store.adjustTurn('t', 'turn1', 1)));
      const results = await Promise.all(Array.from({ length: 21 }, () => store.adjustTurn('t', 'turn1', -1)));
      expect(results.filter((value) => value === 0)).toHaveLength(1);
      expect(await store.adjustTurn('t', 'turn2', 2)).toBe(2);
    });

    it('lets exactly one sweeper claim each expired session', async () => {
      const now = Date.now();
      for (let index = 0; index < 30; index++) await store.create(info(`e${index}`, now - 10_000, index < 20 ? 1_000 : 60_000));
      const claims = await Promise.all([store.claimExpired(now, 500), store.claimExpired(now, 500), store.claimExpired(now, 7)]);
      const claimed = claims.flat().sort();
      expect(claimed).toHaveLength(20);
      expect(new Set(claimed).size).toBe(20);
      expect(await store.get('e0')).toBeUndefined();
      expect(await store.get('e25')).toBeDefined();
    });

    it('lets exactly one timer claim one expired session, and none a live one', async () => {
      const now = Date.now();
      await store.create(info('due', now - 10_000, 1_000));
      await store.create(info('live', now, 60_000));
      const claims = await Promise.all([store.claimIfExpired('due', now), store.claimIfExpired('due', now), store.claimIfExpired('due', now)]);
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await store.get('due')).toBeUndefined();
      expect(await store.claimIfExpired('live', now)).toBe(false);
      expect(await store.claimIfExpired('missing', now)).toBe(false);
      expect(await store.get('live')).toBeDefined();
      expect(await store.claimExpired(now + 120_000, 500)).toEqual(['live']); // and the sweeper's index forgot 'due'
    });

    it('gives the session manager ids, timeouts and cleanup', async () => {
      let clock = Date.now();
      const ended: [string, string][] = [];
      const manager = new SessionManager(store, { timeoutMs: 1_000, now: () => clock, onEnded: (id, reason) => ended.push([id, reason]) });
      const { info: created, created: isNew } = await manager.open(undefined, { client: 'x' });
      expect(isNew).toBe(true);
      expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
      expect((await manager.open(created.id)).created).toBe(false);
      const chosen = await manager.open('chosen-id');
      clock += 800;
      await manager.touch(created.id);
      clock += 500;
      expect(await manager.sweep()).toEqual([chosen.info.id]);
      expect(ended).toEqual([[chosen.info.id, 'timeout']]);
      const state = manager.context(created.id, 'memory');
      await state.set('k', { v: 1 });
      expect(await state.get('k')).toEqual({ v: 1 });
      expect(await manager.end(created.id)).toBe(true);
      expect(await manager.end(created.id)).toBe(false);
      expect(ended.at(-1)).toEqual([created.id, 'ended']);
      await expect(manager.open('bad id with spaces')).rejects.toMatchObject({ code: 'WW_RUNTIME_SESSION' });
    });
  });
}
