// Run by smoke-published.sh in a folder outside the workspace, against the packed packages.
import { benevity } from '@impact-in/connector-benevity';
import { goodera } from '@impact-in/connector-goodera';
import { workday } from '@impact-in/connector-workday';
import { bindConnector, createDispatcher, MemoryDeliveryStore } from '@impact-in/core';
import { BENEVITY_TEST_CREDENTIALS, createBenevitySimulator } from '@impact-in/testing/providers/benevity';
import { createGooderaSimulator, GOODERA_TEST_CREDENTIALS } from '@impact-in/testing/providers/goodera';
import { createWorkdaySimulator, WORKDAY_TEST_CREDENTIALS } from '@impact-in/testing/providers/workday';
import { startProviderServer } from '@impact-in/testing/server';

const cases = [
  {
    connector: benevity,
    simulator: createBenevitySimulator(),
    config: (url) => ({
      apiUrl: url,
      apiKey: BENEVITY_TEST_CREDENTIALS.apiKey,
      signatureSecret: BENEVITY_TEST_CREDENTIALS.signatureSecret,
    }),
  },
  {
    connector: goodera,
    simulator: createGooderaSimulator(),
    config: (url) => ({ apiUrl: url, tokenUrl: `${url}/oauth/token`, ...GOODERA_TEST_CREDENTIALS }),
  },
  {
    connector: workday,
    simulator: createWorkdaySimulator(),
    config: (url) => ({
      protocol: 'soap',
      apiUrl: url,
      tenant: WORKDAY_TEST_CREDENTIALS.tenant,
      username: WORKDAY_TEST_CREDENTIALS.username,
      password: WORKDAY_TEST_CREDENTIALS.password,
    }),
  },
];

let failures = 0;
for (const { connector, simulator, config } of cases) {
  const server = await startProviderServer(simulator.handlers);
  const dispatcher = createDispatcher({
    store: new MemoryDeliveryStore(),
    connectors: [bindConnector(connector, config(server.url))],
  });
  dispatcher.start();
  const delivery = await dispatcher.submitAndWait(
    {
      companyId: 'company_789',
      provider: connector.id,
      event: {
        eventId: `evt_smoke_${connector.id}`,
        userId: 'user_456',
        eventType: 'volunteer_hours',
        timestamp: '2025-11-14T10:00:00Z',
        value: 5,
        unit: 'hours',
        outcomeScores: { community_engagement: 0.85 },
        metadata: { program: 'buddy_mentoring' },
      },
    },
    { timeoutMs: 20_000 },
  );
  const accepted = simulator.accepted();
  const ok =
    delivery.status === 'success' &&
    accepted.length === 1 &&
    accepted[0].idempotencyKey === delivery.deliveryId;
  console.log(
    `${connector.id}: ${delivery.status} after ${delivery.attemptCount} attempt(s)${ok ? '' : ` FAILED ${delivery.lastError ?? ''}`}`,
  );
  if (!ok) failures++;
  await dispatcher.close();
  await server.close();
}
if (failures > 0) process.exit(1);
console.log('published ESM entry points: ok');
