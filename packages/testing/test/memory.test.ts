import { MemoryDeliveryStore, MemoryEventBus } from '@impact-in/core';
import { describeDeliveryStore, describeEventBus } from '../src/index.js';

describeDeliveryStore('MemoryDeliveryStore', () => new MemoryDeliveryStore());

describeEventBus('MemoryEventBus', () => {
  const bus = new MemoryEventBus();
  return { bus, cleanup: () => bus.close() };
});
