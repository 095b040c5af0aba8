import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReorderBuffer } from '../src/reorder-buffer.js';

describe('ReorderBuffer', () => {
  it('yields 0..n-1 once each, in order, whatever the arrival order and repeats (within the window)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(fc.nat(), { minLength: 0, maxLength: 200 }), (count, noise) => {
        const buffer = new ReorderBuffer<number>(0, count);
        const arrivals = Array.from({ length: count }, (_, i) => i);
        for (const n of noise) arrivals.splice(n % (arrivals.length + 1), 0, noise.length ? n % count : 0);
        const out: number[] = [];
        for (const index of arrivals) {
          buffer.offer(index, index);
          for (let item = buffer.take(); item !== undefined; item = buffer.take()) out.push(item);
        }
        expect(out).toEqual(Array.from({ length: count }, (_, i) => i));
        expect(buffer.size).toBe(0);
      }),
    );
  });

  it('holds at most `capacity`, drops what is ahead and knows about gaps', () => {
    const buffer = new ReorderBuffer<string>(10, 3);
    expect(buffer.offer(9, 'old')).toBe('duplicate');
    expect(buffer.offer(11, 'b')).toBe('accepted');
    expect(buffer.hasGap).toBe(true);
    expect(buffer.offer(13, 'd')).toBe('ahead');
    expect(buffer.highestKnown).toBe(13);
    expect(buffer.take()).toBeUndefined();
    expect(buffer.offer(10, 'a')).toBe('accepted');
    expect(buffer.offer(10, 'a')).toBe('duplicate');
    expect([buffer.take(), buffer.take(), buffer.take()]).toEqual(['a', 'b', undefined]);
    expect(buffer.hasGap).toBe(true); // 12 is missing, 13 exists
    buffer.offer(12, 'c');
    expect(buffer.hasGap).toBe(false);
  });
});
