export { type CapturingLogger, createCapturingLogger, type LogEntry } from './capturing-logger.js';
export {
  type ConnectorHarness,
  type ConnectorHarnessOptions,
  createConnectorHarness,
} from './connector-harness.js';
export { type ConnectorContractOptions, describeConnector } from './describe-connector.js';
export {
  type DeliveryStoreFixture,
  describeDeliveryStore,
  type MakeDeliveryStore,
} from './describe-delivery-store.js';
export {
  describeEventBus,
  type EventBusFixture,
  type EventBusSuiteOptions,
  type MakeEventBus,
  waitUntil,
} from './describe-event-bus.js';
export { createFakeClock, type FakeClock } from './fake-clock.js';
export {
  type HandlersInput,
  type ProviderServer,
  type ProviderServerOptions,
  type RecordedCall,
  startProviderServer,
} from './provider-server.js';
export {
  type AcceptedDelivery,
  type InjectedFailure,
  type ProviderSimulator,
  SimulatorState,
} from './providers/simulator.js';
export { sampleEvent } from './sample-event.js';
