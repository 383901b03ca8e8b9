import { Writable } from 'node:stream';
import type pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger, redactSecrets } from '../src/logger.js';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'trace', destination }) };
}

describe('createLogger', () => {
  it('redacts secrets at the top level and one level down, keeping every other field', () => {
    const { lines, logger } = capture();
    const fields = {
      deliveryId: 'd-1',
      apiKey: 'ik_live_top',
      config: { clientSecret: 'cs-nested', url: 'https://api.example' },
      headers: { authorization: 'Bearer abc', accept: 'application/json' },
      attemptCount: 2,
    };
    logger.info(fields, 'delivered');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: 'delivered',
      service: 'impact-in',
      deliveryId: 'd-1',
      apiKey: '[redacted]',
      config: { clientSecret: '[redacted]', url: 'https://api.example' },
      headers: { authorization: '[redacted]', accept: 'application/json' },
      attemptCount: 2,
    });
    const written = JSON.stringify(lines);
    for (const secret of ['ik_live_top', 'cs-nested', 'Bearer abc']) expect(written).not.toContain(secret);
    // The caller's object is not changed.
    expect(fields.apiKey).toBe('ik_live_top');
    expect(fields.config.clientSecret).toBe('cs-nested');
  });

  it('redacts secrets bound on child loggers', () => {
    const { lines, logger } = capture();
    logger.child({ provider: 'goodera', token: 'tok-123' }).warn({ status: 'retrying' }, 'attempt failed');
    expect(lines[0]).toMatchObject({ provider: 'goodera', token: '[redacted]', status: 'retrying' });
    logger.child({ provider: 'kintell' }).child({ secret: 'grandchild-secret' }).info({}, 'imported');
    expect(lines[1]).toMatchObject({ provider: 'kintell', secret: '[redacted]' });
    expect(JSON.stringify(lines)).not.toContain('tok-123');
    expect(JSON.stringify(lines)).not.toContain('grandchild-secret');
  });

  it('keeps redacting through a child with its own log formatter and through setBindings', () => {
    const { lines, logger } = capture();
    const custom = logger.child({}, { formatters: { log: (fields) => ({ ...fields, shaped: true }) } });
    custom.info({ token: 'child-formatter-secret' }, 'shaped');
    expect(lines[0]).toMatchObject({ shaped: true, token: '[redacted]' });
    const rebound = logger.child({ provider: 'benevity' }) as pino.Logger;
    rebound.setBindings({ apiKey: 'set-bindings-secret' });
    rebound.info({}, 'rebound');
    expect(lines[1]).toMatchObject({ provider: 'benevity', apiKey: '[redacted]' });
    const written = JSON.stringify(lines);
    expect(written).not.toContain('child-formatter-secret');
    expect(written).not.toContain('set-bindings-secret');
  });

  it('an error with a secret field keeps its type, message and stack', () => {
    const { lines, logger } = capture();
    const error = Object.assign(new TypeError('token refused'), { token: 'err-secret', status: 401 });
    logger.error({ err: error }, 'refresh failed');
    expect(lines[0]!.err).toMatchObject({
      type: 'TypeError',
      message: 'token refused',
      status: 401,
      token: '[redacted]',
    });
    expect(String((lines[0]!.err as { stack: string }).stack)).toContain('TypeError: token refused');
    expect(JSON.stringify(lines)).not.toContain('err-secret');
  });

  it('does not walk the bytes of a buffer one level down', () => {
    const fields = { body: Buffer.alloc(1_000_000), nested: new Uint8Array(10) };
    expect(redactSecrets(fields)).toBe(fields);
  });

  it('returns the same object when there is nothing to redact', () => {
    const fields = { deliveryId: 'd-1', nested: { status: 'success' }, list: [{ secret: 'kept-in-arrays' }] };
    expect(redactSecrets(fields)).toBe(fields);
  });
});
