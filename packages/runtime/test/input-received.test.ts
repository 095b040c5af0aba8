import { describe, expect, it } from 'vitest';
import type { SessionEvent } from '../src/index.js';
import { project, started } from './helpers.js';

async function eventTypes(events: AsyncIterable<SessionEvent>, until: string): Promise<SessionEvent[]> {
  const seen: SessionEvent[] = [];
  for await (const event of events) {
    seen.push(event);
    if (event.event_type === until) break;
  }
  return seen;
}

// Clients and hooks written for the classic engine expect every turn to begin with
// `input.received`, whether or not the topology declares an input component.
describe('input.received starts every turn', () => {
  it('is published by the runtime when the input goes straight to a processor', async () => {
    const files = await project({ 'main.ww': 'shout = transform uppercase {}' });
    try {
      const { runtime } = await started(await files.load());
      try {
        const sessionId = await runtime.create();
        const events = runtime.events(sessionId);
        const turn = await runtime.submit(sessionId, 'hello');
        const seen = await eventTypes(events, 'turn.completed');
        expect((await turn.result).text).toBe('HELLO');
        const received = seen.filter((event) => event.event_type === 'input.received');
        expect(received).toHaveLength(1);
        expect(seen.map((event) => event.event_type).filter((type) => type !== 'session.started')[0]).toBe('input.received');
        expect(received[0]!.component_source).toBe('runtime');
        expect(received[0]!.payload).toEqual({ input: 'hello' });
      } finally {
        await runtime.stop();
      }
    } finally {
      await files.remove();
    }
  });

  it('is published once, by the input component, when there is one', async () => {
    const files = await project({ 'main.ww': 'in = command_line { to = shout }\nshout = transform uppercase {}' });
    try {
      const { runtime } = await started(await files.load());
      try {
        const sessionId = await runtime.create();
        const events = runtime.events(sessionId);
        await runtime.submit(sessionId, 'hello');
        const seen = await eventTypes(events, 'turn.completed');
        const received = seen.filter((event) => event.event_type === 'input.received');
        expect(received.map((event) => event.component_source)).toEqual(['in']);
      } finally {
        await runtime.stop();
      }
    } finally {
      await files.remove();
    }
  });
});
