import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  hmacSha256,
  safeEqual,
  signStandardWebhook,
  signTimestamped,
  verifyHmacSha256,
  verifyStandardWebhook,
  verifyTimestamped,
} from '../src/index.js';

const SECRET = 'top-secret-key';
const BODY = '{"event":"donation.created","amount":1250}';

function reference(
  secret: string | Buffer,
  data: string | Buffer,
  encoding: 'hex' | 'base64' = 'hex',
): string {
  return createHmac('sha256', secret).update(data).digest(encoding);
}

/** Changes exactly one character of a hex or base64 string, keeping the length. */
function flipOneChar(value: string, index = 5): string {
  const char = value[index]!;
  const replacement = char === 'a' ? 'b' : 'a';
  return `${value.slice(0, index)}${replacement}${value.slice(index + 1)}`;
}

describe('hmacSha256', () => {
  it('matches node:crypto in hex by default', () => {
    const expected = reference(SECRET, BODY);
    expect(expected).toMatch(/^[0-9a-f]{64}$/);
    expect(hmacSha256(SECRET, BODY)).toBe(expected);
    expect(hmacSha256(SECRET, BODY, 'hex')).toBe(expected);
  });

  it('matches node:crypto in base64', () => {
    const expected = reference(SECRET, BODY, 'base64');
    expect(expected).toHaveLength(44);
    expect(hmacSha256(SECRET, BODY, 'base64')).toBe(expected);
  });

  it('matches the RFC 4231 test case 2 known answer', () => {
    expect(hmacSha256('Jefe', 'what do ya want for nothing?')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('treats byte inputs the same as the equivalent strings', () => {
    const bytes = new TextEncoder().encode(BODY);
    const secretBytes = Buffer.from(SECRET, 'utf8');
    expect(hmacSha256(secretBytes, bytes)).toBe(reference(SECRET, BODY));
  });

  it('differs when the body differs by one byte', () => {
    expect(hmacSha256(SECRET, `${BODY} `)).not.toBe(hmacSha256(SECRET, BODY));
  });
});

describe('safeEqual', () => {
  it('compares contents and lengths', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
  });
});

describe('verifyHmacSha256', () => {
  const hex = reference(SECRET, BODY);
  const base64 = reference(SECRET, BODY, 'base64');

  it('accepts the correct hex signature', () => {
    expect(verifyHmacSha256(SECRET, BODY, hex)).toBe(true);
  });

  it('accepts the correct base64 signature', () => {
    expect(verifyHmacSha256(SECRET, BODY, base64, 'base64')).toBe(true);
  });

  it('rejects a signature made with another secret', () => {
    expect(verifyHmacSha256(SECRET, BODY, reference('other-secret', BODY))).toBe(false);
  });

  it('rejects a signature over another body', () => {
    expect(verifyHmacSha256(SECRET, BODY, reference(SECRET, `${BODY}x`))).toBe(false);
  });

  it('rejects missing signatures', () => {
    expect(verifyHmacSha256(SECRET, BODY, undefined)).toBe(false);
    expect(verifyHmacSha256(SECRET, BODY, null)).toBe(false);
    expect(verifyHmacSha256(SECRET, BODY, '')).toBe(false);
  });

  it('rejects a signature one character off', () => {
    const tampered = flipOneChar(hex);
    expect(tampered).toHaveLength(hex.length);
    expect(tampered).not.toBe(hex);
    expect(verifyHmacSha256(SECRET, BODY, tampered)).toBe(false);
    // Last character too.
    expect(verifyHmacSha256(SECRET, BODY, flipOneChar(hex, hex.length - 1))).toBe(false);
  });

  it('rejects a base64 signature one character off', () => {
    expect(verifyHmacSha256(SECRET, BODY, flipOneChar(base64, 3), 'base64')).toBe(false);
  });

  it('rejects signatures of a different length', () => {
    expect(verifyHmacSha256(SECRET, BODY, hex.slice(0, -1))).toBe(false);
    expect(verifyHmacSha256(SECRET, BODY, `${hex}0`)).toBe(false);
    expect(verifyHmacSha256(SECRET, BODY, hex.slice(0, 32))).toBe(false);
  });

  it('rejects a hex signature when base64 is expected and vice versa', () => {
    expect(verifyHmacSha256(SECRET, BODY, hex, 'base64')).toBe(false);
    expect(verifyHmacSha256(SECRET, BODY, base64, 'hex')).toBe(false);
  });

  it('accepts a sha256= prefix', () => {
    expect(verifyHmacSha256(SECRET, BODY, `sha256=${hex}`)).toBe(true);
    expect(verifyHmacSha256(SECRET, BODY, `sha256=${flipOneChar(hex)}`)).toBe(false);
  });

  it('accepts upper-case hex', () => {
    expect(hex).not.toBe(hex.toUpperCase());
    expect(verifyHmacSha256(SECRET, BODY, hex.toUpperCase())).toBe(true);
    expect(verifyHmacSha256(SECRET, BODY, `sha256=${hex.toUpperCase()}`)).toBe(true);
  });

  it('accepts surrounding whitespace', () => {
    expect(verifyHmacSha256(SECRET, BODY, ` ${hex}\n`)).toBe(true);
  });
});

describe('signTimestamped / verifyTimestamped', () => {
  const nowMs = 1_700_000_000_000;
  const nowSeconds = nowMs / 1000;

  it('signs "<timestamp>.<body>"', () => {
    expect(signTimestamped(SECRET, BODY, nowSeconds)).toBe(reference(SECRET, `${nowSeconds}.${BODY}`));
    expect(signTimestamped(SECRET, BODY, nowSeconds, 'base64')).toBe(
      reference(SECRET, `${nowSeconds}.${BODY}`, 'base64'),
    );
    expect(signTimestamped(SECRET, Buffer.from(BODY), nowSeconds)).toBe(
      reference(SECRET, `${nowSeconds}.${BODY}`),
    );
  });

  it('accepts a fresh, correct signature (number or string timestamp)', () => {
    const signature = signTimestamped(SECRET, BODY, nowSeconds);
    expect(verifyTimestamped(SECRET, BODY, nowSeconds, signature, { now: nowMs })).toEqual({ ok: true });
    expect(verifyTimestamped(SECRET, BODY, String(nowSeconds), signature, { now: nowMs })).toEqual({
      ok: true,
    });
    expect(verifyTimestamped(SECRET, BODY, nowSeconds, signature.toUpperCase(), { now: nowMs })).toEqual({
      ok: true,
    });
  });

  it('accepts a timestamp exactly at the tolerance edge', () => {
    const ts = nowSeconds - 300;
    const signature = signTimestamped(SECRET, BODY, ts);
    expect(verifyTimestamped(SECRET, BODY, ts, signature, { now: nowMs })).toEqual({ ok: true });
    const future = nowSeconds + 300;
    expect(
      verifyTimestamped(SECRET, BODY, future, signTimestamped(SECRET, BODY, future), { now: nowMs }),
    ).toEqual({ ok: true });
  });

  it('uses the real clock when now is not given', () => {
    const ts = Math.floor(Date.now() / 1000);
    expect(verifyTimestamped(SECRET, BODY, ts, signTimestamped(SECRET, BODY, ts))).toEqual({ ok: true });
  });

  it('rejects a stale timestamp (> 300 s old)', () => {
    const ts = nowSeconds - 301;
    const signature = signTimestamped(SECRET, BODY, ts);
    expect(verifyTimestamped(SECRET, BODY, ts, signature, { now: nowMs })).toEqual({
      ok: false,
      reason: 'stale',
    });
  });

  it('rejects a timestamp from the future (> 300 s ahead)', () => {
    const ts = nowSeconds + 301;
    const signature = signTimestamped(SECRET, BODY, ts);
    expect(verifyTimestamped(SECRET, BODY, ts, signature, { now: nowMs })).toEqual({
      ok: false,
      reason: 'future',
    });
  });

  it('reports a mismatch for a wrong signature, body or secret', () => {
    const signature = signTimestamped(SECRET, BODY, nowSeconds);
    expect(verifyTimestamped(SECRET, BODY, nowSeconds, flipOneChar(signature), { now: nowMs })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(verifyTimestamped(SECRET, `${BODY} `, nowSeconds, signature, { now: nowMs })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(verifyTimestamped('nope', BODY, nowSeconds, signature, { now: nowMs })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    // Signature for a different (still fresh) timestamp.
    expect(
      verifyTimestamped(SECRET, BODY, nowSeconds, signTimestamped(SECRET, BODY, nowSeconds - 1), {
        now: nowMs,
      }),
    ).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('reports malformed timestamps', () => {
    const signature = signTimestamped(SECRET, BODY, nowSeconds);
    for (const bad of ['abc', '12.5', '-5', 12.5, -1, Number.NaN]) {
      expect(verifyTimestamped(SECRET, BODY, bad, signature, { now: nowMs })).toEqual({
        ok: false,
        reason: 'malformed',
      });
    }
  });

  it('reports missing timestamp or signature', () => {
    const signature = signTimestamped(SECRET, BODY, nowSeconds);
    for (const timestamp of [undefined, null, '']) {
      expect(verifyTimestamped(SECRET, BODY, timestamp, signature, { now: nowMs })).toEqual({
        ok: false,
        reason: 'missing',
      });
    }
    for (const sig of [undefined, null, '']) {
      expect(verifyTimestamped(SECRET, BODY, nowSeconds, sig, { now: nowMs })).toEqual({
        ok: false,
        reason: 'missing',
      });
    }
  });

  it('honours a custom tolerance', () => {
    const ts = nowSeconds - 20;
    const signature = signTimestamped(SECRET, BODY, ts);
    expect(verifyTimestamped(SECRET, BODY, ts, signature, { now: nowMs, toleranceSeconds: 10 })).toEqual({
      ok: false,
      reason: 'stale',
    });
    expect(verifyTimestamped(SECRET, BODY, ts, signature, { now: nowMs, toleranceSeconds: 30 })).toEqual({
      ok: true,
    });
    const old = nowSeconds - 1000;
    expect(
      verifyTimestamped(SECRET, BODY, old, signTimestamped(SECRET, BODY, old), {
        now: nowMs,
        toleranceSeconds: 3600,
      }),
    ).toEqual({ ok: true });
    const ahead = nowSeconds + 20;
    expect(
      verifyTimestamped(SECRET, BODY, ahead, signTimestamped(SECRET, BODY, ahead), {
        now: nowMs,
        toleranceSeconds: 10,
      }),
    ).toEqual({ ok: false, reason: 'future' });
  });

  it('verifies base64 signatures when asked', () => {
    const signature = signTimestamped(SECRET, BODY, nowSeconds, 'base64');
    expect(
      verifyTimestamped(SECRET, BODY, nowSeconds, signature, { now: nowMs, encoding: 'base64' }),
    ).toEqual({ ok: true });
    expect(verifyTimestamped(SECRET, BODY, nowSeconds, signature, { now: nowMs })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
  });
});

describe('Standard Webhooks', () => {
  // Known-answer vector from the Standard Webhooks specification / reference libraries.
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const id = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
  const timestamp = 1614265330;
  const body = '{"test": 2432232314}';
  const expectedSignature = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
  const now = timestamp * 1000;

  const headers = {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': expectedSignature,
  };

  it('signs the known-answer vector', () => {
    expect(signStandardWebhook(secret, { id, timestamp, body })).toEqual({
      'webhook-id': id,
      'webhook-timestamp': '1614265330',
      'webhook-signature': expectedSignature,
    });
  });

  it('signs byte bodies identically', () => {
    expect(signStandardWebhook(secret, { id, timestamp, body: Buffer.from(body) })['webhook-signature']).toBe(
      expectedSignature,
    );
  });

  it('agrees with an independent computation', () => {
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const independent = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
    expect(`v1,${independent}`).toBe(expectedSignature);
  });

  it('accepts a secret without the whsec_ prefix', () => {
    expect(signStandardWebhook(secret.slice(6), { id, timestamp, body })['webhook-signature']).toBe(
      expectedSignature,
    );
  });

  it('verifies the known-answer vector', () => {
    expect(verifyStandardWebhook(secret, headers, body, { now })).toEqual({ ok: true });
  });

  it('verifies within tolerance on either side', () => {
    expect(verifyStandardWebhook(secret, headers, body, { now: now + 299_000 })).toEqual({ ok: true });
    expect(verifyStandardWebhook(secret, headers, body, { now: now - 299_000 })).toEqual({ ok: true });
  });

  it('verifies a round trip with the real clock', () => {
    const fresh = signStandardWebhook(secret, {
      id: 'msg_1',
      timestamp: Math.floor(Date.now() / 1000),
      body,
    });
    expect(verifyStandardWebhook(secret, fresh, body)).toEqual({ ok: true });
  });

  it('passes when one of several space-separated signatures is right', () => {
    expect(
      verifyStandardWebhook(
        secret,
        { ...headers, 'webhook-signature': `v1,bogus ${expectedSignature}` },
        body,
        { now },
      ),
    ).toEqual({ ok: true });
    expect(
      verifyStandardWebhook(
        secret,
        { ...headers, 'webhook-signature': `${expectedSignature} v1,bogus` },
        body,
        { now },
      ),
    ).toEqual({ ok: true });
    expect(
      verifyStandardWebhook(
        secret,
        { ...headers, 'webhook-signature': `v1a,somethingelse ${expectedSignature}` },
        body,
        { now },
      ),
    ).toEqual({ ok: true });
  });

  it('fails when every signature in the header is wrong', () => {
    const wrong = `v1,${reference('x', 'y', 'base64')}`;
    expect(
      verifyStandardWebhook(secret, { ...headers, 'webhook-signature': `v1,bogus ${wrong}` }, body, { now }),
    ).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('passes with a secrets array during rotation (old + new)', () => {
    const newSecret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
    const oldSigned = signStandardWebhook(secret, { id, timestamp, body });
    const newSigned = signStandardWebhook(newSecret, { id, timestamp, body });
    expect(newSigned['webhook-signature']).not.toBe(expectedSignature);

    expect(verifyStandardWebhook([secret, newSecret], oldSigned, body, { now })).toEqual({ ok: true });
    expect(verifyStandardWebhook([secret, newSecret], newSigned, body, { now })).toEqual({ ok: true });
    expect(verifyStandardWebhook([newSecret, secret], oldSigned, body, { now })).toEqual({ ok: true });
    // Only the new secret: the old signature no longer passes.
    expect(verifyStandardWebhook([newSecret], oldSigned, body, { now })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    // A sender signing with both during rotation.
    const both = {
      ...oldSigned,
      'webhook-signature': `${newSigned['webhook-signature']} ${oldSigned['webhook-signature']}`,
    };
    expect(verifyStandardWebhook(newSecret, both, body, { now })).toEqual({ ok: true });
    expect(verifyStandardWebhook(secret, both, body, { now })).toEqual({ ok: true });
  });

  it('fails on a stale timestamp (> 5 min)', () => {
    expect(verifyStandardWebhook(secret, headers, body, { now: now + 301_000 })).toEqual({
      ok: false,
      reason: 'stale',
    });
    expect(verifyStandardWebhook(secret, headers, body, { now: now + 3_600_000 })).toEqual({
      ok: false,
      reason: 'stale',
    });
  });

  it('fails on a timestamp too far in the future', () => {
    expect(verifyStandardWebhook(secret, headers, body, { now: now - 301_000 })).toEqual({
      ok: false,
      reason: 'future',
    });
  });

  it('honours a custom tolerance', () => {
    expect(verifyStandardWebhook(secret, headers, body, { now: now + 60_000, toleranceSeconds: 30 })).toEqual(
      {
        ok: false,
        reason: 'stale',
      },
    );
    expect(
      verifyStandardWebhook(secret, headers, body, { now: now + 3_600_000, toleranceSeconds: 7200 }),
    ).toEqual({ ok: true });
  });

  it('fails on a tampered body', () => {
    expect(verifyStandardWebhook(secret, headers, '{"test": 2432232315}', { now })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(verifyStandardWebhook(secret, headers, '{"test":2432232314}', { now })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
  });

  it('fails on a tampered id or timestamp', () => {
    expect(verifyStandardWebhook(secret, { ...headers, 'webhook-id': 'msg_other' }, body, { now })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(
      verifyStandardWebhook(secret, { ...headers, 'webhook-timestamp': String(timestamp + 1) }, body, {
        now,
      }),
    ).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('fails with the wrong secret', () => {
    const other = `whsec_${Buffer.alloc(24, 1).toString('base64')}`;
    expect(verifyStandardWebhook(other, headers, body, { now })).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('fails on missing headers', () => {
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const) {
      const partial: Record<string, string | undefined> = { ...headers };
      delete partial[name];
      expect(verifyStandardWebhook(secret, partial, body, { now })).toEqual({ ok: false, reason: 'missing' });
      expect(verifyStandardWebhook(secret, { ...headers, [name]: '' }, body, { now })).toEqual({
        ok: false,
        reason: 'missing',
      });
      expect(verifyStandardWebhook(secret, { ...headers, [name]: undefined }, body, { now })).toEqual({
        ok: false,
        reason: 'missing',
      });
    }
    expect(verifyStandardWebhook(secret, {}, body, { now })).toEqual({ ok: false, reason: 'missing' });
  });

  it('reports malformed timestamps and signature headers', () => {
    expect(
      verifyStandardWebhook(secret, { ...headers, 'webhook-timestamp': '16142653.30' }, body, { now }),
    ).toEqual({ ok: false, reason: 'malformed' });
    expect(
      verifyStandardWebhook(secret, { ...headers, 'webhook-timestamp': 'yesterday' }, body, { now }),
    ).toEqual({ ok: false, reason: 'malformed' });
    expect(
      verifyStandardWebhook(
        secret,
        { ...headers, 'webhook-signature': 'g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' },
        body,
        { now },
      ),
    ).toEqual({ ok: false, reason: 'malformed' });
  });

  it('accepts header names in any case', () => {
    const variants: Record<string, string>[] = [
      {
        'Webhook-Id': id,
        'Webhook-Timestamp': String(timestamp),
        'Webhook-Signature': expectedSignature,
      },
      {
        'WEBHOOK-ID': id,
        'WEBHOOK-TIMESTAMP': String(timestamp),
        'WEBHOOK-SIGNATURE': expectedSignature,
      },
      {
        'webhook-ID': id,
        'WebHook-timestamp': String(timestamp),
        'webhook-Signature': expectedSignature,
      },
    ];
    for (const variant of variants) {
      expect(verifyStandardWebhook(secret, variant, body, { now })).toEqual({ ok: true });
      expect(verifyStandardWebhook(secret, variant, `${body} `, { now })).toEqual({
        ok: false,
        reason: 'mismatch',
      });
    }
  });
});

describe('verifyTimestamped signs the timestamp as sent', () => {
  it('verifies a zero-padded timestamp header against the bytes the sender signed', () => {
    const now = 1_700_000_000_000;
    const header = '01700000000';
    const signature = createHmac('sha256', 'whk').update(`${header}.{"a":1}`).digest('hex');
    expect(verifyTimestamped('whk', '{"a":1}', header, signature, { now })).toEqual({ ok: true });
    expect(verifyTimestamped('whk', '{"a":1}', '1e9', signature, { now })).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });
});
