import { randomUUID } from 'node:crypto';
import type { Delivery, DeliveryStore } from '@impact-in/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sampleEvent } from './sample-event.js';

export interface DeliveryStoreFixture {
  store: DeliveryStore;
  /** Closes connections, drops test data. */
  cleanup?: () => Promise<void>;
}

/** Opens a fresh, empty store. Called once per suite; tenants are random so runs don't collide. */
export type MakeDeliveryStore = () =>
  | Promise<DeliveryStoreFixture | DeliveryStore>
  | DeliveryStoreFixture
  | DeliveryStore;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The shared contract every {@link DeliveryStore} passes: idempotent submit, tenant scoping,
 * listing and stats, leases that two workers never share, expired leases re-claimed,
 * stale owners refused, replay keeping the deliveryId.
 *
 * @example
 * describeDeliveryStore('memory', () => new MemoryDeliveryStore());
 */
export function describeDeliveryStore(name: string, makeStore: MakeDeliveryStore): void {
  describe(`DeliveryStore contract: ${name}`, () => {
    let store: DeliveryStore;
    let cleanup: (() => Promise<void>) | undefined;

    beforeAll(async () => {
      const made = await makeStore();
      if ('submit' in made) store = made;
      else {
        store = made.store;
        cleanup = made.cleanup;
      }
    });
    afterAll(async () => {
      await cleanup?.();
    });

    const tenant = () => `tenant-${randomUUID()}`;
    const past = () => new Date(Date.now() - 1_000);
    /** A time after every delivery in this run is due. */
    const later = () => new Date(Date.now() + 1_000);

    it('submit stores a pending delivery with a UUID deliveryId before any attempt', async () => {
      const companyId = tenant();
      const event = sampleEvent();
      const { delivery, created } = await store.submit({ companyId, provider: 'benevity', event });
      expect(created).toBe(true);
      expect(delivery).toMatchObject({
        companyId,
        provider: 'benevity',
        eventId: event.eventId,
        status: 'pending',
        attemptCount: 0,
        replayCount: 0,
        lastError: null,
        payload: null,
        providerResponse: null,
        deliveredAt: null,
      });
      expect(delivery.deliveryId).toMatch(UUID);
      expect(delivery.event).toEqual(event);
      expect(delivery.createdAt).toBeInstanceOf(Date);
      const read = await store.get(delivery.id);
      expect(read?.deliveryId).toBe(delivery.deliveryId);
      expect(read?.event).toEqual(event);
    });

    it('submit is idempotent on (companyId, provider, eventId), also under concurrency', async () => {
      const companyId = tenant();
      const event = sampleEvent();
      const results = await Promise.all(
        Array.from({ length: 20 }, () => store.submit({ companyId, provider: 'goodera', event })),
      );
      expect(results.filter((result) => result.created)).toHaveLength(1);
      expect(new Set(results.map((result) => result.delivery.id)).size).toBe(1);
      expect(new Set(results.map((result) => result.delivery.deliveryId)).size).toBe(1);
      const otherProvider = await store.submit({ companyId, provider: 'benevity', event });
      const otherTenant = await store.submit({ companyId: tenant(), provider: 'goodera', event });
      expect(otherProvider.created).toBe(true);
      expect(otherTenant.created).toBe(true);
      expect(otherProvider.delivery.id).not.toBe(results[0]!.delivery.id);
    });

    it('get scopes by tenant: another tenant sees nothing', async () => {
      const { delivery } = await store.submit({
        companyId: tenant(),
        provider: 'workday',
        event: sampleEvent(),
      });
      expect(await store.get(delivery.id, delivery.companyId)).toBeDefined();
      expect(await store.get(delivery.id, tenant())).toBeUndefined();
      expect(await store.get(randomUUID())).toBeUndefined();
    });

    it('list filters by provider, status and date range, paginates, and never crosses tenants', async () => {
      const companyId = tenant();
      const before = new Date(Date.now() - 60_000);
      for (let index = 0; index < 5; index++) {
        await store.submit({ companyId, provider: 'benevity', event: sampleEvent() });
      }
      for (let index = 0; index < 3; index++) {
        await store.submit({ companyId, provider: 'goodera', event: sampleEvent() });
      }
      await store.submit({ companyId: tenant(), provider: 'benevity', event: sampleEvent() });

      const all = await store.list({ companyId, page: 1, limit: 100 });
      expect(all.total).toBe(8);
      expect(all.data.every((delivery) => delivery.companyId === companyId)).toBe(true);
      const sorted = [...all.data].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
      expect(all.data.map((delivery) => delivery.createdAt.getTime())).toEqual(
        sorted.map((delivery) => delivery.createdAt.getTime()),
      );

      const benevity = await store.list({ companyId, provider: 'benevity', page: 1, limit: 2 });
      expect(benevity.total).toBe(5);
      expect(benevity.data).toHaveLength(2);
      const page3 = await store.list({ companyId, provider: 'benevity', page: 3, limit: 2 });
      expect(page3.data).toHaveLength(1);
      const seen = new Set([
        ...benevity.data.map((d) => d.id),
        ...(await store.list({ companyId, provider: 'benevity', page: 2, limit: 2 })).data.map((d) => d.id),
        ...page3.data.map((d) => d.id),
      ]);
      expect(seen.size).toBe(5);

      expect((await store.list({ companyId, status: 'success', page: 1, limit: 10 })).total).toBe(0);
      expect((await store.list({ companyId, status: 'pending', page: 1, limit: 10 })).total).toBe(8);
      expect((await store.list({ companyId, from: before, to: later(), page: 1, limit: 10 })).total).toBe(8);
      expect((await store.list({ companyId, to: before, page: 1, limit: 10 })).total).toBe(0);
      expect((await store.list({ companyId, from: later(), page: 1, limit: 10 })).total).toBe(0);
    });

    it('claimDue leases due deliveries once; not-yet-due ones wait; an expired lease is re-claimed', async () => {
      const companyId = tenant();
      const provider = `p${randomUUID().slice(0, 8)}`;
      const due = await store.submit({ companyId, provider, event: sampleEvent(), nextAttemptAt: past() });
      await store.submit({
        companyId,
        provider,
        event: sampleEvent(),
        nextAttemptAt: new Date(Date.now() + 3_600_000),
      });
      const now = new Date();
      const first = await store.claimDue({
        owner: 'worker-a',
        now,
        limit: 10,
        leaseMs: 60_000,
        providers: [provider],
      });
      expect(first.map((delivery) => delivery.id)).toEqual([due.delivery.id]);
      const second = await store.claimDue({
        owner: 'worker-b',
        now,
        limit: 10,
        leaseMs: 60_000,
        providers: [provider],
      });
      expect(second).toEqual([]);
      // Worker A "crashes": its lease runs out and worker B takes over.
      const afterLease = new Date(now.getTime() + 61_000);
      const reclaimed = await store.claimDue({
        owner: 'worker-b',
        now: afterLease,
        limit: 10,
        leaseMs: 60_000,
        providers: [provider],
      });
      expect(reclaimed.map((delivery) => delivery.id)).toEqual([due.delivery.id]);
      // The crashed worker's late outcome is refused; B's is recorded.
      const late = await store.recordAttempt(due.delivery.id, 'worker-a', {
        status: 'success',
        at: afterLease,
      });
      expect(late).toBeUndefined();
      const recorded = await store.recordAttempt(due.delivery.id, 'worker-b', {
        status: 'success',
        at: afterLease,
        payload: { sent: true },
        providerResponse: { status: 200, body: '{"ok":true}' },
      });
      expect(recorded).toMatchObject({ status: 'success', attemptCount: 1, payload: { sent: true } });
      expect(recorded?.deliveredAt?.getTime()).toBe(afterLease.getTime());
      expect(recorded?.providerResponse?.status).toBe(200);
    });

    it('two workers claiming concurrently never hold the same delivery', async () => {
      const companyId = tenant();
      const provider = `p${randomUUID().slice(0, 8)}`;
      const ids = new Set<string>();
      for (let index = 0; index < 60; index++) {
        const { delivery } = await store.submit({
          companyId,
          provider,
          event: sampleEvent(),
          nextAttemptAt: past(),
        });
        ids.add(delivery.id);
      }
      const claimedBy = new Map<string, string>();
      const claimer = async (owner: string) => {
        for (let round = 0; round < 20; round++) {
          const batch = await store.claimDue({
            owner,
            now: new Date(),
            limit: 4,
            leaseMs: 60_000,
            providers: [provider],
          });
          for (const delivery of batch) {
            expect(claimedBy.has(delivery.id), `${delivery.id} claimed twice`).toBe(false);
            claimedBy.set(delivery.id, owner);
          }
          if (batch.length === 0) break;
        }
      };
      await Promise.all([claimer('worker-a'), claimer('worker-b'), claimer('worker-c')]);
      expect(new Set(claimedBy.keys())).toEqual(ids);
      expect(new Set(claimedBy.values()).size).toBeGreaterThan(1);
    });

    it('records retrying with the next attempt time, then failed; release and claim work by id', async () => {
      const companyId = tenant();
      const provider = `p${randomUUID().slice(0, 8)}`;
      const { delivery } = await store.submit({
        companyId,
        provider,
        event: sampleEvent(),
        nextAttemptAt: past(),
      });
      const now = new Date();
      const claimed = await store.claim(delivery.id, { owner: 'w', now, leaseMs: 60_000 });
      expect(claimed?.id).toBe(delivery.id);
      expect(await store.claim(delivery.id, { owner: 'x', now, leaseMs: 60_000 })).toBeUndefined();
      const next = new Date(now.getTime() + 2_000);
      const retrying = await store.recordAttempt(delivery.id, 'w', {
        status: 'retrying',
        at: now,
        nextAttemptAt: next,
        error: 'HTTP 503',
        providerResponse: { status: 503, body: 'busy' },
      });
      expect(retrying).toMatchObject({ status: 'retrying', attemptCount: 1, lastError: 'HTTP 503' });
      expect(retrying?.nextAttemptAt?.getTime()).toBe(next.getTime());
      expect(
        await store.claimDue({ owner: 'w', now, limit: 5, leaseMs: 60_000, providers: [provider] }),
      ).toEqual([]);

      const [again] = await store.claimDue({
        owner: 'w',
        now: next,
        limit: 5,
        leaseMs: 60_000,
        providers: [provider],
      });
      expect(again?.id).toBe(delivery.id);
      const pushed = new Date(next.getTime() + 30_000);
      await store.release(delivery.id, 'w', pushed);
      expect((await store.get(delivery.id))?.attemptCount).toBe(1);
      expect(
        await store.claimDue({ owner: 'w', now: next, limit: 5, leaseMs: 60_000, providers: [provider] }),
      ).toEqual([]);
      await store.claimDue({ owner: 'w', now: pushed, limit: 5, leaseMs: 60_000, providers: [provider] });
      const failed = await store.recordAttempt(delivery.id, 'w', {
        status: 'failed',
        at: pushed,
        error: 'HTTP 400',
      });
      expect(failed).toMatchObject({
        status: 'failed',
        attemptCount: 2,
        lastError: 'HTTP 400',
        nextAttemptAt: null,
      });
      expect(
        await store.claimDue({ owner: 'w', now: later(), limit: 5, leaseMs: 60_000, providers: [provider] }),
      ).toEqual([]);
    });

    it('requeue (replay) keeps the deliveryId, resets attempts, counts the replay, and is tenant-scoped', async () => {
      const companyId = tenant();
      const provider = `p${randomUUID().slice(0, 8)}`;
      const { delivery } = await store.submit({
        companyId,
        provider,
        event: sampleEvent(),
        nextAttemptAt: past(),
      });
      await store.claim(delivery.id, { owner: 'w', now: new Date(), leaseMs: 60_000 });
      expect(await store.requeue(delivery.id, { now: new Date() })).toBeUndefined(); // leased: left alone
      await store.recordAttempt(delivery.id, 'w', { status: 'failed', at: new Date(), error: 'boom' });
      expect(await store.failedIds({ companyId })).toEqual([delivery.id]);
      expect(await store.failedIds({ companyId, provider: 'other' })).toEqual([]);
      expect(await store.requeue(delivery.id, { companyId: tenant(), now: new Date() })).toBeUndefined();

      const requeued = await store.requeue(delivery.id, { companyId, now: new Date() });
      expect(requeued).toMatchObject({
        id: delivery.id,
        deliveryId: delivery.deliveryId,
        status: 'pending',
        attemptCount: 0,
        replayCount: 1,
      });
      expect(await store.failedIds({ companyId })).toEqual([]);
      const [claimed] = await store.claimDue({
        owner: 'w',
        now: later(),
        limit: 5,
        leaseMs: 60_000,
        providers: [provider],
      });
      expect(claimed?.deliveryId).toBe(delivery.deliveryId);
    });

    it('requeueFailed requeues only the tenant’s failed, unleased deliveries, in one go', async () => {
      if (!store.requeueFailed) return;
      const companyId = tenant();
      const provider = `p${randomUUID().slice(0, 8)}`;
      const submitted = [];
      for (let index = 0; index < 4; index++) {
        const { delivery } = await store.submit({
          companyId,
          provider,
          event: sampleEvent(),
          nextAttemptAt: past(),
        });
        await store.claim(delivery.id, { owner: 'w', now: new Date(), leaseMs: 60_000 });
        submitted.push(delivery);
      }
      const [failedA, failedB, succeeded, leased] = submitted as [Delivery, Delivery, Delivery, Delivery];
      for (const delivery of [failedA, failedB]) {
        await store.recordAttempt(delivery.id, 'w', { status: 'failed', at: new Date(), error: 'boom' });
      }
      await store.recordAttempt(succeeded.id, 'w', { status: 'success', at: new Date() });
      const other = tenant();
      const { delivery: foreign } = await store.submit({
        companyId: other,
        provider,
        event: sampleEvent(),
        nextAttemptAt: past(),
      });
      await store.claim(foreign.id, { owner: 'w', now: new Date(), leaseMs: 60_000 });
      await store.recordAttempt(foreign.id, 'w', { status: 'failed', at: new Date(), error: 'boom' });

      const requeued = await store.requeueFailed(
        [failedA.id, failedB.id, succeeded.id, leased.id, foreign.id, 'not-an-id'],
        { companyId, now: new Date() },
      );
      expect(requeued.sort()).toEqual([failedA.id, failedB.id].sort());
      expect(await store.get(failedA.id)).toMatchObject({
        status: 'pending',
        attemptCount: 0,
        replayCount: 1,
        deliveryId: failedA.deliveryId,
      });
      expect((await store.get(succeeded.id))?.status).toBe('success');
      expect((await store.get(foreign.id))?.status).toBe('failed');
      expect(await store.failedIds({ companyId })).toEqual([]);
    });

    it('keeps payloads exactly: JSON values and XML text', async () => {
      const companyId = tenant();
      const xml = '<?xml version="1.0"?><a b="&amp;&lt;">ünïcode &quot;</a>';
      const json = { schema_version: 'v1.0', nested: { list: [1, 2.5, 'x', null, true] } };
      for (const payload of [json, xml]) {
        const provider = `p${randomUUID().slice(0, 8)}`;
        const { delivery } = await store.submit({
          companyId,
          provider,
          event: sampleEvent(),
          nextAttemptAt: past(),
        });
        await store.claim(delivery.id, { owner: 'w', now: new Date(), leaseMs: 60_000 });
        await store.recordAttempt(delivery.id, 'w', { status: 'success', at: new Date(), payload });
        expect((await store.get(delivery.id))?.payload).toEqual(payload);
      }
    });

    it('stats count by status and by provider with average attempts, per tenant', async () => {
      const companyId = tenant();
      const make = async (provider: string, outcome: 'success' | 'failed' | null, attempts: number) => {
        const { delivery } = await store.submit({
          companyId,
          provider,
          event: sampleEvent(),
          nextAttemptAt: past(),
        });
        if (!outcome) return;
        for (let index = 0; index < attempts; index++) {
          await store.claim(delivery.id, { owner: 'w', now: later(), leaseMs: 60_000 });
          const last = index === attempts - 1;
          await store.recordAttempt(
            delivery.id,
            'w',
            last
              ? outcome === 'success'
                ? { status: 'success', at: new Date() }
                : { status: 'failed', at: new Date(), error: 'x' }
              : { status: 'retrying', at: new Date(), nextAttemptAt: past(), error: 'x' },
          );
        }
      };
      await make('benevity', 'success', 1);
      await make('benevity', 'success', 2);
      await make('goodera', 'failed', 3);
      await make('goodera', null, 0);
      const stats = await store.stats({ companyId });
      expect(stats.overall).toEqual({ total: 4, successful: 2, failed: 1, pending: 1, retrying: 0 });
      const row = (provider: string, status: string) =>
        stats.byProvider.find((entry) => entry.provider === provider && entry.status === status);
      expect(row('benevity', 'success')).toEqual({
        provider: 'benevity',
        status: 'success',
        count: 2,
        avgAttempts: 1.5,
      });
      expect(row('goodera', 'failed')).toEqual({
        provider: 'goodera',
        status: 'failed',
        count: 1,
        avgAttempts: 3,
      });
      expect(row('goodera', 'pending')).toEqual({
        provider: 'goodera',
        status: 'pending',
        count: 1,
        avgAttempts: 0,
      });
      const empty = await store.stats({ companyId: tenant() });
      expect(empty).toEqual({
        overall: { total: 0, successful: 0, failed: 0, pending: 0, retrying: 0 },
        byProvider: [],
      });
      const none = await store.stats({ companyId, from: later() });
      expect(none.overall.total).toBe(0);
    });
  });
}
