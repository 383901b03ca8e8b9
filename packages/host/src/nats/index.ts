export { JetStreamEventBus, type JetStreamEventBusOptions } from './event-bus.js';
