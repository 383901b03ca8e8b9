// Everything in the kit that runs without a test runner: the provider server, simulators'
// shared state, the harness, the fake clock, the capturing logger. The host's demo imports this
// entry, so vitest is not needed at run time.
export { type CapturingLogger, createCapturingLogger, type LogEntry } from '../capturing-logger.js';
export {
  type ConnectorHarness,
  type ConnectorHarnessOptions,
  createConnectorHarness,
} from '../connector-harness.js';
export { createFakeClock, type FakeClock } from '../fake-clock.js';
export {
  type HandlersInput,
  type ProviderServer,
  type ProviderServerOptions,
  type RecordedCall,
  startProviderServer,
} from '../provider-server.js';
export {
  type AcceptedDelivery,
  type InjectedFailure,
  type ProviderSimulator,
  SimulatorState,
} from '../providers/simulator.js';
export { sampleEvent } from '../sample-event.js';
