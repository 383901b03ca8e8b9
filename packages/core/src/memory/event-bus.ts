import type { BusMessage, EventBus, SubscribeOptions, Subscription } from '../interfaces.js';

/** Whether a NATS-style pattern (`a.*.c`, `a.>`) matches a subject. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const want = pattern.split('.');
  const have = subject.split('.');
  for (let index = 0; index < want.length; index++) {
    const token = want[index];
    if (token === '>') return have.length > index;
    if (index >= have.length) return false;
    if (token !== '*' && token !== have[index]) return false;
  }
  return want.length === have.length;
}

interface InFlight {
  message: BusMessage;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
}

interface Consumer {
  pattern: string;
  handler: (message: BusMessage) => Promise<void>;
  options: SubscribeOptions;
  closed: boolean;
  inflight: Set<InFlight>;
}

interface Group {
  pattern: string;
  members: Consumer[];
  cursor: number;
  backlog: BusMessage[];
}

/**
 * An in-process {@link EventBus}: NATS-style subjects, msg-id dedupe (2 min window),
 * at-least-once delivery with redelivery on handler failure, and durable work queues
 * (subscribers sharing a durable name split the messages; messages wait while none is subscribed).
 */
export class MemoryEventBus implements EventBus {
  readonly #ephemeral = new Set<Consumer>();
  readonly #durables = new Map<string, Group>();
  readonly #seen = new Map<string, number>();
  readonly #dedupeWindowMs: number;
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;

  constructor(options: { dedupeWindowMs?: number } = {}) {
    this.#dedupeWindowMs = options.dedupeWindowMs ?? 120_000;
  }

  async publish(
    subject: string,
    data: unknown,
    options: { msgId?: string; headers?: Record<string, string> } = {},
  ): Promise<{ duplicate: boolean }> {
    if (this.#closed) throw new Error('[impact-in] [memory-bus] bus is closed');
    if (!subject || subject.split('.').some((token) => token === '' || token === '*' || token === '>')) {
      throw new Error(`[impact-in] [memory-bus] invalid subject "${subject}"`);
    }
    const now = Date.now();
    if (options.msgId) {
      for (const [id, at] of this.#seen) {
        if (at > now - this.#dedupeWindowMs) break;
        this.#seen.delete(id);
      }
      if (this.#seen.has(options.msgId)) return { duplicate: true };
      this.#seen.set(options.msgId, now);
    }
    const payload = structuredClone(data);
    const base = { subject, data: payload, msgId: options.msgId, headers: { ...options.headers } };
    for (const consumer of this.#ephemeral) {
      if (subjectMatches(consumer.pattern, subject)) this.#deliver(consumer, { ...base, deliveryCount: 1 });
    }
    for (const group of this.#durables.values()) {
      if (subjectMatches(group.pattern, subject)) this.#dispatch(group, { ...base, deliveryCount: 1 });
    }
    return { duplicate: false };
  }

  #dispatch(group: Group, message: BusMessage): void {
    const live = group.members.filter((member) => !member.closed);
    if (live.length === 0) {
      group.backlog.push(message);
      return;
    }
    const consumer = live[group.cursor++ % live.length]!;
    this.#deliver(consumer, message, group);
  }

  #redeliver(consumer: Consumer, message: BusMessage, group: Group | undefined, delayMs: number): void {
    const max = consumer.options.maxDeliver ?? 10;
    if (message.deliveryCount >= max || this.#closed) return;
    const again = { ...message, deliveryCount: message.deliveryCount + 1 };
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#closed) return;
      if (group) this.#dispatch(group, again);
      else if (!consumer.closed) this.#deliver(consumer, again);
    }, delayMs);
    this.#timers.add(timer);
  }

  #deliver(consumer: Consumer, message: BusMessage, group?: Group): void {
    queueMicrotask(() => {
      if (consumer.closed) {
        if (group) this.#dispatch(group, message);
        return;
      }
      const entry: InFlight = { message, settled: false, timer: undefined };
      consumer.inflight.add(entry);
      const settle = () => {
        if (entry.settled) return false;
        entry.settled = true;
        clearTimeout(entry.timer);
        consumer.inflight.delete(entry);
        return true;
      };
      entry.timer = setTimeout(() => {
        if (settle()) this.#redeliver(consumer, message, group, 0);
      }, consumer.options.ackWaitMs ?? 30_000);
      consumer.handler(structuredClone(message)).then(
        () => {
          settle();
        },
        () => {
          if (settle()) this.#redeliver(consumer, message, group, consumer.options.redeliverDelayMs ?? 100);
        },
      );
    });
  }

  async subscribe<T = unknown>(
    subject: string,
    handler: (message: BusMessage<T>) => Promise<void>,
    options: SubscribeOptions = {},
  ): Promise<Subscription> {
    if (this.#closed) throw new Error('[impact-in] [memory-bus] bus is closed');
    const consumer: Consumer = {
      pattern: subject,
      handler: handler as (message: BusMessage) => Promise<void>,
      options,
      closed: false,
      inflight: new Set(),
    };
    if (options.durable) {
      let group = this.#durables.get(options.durable);
      if (!group) {
        group = { pattern: subject, members: [], cursor: 0, backlog: [] };
        this.#durables.set(options.durable, group);
      } else if (group.pattern !== subject) {
        throw new Error(
          `[impact-in] [memory-bus] durable "${options.durable}" is bound to "${group.pattern}", not "${subject}"`,
        );
      }
      group.members.push(consumer);
      const backlog = group.backlog.splice(0);
      for (const message of backlog) this.#dispatch(group, message);
    } else {
      this.#ephemeral.add(consumer);
    }
    return {
      close: async () => {
        consumer.closed = true;
        this.#ephemeral.delete(consumer);
        const group = options.durable ? this.#durables.get(options.durable) : undefined;
        if (group) group.members = group.members.filter((member) => member !== consumer);
        // Unacknowledged work goes back to the queue, as a crashed consumer's would.
        for (const entry of [...consumer.inflight]) {
          entry.settled = true;
          clearTimeout(entry.timer);
          consumer.inflight.delete(entry);
          if (group) this.#redeliver(consumer, entry.message, group, 0);
        }
      },
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    for (const consumer of this.#ephemeral) for (const entry of consumer.inflight) clearTimeout(entry.timer);
    for (const group of this.#durables.values()) {
      for (const consumer of group.members) for (const entry of consumer.inflight) clearTimeout(entry.timer);
    }
    this.#timers.clear();
    this.#ephemeral.clear();
    this.#durables.clear();
  }
}
