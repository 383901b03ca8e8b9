import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const PREFIX = 'ib1';
const SALT = Buffer.from('impact-in/secret-box/v1', 'utf8');

export interface SecretBoxOptions {
  /** Master keys by key id. Each is 32 bytes (Buffer, or base64/hex string of 32 bytes). */
  keys: Record<string, Uint8Array | string>;
  /** The key id new ciphertexts are written with. */
  currentKeyId: string;
}

/** AES-256-GCM encryption with per-tenant keys derived from a rotating master key. */
export interface SecretBox {
  /** `ib1:<keyId>:<iv>:<ciphertext+tag>` (base64url parts). The tenant is bound in as AAD. */
  encrypt(tenantId: string, plaintext: string): string;
  /** Throws on a tampered ciphertext, the wrong tenant or an unknown key id. */
  decrypt(tenantId: string, ciphertext: string): string;
  /** The key id a ciphertext was written with. */
  keyIdOf(ciphertext: string): string;
  /** Whether a ciphertext was written with an older key and should be re-encrypted. */
  needsRotation(ciphertext: string): boolean;
  /** Decrypts with whatever key wrote it and encrypts with the current one. */
  rotate(tenantId: string, ciphertext: string): string;
  readonly currentKeyId: string;
}

function keyBytes(id: string, key: Uint8Array | string): Buffer {
  let bytes: Buffer;
  if (typeof key !== 'string') bytes = Buffer.from(key);
  else if (/^[0-9a-f]{64}$/i.test(key)) bytes = Buffer.from(key, 'hex');
  else bytes = Buffer.from(key, 'base64');
  if (bytes.length !== 32) {
    throw new Error(`[impact-in] [secret-box] master key "${id}" must be 32 bytes (got ${bytes.length})`);
  }
  return bytes;
}

/**
 * Creates a secret box.
 *
 * @example
 * const box = createSecretBox({ keys: { k1: randomBytes(32) }, currentKeyId: 'k1' });
 * const sealed = box.encrypt(tenantId, 'client-secret');
 * box.decrypt(tenantId, sealed); // 'client-secret'
 */
export function createSecretBox(options: SecretBoxOptions): SecretBox {
  const masters = new Map<string, Buffer>();
  for (const [id, key] of Object.entries(options.keys)) {
    if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new Error(`[impact-in] [secret-box] invalid key id "${id}"`);
    masters.set(id, keyBytes(id, key));
  }
  if (!masters.has(options.currentKeyId)) {
    throw new Error(
      `[impact-in] [secret-box] current key id "${options.currentKeyId}" is not among the keys`,
    );
  }
  const derived = new Map<string, Buffer>();
  const tenantKey = (keyId: string, tenantId: string): Buffer => {
    const cacheKey = `${keyId}\u0000${tenantId}`;
    let key = derived.get(cacheKey);
    if (!key) {
      const master = masters.get(keyId);
      if (!master) throw new Error(`[impact-in] [secret-box] unknown key id "${keyId}"`);
      key = Buffer.from(hkdfSync('sha256', master, SALT, Buffer.from(`tenant:${tenantId}`, 'utf8'), 32));
      derived.set(cacheKey, key);
    }
    return key;
  };
  const aad = (keyId: string, tenantId: string) => Buffer.from(`${PREFIX}:${keyId}:${tenantId}`, 'utf8');
  const parse = (ciphertext: string) => {
    const parts = ciphertext.split(':');
    if (parts.length !== 4 || parts[0] !== PREFIX) {
      throw new Error('[impact-in] [secret-box] not a secret-box ciphertext');
    }
    return {
      keyId: parts[1]!,
      iv: Buffer.from(parts[2]!, 'base64url'),
      sealed: Buffer.from(parts[3]!, 'base64url'),
    };
  };

  const box: SecretBox = {
    currentKeyId: options.currentKeyId,
    encrypt(tenantId, plaintext) {
      const keyId = options.currentKeyId;
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', tenantKey(keyId, tenantId), iv);
      cipher.setAAD(aad(keyId, tenantId));
      const encrypted = Buffer.concat([
        cipher.update(plaintext, 'utf8'),
        cipher.final(),
        cipher.getAuthTag(),
      ]);
      return `${PREFIX}:${keyId}:${iv.toString('base64url')}:${encrypted.toString('base64url')}`;
    },
    decrypt(tenantId, ciphertext) {
      const { keyId, iv, sealed } = parse(ciphertext);
      if (iv.length !== 12 || sealed.length < 16)
        throw new Error('[impact-in] [secret-box] malformed ciphertext');
      const decipher = createDecipheriv('aes-256-gcm', tenantKey(keyId, tenantId), iv);
      decipher.setAAD(aad(keyId, tenantId));
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      try {
        return Buffer.concat([
          decipher.update(sealed.subarray(0, sealed.length - 16)),
          decipher.final(),
        ]).toString('utf8');
      } catch {
        throw new Error(
          '[impact-in] [secret-box] ciphertext rejected: tampered, or sealed for another tenant',
        );
      }
    },
    keyIdOf: (ciphertext) => parse(ciphertext).keyId,
    needsRotation: (ciphertext) => parse(ciphertext).keyId !== options.currentKeyId,
    rotate(tenantId, ciphertext) {
      return box.needsRotation(ciphertext)
        ? box.encrypt(tenantId, box.decrypt(tenantId, ciphertext))
        : ciphertext;
    },
  };
  return box;
}
