import { describe, expect, it } from 'vitest';
import { BUILTIN_CONNECTORS } from '../src/builtins.js';
import { ConfigError } from '../src/config.js';
import { configureFromEnv } from '../src/registry.js';

describe('configureFromEnv', () => {
  it('configures a provider only from its own variables, except connectors that need no credentials', () => {
    const hosted = Object.fromEntries(
      configureFromEnv(BUILTIN_CONNECTORS, {}).map((entry) => [entry.connector.id, entry.config]),
    );
    expect(hosted.benevity).toBeUndefined();
    expect(hosted.goodera).toBeUndefined();
    expect(hosted.workday).toBeUndefined();
    // Kintell imports need no credentials; its webhooks stay refused without a secret.
    expect(hosted.kintell).toMatchObject({ timezone: 'UTC' });
    expect((hosted.kintell as { webhookSecret?: string }).webhookSecret).toBeUndefined();
  });

  it('names the variable family of a bad provider value', () => {
    expect(() => configureFromEnv(BUILTIN_CONNECTORS, { GOODERA_API_URL: 'not a url' })).toThrow(ConfigError);
    expect(() => configureFromEnv(BUILTIN_CONNECTORS, { GOODERA_API_URL: 'not a url' })).toThrow(
      /GOODERA_\*/,
    );
  });
});
