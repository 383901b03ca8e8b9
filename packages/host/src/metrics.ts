import type { Delivery } from '@impact-in/core';
import { Counter, Histogram, Registry } from 'prom-client';

/** Prometheus metrics with DESIGN section 4's names. */
export interface Metrics {
  observeAttempt(delivery: Delivery, durationMs: number): void;
  render(): Promise<string>;
  readonly contentType: string;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  const deliveries = new Counter({
    name: 'impact_in_deliveries_total',
    help: 'Delivery attempts recorded, by provider and resulting status',
    labelNames: ['provider', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'impact_in_delivery_duration_seconds',
    help: 'Time per delivery attempt',
    labelNames: ['provider'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const retries = new Counter({
    name: 'impact_in_retry_count',
    help: 'Attempts that were retries (attempt 2 and later)',
    labelNames: ['provider'],
    registers: [registry],
  });
  return {
    observeAttempt(delivery, durationMs) {
      deliveries.inc({ provider: delivery.provider, status: delivery.status });
      duration.observe({ provider: delivery.provider }, durationMs / 1000);
      if (delivery.attemptCount > 1) retries.inc({ provider: delivery.provider });
    },
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
