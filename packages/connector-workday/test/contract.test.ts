import { describeConnector } from '@impact-in/testing';
import { createWorkdaySimulator } from '@impact-in/testing/providers/workday';
import { afterAll } from 'vitest';
import { workday } from '../src/index.js';
import {
  creds,
  envelopeTap,
  expectValidEnvelopes,
  REST_PATH,
  restConfig,
  SOAP_PATH,
  soapConfig,
} from './helpers.js';

// The generic contract, once per way of talking to Workday. Each suite serves a simulator that
// checks credentials for real, so "success" means the simulator accepted the request.
const tap = envelopeTap();

describeConnector({
  connector: workday,
  config: (url) => soapConfig(url),
  provider: tap.wrap(createWorkdaySimulator().handlers),
  deliveryRoute: { method: 'POST', path: SOAP_PATH },
});

describeConnector({
  connector: workday,
  config: (url) => soapConfig(url, { version: 'v45.1' }),
  provider: tap.wrap(createWorkdaySimulator().handlers),
  deliveryRoute: { method: 'POST', path: `${SOAP_PATH}/v45.1` },
});

describeConnector({
  connector: workday,
  config: (url) => restConfig(url),
  provider: createWorkdaySimulator().handlers,
  deliveryRoute: { method: 'POST', path: REST_PATH },
});

describeConnector({
  connector: workday,
  config: (url) => restConfig(url, { grantType: 'refresh_token', refreshToken: creds.refreshToken }),
  provider: createWorkdaySimulator().handlers,
  deliveryRoute: { method: 'POST', path: REST_PATH },
});

afterAll(() => {
  // Every envelope the SOAP suites made the connector send is schema-valid WS-Security SOAP 1.1.
  expectValidEnvelopes(tap.envelopes);
});
