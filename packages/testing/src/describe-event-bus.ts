import { randomUUID } from 'node:crypto';
import type { BusMessage, EventBus } from '@impact-in/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

export interface EventBusFixture {
  bus: EventBus;
  cleanup?: () => Promise<void>;
}

export type MakeEventBus = () => Promise<EventBusFixture | EventBus> | EventBusFixture | EventBus;

export interface EventBusSuiteOptions {
  /**
   * Subject prefix the bus accepts (e.g. the subjects a JetStream stream covers). The suite
   * publishes under `${prefix}.<random>.…`. Default `impact.test`.
   */
  subjectPrefix?: string;
}

/** Resolves when `predicate` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function waitUntil(
  predicate: () => boolean,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<void> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * The shared contract every {@link EventBus} passes: subjects and wildcards, msg-id dedupe,
 * ack only after the handler succeeds, redelivery after a failure or a crashed consumer,
 * durable work queues that split messages and keep them while nobody listens.
 *
 * @example
 * describeEventBus('memory', () => new MemoryEventBus());
 */
export function describeEventBus(
  name: string,
  makeBus: MakeEventBus,
  options: EventBusSuiteOptions = {},
): void {
  const prefix = options.subjectPrefix ?? 'impact.test';
  describe(`EventBus contract: ${name}`, () => {
    let bus: EventBus;
    let cleanup: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      const made = await makeBus();
      if ('publish' in made) bus = made;
      else {
        bus = made.bus;
        cleanup = made.cleanup;
      }
    });
    afterAll(async () => {
      await cleanup?.();
    });

    const scope = () => `${prefix}.s${randomUUID().replaceAll('-', '').slice(0, 12)}`;

    it('delivers subject, data, headers and msgId to a matching subscriber', async () => {
      const base = scope();
      const received: BusMessage[] = [];
      const subscription = await bus.subscribe(`${base}.>`, async (message) => {
        received.push(message);
      });
      const data = { eventId: 'evt_1', value: 5.5, nested: { ok: true }, list: ['a'] };
      const result = await bus.publish(`${base}.company-1.volunteer_hours`, data, {
        msgId: `m-${randomUUID()}`,
        headers: { 'x-trace': 'abc' },
      });
      expect(result.duplicate).toBe(false);
      await waitUntil(() => received.length === 1, 5_000, 'delivery');
      expect(received[0]!.subject).toBe(`${base}.company-1.volunteer_hours`);
      expect(received[0]!.data).toEqual(data);
      expect(received[0]!.headers['x-trace']).toBe('abc');
      expect(received[0]!.deliveryCount).toBe(1);
      await subscription.close();
    });

    it('matches `*` to one token and `>` to the rest', async () => {
      const base = scope();
      const star: string[] = [];
      const tail: string[] = [];
      const a = await bus.subscribe(`${base}.*.done`, async (message) => {
        star.push(message.subject);
      });
      const b = await bus.subscribe(`${base}.x.>`, async (message) => {
        tail.push(message.subject);
      });
      await bus.publish(`${base}.x.done`, 1);
      await bus.publish(`${base}.x.y.done`, 2);
      await bus.publish(`${base}.y.done`, 3);
      await waitUntil(() => star.length === 2 && tail.length === 2, 5_000, 'wildcard deliveries');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(star.sort()).toEqual([`${base}.x.done`, `${base}.y.done`]);
      expect(tail.sort()).toEqual([`${base}.x.done`, `${base}.x.y.done`]);
      await a.close();
      await b.close();
    });

    it('drops a second publish with the same msgId', async () => {
      const base = scope();
      const received: unknown[] = [];
      const subscription = await bus.subscribe(`${base}.>`, async (message) => {
        received.push(message.data);
      });
      const msgId = `evt-${randomUUID()}`;
      expect((await bus.publish(`${base}.a`, { n: 1 }, { msgId })).duplicate).toBe(false);
      expect((await bus.publish(`${base}.a`, { n: 2 }, { msgId })).duplicate).toBe(true);
      await bus.publish(`${base}.a`, { n: 3 }, { msgId: `${msgId}-other` });
      await waitUntil(() => received.length >= 2, 5_000, 'deliveries');
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(received).toEqual([{ n: 1 }, { n: 3 }]);
      await subscription.close();
    });

    it('redelivers a message whose handler failed, with a higher delivery count', async () => {
      const base = scope();
      const counts: number[] = [];
      const subscription = await bus.subscribe(
        `${base}.>`,
        async (message) => {
          counts.push(message.deliveryCount);
          if (message.deliveryCount === 1) throw new Error('store not ready');
        },
        { durable: `d${randomUUID().slice(0, 8)}`, redeliverDelayMs: 50 },
      );
      await bus.publish(`${base}.a`, { n: 1 }, { msgId: randomUUID() });
      await waitUntil(() => counts.length === 2, 10_000, 'redelivery');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(counts).toEqual([1, 2]);
      await subscription.close();
    });

    it('splits a durable work queue between consumers, each message handled once', async () => {
      const base = scope();
      const durable = `d${randomUUID().slice(0, 8)}`;
      const seen: Array<{ who: string; n: number }> = [];
      const handler = (who: string) => async (message: BusMessage<{ n: number }>) => {
        seen.push({ who, n: message.data.n });
        await new Promise((resolve) => setTimeout(resolve, 5));
      };
      const a = await bus.subscribe(`${base}.>`, handler('a'), { durable });
      const b = await bus.subscribe(`${base}.>`, handler('b'), { durable });
      for (let n = 0; n < 40; n++) await bus.publish(`${base}.work`, { n }, { msgId: randomUUID() });
      await waitUntil(() => seen.length >= 40, 10_000, '40 messages');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(seen.map((entry) => entry.n).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 40 }, (_, n) => n),
      );
      await a.close();
      await b.close();
    });

    it('keeps messages for a durable consumer while it is away', async () => {
      const base = scope();
      const durable = `d${randomUUID().slice(0, 8)}`;
      const first = await bus.subscribe(`${base}.>`, async () => {}, { durable });
      await first.close();
      await bus.publish(`${base}.later`, { n: 7 }, { msgId: randomUUID() });
      const received: unknown[] = [];
      const second = await bus.subscribe(
        `${base}.>`,
        async (message) => {
          received.push(message.data);
        },
        { durable },
      );
      await waitUntil(() => received.length === 1, 10_000, 'backlog delivery');
      expect(received).toEqual([{ n: 7 }]);
      await second.close();
    });

    it("redelivers a crashed consumer's unacknowledged message to another consumer", async () => {
      const base = scope();
      const durable = `d${randomUUID().slice(0, 8)}`;
      let crashedGotIt = false;
      const crashed = await bus.subscribe(
        `${base}.>`,
        async () => {
          crashedGotIt = true;
          await new Promise(() => {}); // never acks, as a process killed mid-handler
        },
        { durable, ackWaitMs: 1_000 },
      );
      await bus.publish(`${base}.job`, { n: 1 }, { msgId: randomUUID() });
      await waitUntil(() => crashedGotIt, 5_000, 'first delivery');
      await crashed.close();
      const received: BusMessage[] = [];
      const survivor = await bus.subscribe(
        `${base}.>`,
        async (message) => {
          received.push(message);
        },
        { durable, ackWaitMs: 1_000 },
      );
      await waitUntil(() => received.length === 1, 10_000, 'redelivery to the survivor');
      expect(received[0]!.data).toEqual({ n: 1 });
      expect(received[0]!.deliveryCount).toBeGreaterThanOrEqual(2);
      await survivor.close();
    });
  });
}
