import type { BusMessage, EventBus, Logger, SubscribeOptions, Subscription } from '@impact-in/core';
import { noopLogger } from '@impact-in/core';
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  StorageType,
} from '@nats-io/jetstream';
import { connect, type NatsConnection, nanos, headers as natsHeaders } from '@nats-io/transport-node';

export interface JetStreamEventBusOptions {
  /** `nats://127.0.0.1:4222` (NATS_URL). */
  url: string;
  /** Stream name. Default `IMPACT_IN`. */
  stream?: string;
  /** Subjects the stream captures. Default `impact.>`, `kintell.>`, `inbound.>`. */
  subjects?: string[];
  /** Dedupe window for `Nats-Msg-Id`. Default 2 minutes. */
  duplicateWindowMs?: number;
  /** Messages a subscriber works on at once. Default 64. */
  maxInFlight?: number;
  logger?: Logger;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * An {@link EventBus} on NATS JetStream: messages are stored in a stream, `msgId` becomes
 * `Nats-Msg-Id` (server-side dedupe), durable consumers are shared work queues acknowledged only
 * after the handler resolves, failed handlers are nak'ed with a delay, and a consumer that dies
 * mid-message has it redelivered after `ackWaitMs`.
 *
 * @example
 * const bus = await JetStreamEventBus.connect({ url: 'nats://127.0.0.1:4222' });
 * await bus.subscribe('impact.events.>', handle, { durable: 'intake' });
 * await bus.publish(`impact.events.${companyId}.volunteer_hours`, event, { msgId: event.eventId });
 */
export class JetStreamEventBus implements EventBus {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  readonly #maxInFlight: number;
  readonly #logger: Logger;
  readonly #subscriptions = new Set<Subscription>();

  private constructor(
    nc: NatsConnection,
    jsm: JetStreamManager,
    options: JetStreamEventBusOptions & { stream: string },
  ) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#js = jetstream(nc);
    this.#stream = options.stream;
    this.#maxInFlight = options.maxInFlight ?? 64;
    this.#logger = options.logger ?? noopLogger;
  }

