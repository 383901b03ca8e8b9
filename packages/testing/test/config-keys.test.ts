// The contract's "declared secrets are config fields" check reads the schema's field names.
// It used to compare against the parsed sample config in a way that could not fail.

import { z } from '@impact-in/core';
import { describe, expect, it } from 'vitest';
import { configKeys } from '../src/describe-connector.js';

describe('configKeys', () => {
  it('lists an object schema’s fields, optional ones included, through refinements and transforms', () => {
    const schema = z
      .object({ apiUrl: z.string(), apiKey: z.string(), previousApiKey: z.string().optional() })
      .superRefine(() => undefined)
      .transform((config) => ({ ...config, extra: 1 }));
    expect(configKeys(schema)).toEqual(new Set(['apiUrl', 'apiKey', 'previousApiKey']));
    // A misspelled secret is not among them: the contract test fails on it.
    expect(configKeys(schema)?.has('apikey')).toBe(false);
  });

  it('takes every branch of a (discriminated) union and both sides of an intersection', () => {
    const schema = z.discriminatedUnion('auth', [
      z.object({ auth: z.literal('key'), apiKey: z.string() }),
      z.object({ auth: z.literal('oauth'), clientId: z.string(), clientSecret: z.string() }),
    ]);
    expect(configKeys(schema.optional())).toEqual(new Set(['auth', 'apiKey', 'clientId', 'clientSecret']));
    const both = z.intersection(z.object({ a: z.string() }), z.object({ b: z.string() }));
    expect(configKeys(both)).toEqual(new Set(['a', 'b']));
  });

  it('reads through z.preprocess and z.lazy', () => {
    const inner = z.object({ apiUrl: z.string(), apiKey: z.string() });
    expect(configKeys(z.preprocess((value) => value, inner))).toEqual(new Set(['apiUrl', 'apiKey']));
    expect(configKeys(z.lazy(() => inner))).toEqual(new Set(['apiUrl', 'apiKey']));
  });

  it('gives up (undefined) on a schema whose fields it cannot read', () => {
    expect(configKeys(z.record(z.string(), z.string()))).toBeUndefined();
    expect(configKeys({})).toBeUndefined();
  });
});
