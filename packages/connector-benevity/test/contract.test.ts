import { describeConnector } from '@impact-in/testing';
import { createBenevitySimulator } from '@impact-in/testing/providers/benevity';
import { describe } from 'vitest';
import { benevity } from '../src/index.js';
import { apiKeyConfig, oauthConfig } from './helpers.js';

// The generic suite a third-party connector runs too, against the Benevity simulator, in both
// auth modes.
describe('api_key mode', () => {
  describeConnector({
    connector: benevity,
    config: apiKeyConfig,
    provider: createBenevitySimulator().handlers,
    deliveryRoute: { method: 'POST', path: '/api/v1/impact-events' },
  });
});

describe('oauth mode', () => {
  describeConnector({
    connector: benevity,
    config: (url) => oauthConfig(url),
    provider: createBenevitySimulator().handlers,
    deliveryRoute: { method: 'POST', path: '/api/v1/impact-events' },
  });
});