  /** Connects and makes sure the stream exists with the wanted subjects. */
  static async connect(options: JetStreamEventBusOptions): Promise<JetStreamEventBus> {
    const url = new URL(options.url);
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: `${url.hostname}:${url.port || 4222}`,
        ...(url.username
          ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) }
          : {}),
        timeout: 5_000,
        name: 'impact-in',
      });
    } catch (error) {
      throw new Error(
        `[impact-in] [nats] cannot connect to NATS_URL ${url.host}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const jsm = await jetstreamManager(nc);
    const stream = options.stream ?? 'IMPACT_IN';
    const subjects = options.subjects ?? ['impact.>', 'kintell.>', 'inbound.>'];
    const config = {
      name: stream,
      subjects,
      storage: StorageType.File,
      duplicate_window: nanos(options.duplicateWindowMs ?? 120_000),
    };
    try {
      const info = await jsm.streams.info(stream);
      const missing = subjects.filter((subject) => !info.config.subjects?.includes(subject));
      if (missing.length > 0) {
        await jsm.streams.update(stream, { subjects: [...(info.config.subjects ?? []), ...missing] });
      }
    } catch {
      await jsm.streams.add(config);
    }
    return new JetStreamEventBus(nc, jsm, { ...options, stream });
  }

  async publish(
    subject: string,
    data: unknown,
    options: { msgId?: string; headers?: Record<string, string> } = {},
  ): Promise<{ duplicate: boolean }> {
    const header = natsHeaders();
    for (const [name, value] of Object.entries(options.headers ?? {})) header.set(name, value);
    const ack = await this.#js.publish(subject, encoder.encode(JSON.stringify(data)), {
      headers: header,
      ...(options.msgId ? { msgID: options.msgId } : {}),
    });
    return { duplicate: ack.duplicate };
  }

  async subscribe<T = unknown>(
    subject: string,
    handler: (message: BusMessage<T>) => Promise<void>,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    let messages: ConsumerMessages;
    let ephemeral: string | undefined;
    if (options.durable) {
      const config = {
        durable_name: options.durable,
        filter_subject: subject,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(options.ackWaitMs ?? 30_000),
        max_deliver: options.maxDeliver ?? 10,
        deliver_policy: DeliverPolicy.All,
        max_ack_pending: 1_000,
      };
      try {
        const info = await this.#jsm.consumers.info(this.#stream, options.durable);
        if (info.config.filter_subject !== subject) {
          throw new Error(
            `[impact-in] [nats] durable "${options.durable}" is bound to "${info.config.filter_subject}", not "${subject}"`,
          );
        }
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('[impact-in]')) throw error;
        await this.#jsm.consumers.add(this.#stream, config);
      }
      const consumer = await this.#js.consumers.get(this.#stream, options.durable);
      messages = await consumer.consume({ max_messages: this.#maxInFlight });
    } else {
      // An ephemeral pull consumer (not an ordered consumer: those need nats-server 2.10+).
      // The server removes it once it has been idle for the inactive threshold.
      const info = await this.#jsm.consumers.add(this.#stream, {
        filter_subject: subject,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(options.ackWaitMs ?? 30_000),
        max_deliver: options.maxDeliver ?? 10,
        deliver_policy: DeliverPolicy.New,
        inactive_threshold: nanos(60_000),
      });
      ephemeral = info.name;
      const consumer = await this.#js.consumers.get(this.#stream, info.name);
      messages = await consumer.consume({ max_messages: this.#maxInFlight });
    }
    const redeliverDelayMs = options.redeliverDelayMs ?? 1_000;
    const ackWaitMs = options.ackWaitMs ?? 30_000;
    // A handler that outlives the connection (shutdown grace exceeded) cannot ack any more; the
    // server redelivers its message after ack_wait.
    const settle = (action: () => void) => {
      try {
        action();
      } catch (error) {
        this.#logger.warn({ err: String(error) }, 'could not acknowledge a message; it will be redelivered');
      }
    };
    const inflight = new Set<Promise<void>>();
    const handle = async (message: JsMsg) => {
      let data: unknown;
      try {
        data = JSON.parse(decoder.decode(message.data));
      } catch {
        this.#logger.error({ subject: message.subject }, 'dropping a message that is not JSON');
        message.term();
        return;
      }
      const headers: Record<string, string> = {};
      if (message.headers) {
        for (const [name, values] of message.headers) headers[name.toLowerCase()] = values.join(', ');
      }
      const msgId = message.headers?.get('Nats-Msg-Id') || undefined;
      try {
        await handler({
          subject: message.subject,
          data: data as T,
          msgId,
          headers,
          deliveryCount: message.info.deliveryCount,
        });
      } catch (error) {
        this.#logger.warn(
          { subject: message.subject, err: String(error) },
          'handler failed; message will be redelivered',
        );
        settle(() => message.nak(redeliverDelayMs));
        return;
      }
      settle(() => message.ack());
    };
    const loop = (async () => {
      for await (const message of messages) {
        const task = handle(message).finally(() => inflight.delete(task));
        inflight.add(task);
      }
    })();
    const subscription: Subscription = {
      close: async () => {
        this.#subscriptions.delete(subscription);
        // Stop pulling; messages pulled but not yet handled go back to the stream after ack_wait.
        await messages.close().catch(() => {});
        await loop.catch(() => {});
        // Let running handlers finish and ack, for up to half of ack_wait (at most 10 s): by
        // ack_wait the server hands their messages to another consumer anyway.
        if (inflight.size > 0) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            Promise.allSettled([...inflight]),
            new Promise((resolve) => {
              timer = setTimeout(resolve, Math.min(ackWaitMs / 2, 10_000));
            }),
          ]);
          clearTimeout(timer);
        }
        if (ephemeral) await this.#jsm.consumers.delete(this.#stream, ephemeral).catch(() => false);
      },
    };
    this.#subscriptions.add(subscription);
    return subscription;
  }

  /** Whether the NATS connection is gone for good (readiness). */
  isClosed(): boolean {
    return this.#nc.isClosed();
  }

  async close(): Promise<void> {
    await Promise.all([...this.#subscriptions].map((subscription) => subscription.close()));
    await this.#nc.drain().catch(() => this.#nc.close());
  }
}
