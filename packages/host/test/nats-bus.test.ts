import { randomUUID } from 'node:crypto';
import { describeEventBus } from '@impact-in/testing';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
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
