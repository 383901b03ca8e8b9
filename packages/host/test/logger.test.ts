import { Writable } from 'node:stream';
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

  it('returns the same object when there is nothing to redact', () => {
    const fields = { deliveryId: 'd-1', nested: { status: 'success' }, list: [{ secret: 'kept-in-arrays' }] };
    expect(redactSecrets(fields)).toBe(fields);
  });
});
