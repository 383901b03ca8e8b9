import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox } from '../src/index.js';

const K1 = randomBytes(32);
const K2 = randomBytes(32);
const TENANT = 'tenant-a';
const PLAINTEXT = 'client-secret: s3cr3t-✓-with-unicode';

/** Flips one byte of the decoded last part (ciphertext + tag) and re-encodes it. */
function tamperLastPart(ciphertext: string, byteIndex = 0): string {
  const parts = ciphertext.split(':');
  const sealed = Buffer.from(parts[3]!, 'base64url');
  sealed[byteIndex] = sealed[byteIndex]! ^ 0x01;
  parts[3] = sealed.toString('base64url');
  return parts.join(':');
}

describe('createSecretBox', () => {
  it('round-trips a plaintext', () => {
    const box = createSecretBox({ keys: { k1: K1 }, currentKeyId: 'k1' });
    const sealed = box.encrypt(TENANT, PLAINTEXT);
    expect(sealed).not.toContain(PLAINTEXT);
    expect(box.decrypt(TENANT, sealed)).toBe(PLAINTEXT);
  });

  it('round-trips the empty string and long plaintexts', () => {
    const box = createSecretBox({ keys: { k1: K1 }, currentKeyId: 'k1' });
    expect(box.decrypt(TENANT, box.encrypt(TENANT, ''))).toBe('');
    const long = 'x'.repeat(100_000);
    expect(box.decrypt(TENANT, box.encrypt(TENANT, long))).toBe(long);
  });

  it('writes `ib1:<keyId>:<iv>:<ciphertext+tag>` with base64url parts', () => {
    const box = createSecretBox({ keys: { k1: K1 }, currentKeyId: 'k1' });
    const sealed = box.encrypt(TENANT, 'hello');
    expect(sealed.startsWith('ib1:k1:')).toBe(true);
    const parts = sealed.split(':');
    expect(parts).toHaveLength(4);
    expect(parts[0]).toBe('ib1');
    expect(parts[1]).toBe('k1');
    expect(parts[2]).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(parts[3]).toMatch(/^[A-Za-z0-9_-]+$/);
    // 12-byte IV; 5 bytes of ciphertext plus a 16-byte GCM tag.
    expect(Buffer.from(parts[2]!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(parts[3]!, 'base64url')).toHaveLength(5 + 16);
    expect(box.keyIdOf(sealed)).toBe('k1');
    expect(box.currentKeyId).toBe('k1');
  });

  it('produces different ciphertexts for the same plaintext (random IV)', () => {
    const box = createSecretBox({ keys: { k1: K1 }, currentKeyId: 'k1' });
    const a = box.encrypt(TENANT, PLAINTEXT);
    const b = box.encrypt(TENANT, PLAINTEXT);
    expect(a).not.toBe(b);
    expect(a.split(':')[2]).not.toBe(b.split(':')[2]);
    expect(box.decrypt(TENANT, a)).toBe(PLAINTEXT);
    expect(box.decrypt(TENANT, b)).toBe(PLAINTEXT);
  });

  it('rejects a tampered ciphertext', () => {
    const box = createSecretBox({ keys: { k1: K1 }, currentKeyId: 'k1' });
    const sealed = box.encrypt(TENANT, PLAINTEXT);
    const tampered = tamperLastPart(sealed);
    expect(tampered).not.toBe(sealed);
    expect(() => box.decrypt(TENANT, tampered)).toThrow(/ciphertext rejected/);
    // Flipping a byte of the tag (the last byte) is rejected too.
    const sealedLength = Buffer.from(sealed.split(':')[3]!, 'base64url').length;
    expect(() => box.decrypt(TENANT, tamperLastPart(sealed, sealedLength - 1))).toThrow(
      /ciphertext rejected/,
    );
  });

  it('rejects a tampered IV', () => {
    const box = createSecretBox({ keys: { k1: K1 }, currentKeyId: 'k1' });
    const parts = box.encrypt(TENANT, PLAINTEXT).split(':');
    const iv = Buffer.from(parts[2]!, 'base64url');
    iv[0] = iv[0]! ^ 0x80;
    parts[2] = iv.toString('base64url');
    expect(() => box.decrypt(TENANT, parts.join(':'))).toThrow(/ciphertext rejected/);
  });

  it('rejects decryption for another tenant', () => {
    const box = createSecretBox({ keys: { k1: K1 }, currentKeyId: 'k1' });
    const sealed = box.encrypt(TENANT, PLAINTEXT);
    expect(() => box.decrypt('tenant-b', sealed)).toThrow(/ciphertext rejected/);
    expect(box.decrypt(TENANT, sealed)).toBe(PLAINTEXT);
  });

  it('rejects a ciphertext whose key id was relabelled', () => {
    const box = createSecretBox({ keys: { k1: K1, k2: K2 }, currentKeyId: 'k1' });
    const sealed = box.encrypt(TENANT, PLAINTEXT);
    const relabelled = sealed.replace(/^ib1:k1:/, 'ib1:k2:');
    expect(() => box.decrypt(TENANT, relabelled)).toThrow(/ciphertext rejected/);
  });

  it('rejects ciphertexts sealed with a different master key', () => {
    const a = createSecretBox({ keys: { k1: K1 }, currentKeyId: 'k1' });
    const b = createSecretBox({ keys: { k1: K2 }, currentKeyId: 'k1' });
    expect(() => b.decrypt(TENANT, a.encrypt(TENANT, PLAINTEXT))).toThrow(/ciphertext rejected/);
  });

  it('rejects strings that are not secret-box ciphertexts', () => {
    const box = createSecretBox({ keys: { k1: K1 }, currentKeyId: 'k1' });
    expect(() => box.decrypt(TENANT, 'plain text')).toThrow(/not a secret-box ciphertext/);
    expect(() => box.decrypt(TENANT, 'ib2:k1:aaaa:bbbb')).toThrow(/not a secret-box ciphertext/);
    expect(() => box.decrypt(TENANT, 'ib1:k1:aaaa')).toThrow(/not a secret-box ciphertext/);
    expect(() => box.decrypt(TENANT, 'ib1:k1:aaaa:bbbb')).toThrow(/malformed/);
  });

  describe('key rotation', () => {
    const old = createSecretBox({ keys: { k1: K1 }, currentKeyId: 'k1' });
    const rotated = createSecretBox({ keys: { k1: K1, k2: K2 }, currentKeyId: 'k2' });

    it('decrypts ciphertexts written with an older key', () => {
      const sealed = old.encrypt(TENANT, PLAINTEXT);
      expect(rotated.keyIdOf(sealed)).toBe('k1');
      expect(rotated.decrypt(TENANT, sealed)).toBe(PLAINTEXT);
    });

    it('writes new ciphertexts with the current key', () => {
      const sealed = rotated.encrypt(TENANT, PLAINTEXT);
      expect(sealed.startsWith('ib1:k2:')).toBe(true);
      expect(rotated.keyIdOf(sealed)).toBe('k2');
      expect(rotated.currentKeyId).toBe('k2');
    });

    it('flags old ciphertexts for rotation only', () => {
      expect(rotated.needsRotation(old.encrypt(TENANT, PLAINTEXT))).toBe(true);
      expect(rotated.needsRotation(rotated.encrypt(TENANT, PLAINTEXT))).toBe(false);
      expect(old.needsRotation(old.encrypt(TENANT, PLAINTEXT))).toBe(false);
    });

    it('rotate() re-encrypts with the current key', () => {
      const sealed = old.encrypt(TENANT, PLAINTEXT);
      const fresh = rotated.rotate(TENANT, sealed);
      expect(fresh).not.toBe(sealed);
      expect(fresh.startsWith('ib1:k2:')).toBe(true);
      expect(rotated.needsRotation(fresh)).toBe(false);
      expect(rotated.decrypt(TENANT, fresh)).toBe(PLAINTEXT);
      // A box that only knows k2 can read the rotated ciphertext, but not the old one.
      const onlyK2 = createSecretBox({ keys: { k2: K2 }, currentKeyId: 'k2' });
      expect(onlyK2.decrypt(TENANT, fresh)).toBe(PLAINTEXT);
      expect(() => onlyK2.decrypt(TENANT, sealed)).toThrow(/unknown key id "k1"/);
    });

    it('rotate() leaves current-key ciphertexts unchanged', () => {
      const sealed = rotated.encrypt(TENANT, PLAINTEXT);
      expect(rotated.rotate(TENANT, sealed)).toBe(sealed);
    });

    it('rotate() refuses a ciphertext for another tenant', () => {
      const sealed = old.encrypt(TENANT, PLAINTEXT);
      expect(() => rotated.rotate('tenant-b', sealed)).toThrow(/ciphertext rejected/);
    });
  });

  it('rejects an unknown key id', () => {
    const writer = createSecretBox({ keys: { k9: K1 }, currentKeyId: 'k9' });
    const reader = createSecretBox({ keys: { k1: K1 }, currentKeyId: 'k1' });
    const sealed = writer.encrypt(TENANT, PLAINTEXT);
    expect(() => reader.decrypt(TENANT, sealed)).toThrow(/unknown key id "k9"/);
    expect(() => reader.rotate(TENANT, sealed)).toThrow(/unknown key id "k9"/);
  });

  it('rejects a current key id that is not among the keys', () => {
    expect(() => createSecretBox({ keys: { k1: K1 }, currentKeyId: 'k2' })).toThrow(
      /current key id "k2" is not among the keys/,
    );
  });

  it('rejects invalid key ids', () => {
    expect(() => createSecretBox({ keys: { 'k:1': K1 }, currentKeyId: 'k:1' })).toThrow(/invalid key id/);
    expect(() => createSecretBox({ keys: { '': K1 }, currentKeyId: '' })).toThrow(/invalid key id/);
  });

  it('rejects keys of the wrong length at creation', () => {
    expect(() => createSecretBox({ keys: { k1: randomBytes(16) }, currentKeyId: 'k1' })).toThrow(
      /master key "k1" must be 32 bytes \(got 16\)/,
    );
    expect(() => createSecretBox({ keys: { k1: randomBytes(33) }, currentKeyId: 'k1' })).toThrow(
      /must be 32 bytes \(got 33\)/,
    );
    expect(() =>
      createSecretBox({ keys: { k1: randomBytes(31).toString('hex') }, currentKeyId: 'k1' }),
    ).toThrow(/must be 32 bytes/);
    expect(() =>
      createSecretBox({ keys: { k1: randomBytes(24).toString('base64') }, currentKeyId: 'k1' }),
    ).toThrow(/must be 32 bytes \(got 24\)/);
    expect(() => createSecretBox({ keys: { k1: '' }, currentKeyId: 'k1' })).toThrow(/got 0/);
    // A bad non-current key is rejected too.
    expect(() => createSecretBox({ keys: { k1: K1, k0: randomBytes(8) }, currentKeyId: 'k1' })).toThrow(
      /master key "k0"/,
    );
  });

  it('accepts keys as Buffer, Uint8Array, hex and base64 strings, all equivalent', () => {
    const fromBuffer = createSecretBox({ keys: { k1: K1 }, currentKeyId: 'k1' });
    const fromUint8 = createSecretBox({ keys: { k1: new Uint8Array(K1) }, currentKeyId: 'k1' });
    const fromHex = createSecretBox({ keys: { k1: K1.toString('hex') }, currentKeyId: 'k1' });
    const fromHexUpper = createSecretBox({
      keys: { k1: K1.toString('hex').toUpperCase() },
      currentKeyId: 'k1',
    });
    const fromBase64 = createSecretBox({ keys: { k1: K1.toString('base64') }, currentKeyId: 'k1' });
    const boxes = [fromBuffer, fromUint8, fromHex, fromHexUpper, fromBase64];
    for (const writer of boxes) {
      const sealed = writer.encrypt(TENANT, PLAINTEXT);
      for (const reader of boxes) expect(reader.decrypt(TENANT, sealed)).toBe(PLAINTEXT);
    }
  });

  it('binds each ciphertext to its tenant', () => {
    const box = createSecretBox({ keys: { k1: K1 }, currentKeyId: 'k1' });
    const a = box.encrypt('tenant-a', PLAINTEXT);
    const b = box.encrypt('tenant-b', PLAINTEXT);
    expect(box.decrypt('tenant-a', a)).toBe(PLAINTEXT);
    expect(box.decrypt('tenant-b', b)).toBe(PLAINTEXT);
    expect(() => box.decrypt('tenant-a', b)).toThrow(/ciphertext rejected/);
  });
});
