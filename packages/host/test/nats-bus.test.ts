import { randomUUID } from 'node:crypto';
import { describeEventBus, waitUntil } from '@impact-in/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { JetStreamEventBus } from '../src/nats/index.js';

const NATS_URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
// A stream of its own per run: nothing shared with other runs or the host's IMPACT_IN stream.
const runId = randomUUID().replaceAll('-', '').slice(0, 10);
const stream = `IMPACT_IN_TEST_${runId.toUpperCase()}`;
const prefix = `impacttest${runId}`;

describeEventBus(
  'JetStreamEventBus on a real nats-server',
  async () => {
    const bus = await JetStreamEventBus.connect({ url: NATS_URL, stream, subjects: [`${prefix}.>`] });
    return {
      bus,
      cleanup: async () => {
        await bus.close();
        const nc = await connect({ servers: new URL(NATS_URL).host });
        await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false);
        await nc.close();
      },
    };
  },
  { subjectPrefix: prefix },
);

describe('JetStreamEventBus shutdown', () => {
  it('close() lets a running handler finish and acknowledge its message', async () => {
    const own = `${stream}_CLOSE`;
    const subjectPrefix = `${prefix}close`;
    const bus = await JetStreamEventBus.connect({
      url: NATS_URL,
      stream: own,
      subjects: [`${subjectPrefix}.>`],
    });
    try {
      let started = false;
      let finished = false;
      const first = await bus.subscribe(
        `${subjectPrefix}.>`,
        async () => {
          started = true;
          await new Promise((resolve) => setTimeout(resolve, 500));
          finished = true;
        },
        { durable: 'closer', ackWaitMs: 1_000 },
      );
      await bus.publish(`${subjectPrefix}.job`, { n: 1 }, { msgId: randomUUID() });
      await waitUntil(() => started, 5_000, 'the handler to start');
      await first.close();
      expect(finished).toBe(true);
      // It was acknowledged: a new consumer on the same durable never sees it again.
      const again: unknown[] = [];
      const second = await bus.subscribe(`${subjectPrefix}.>`, async (message) => void again.push(message), {
        durable: 'closer',
        ackWaitMs: 1_000,
      });
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(again).toEqual([]);
      await second.close();
    } finally {
      await bus.close();
      const nc = await connect({ servers: new URL(NATS_URL).host });
      await (await jetstreamManager(nc)).streams.delete(own).catch(() => false);
      await nc.close();
    }
  });
});
