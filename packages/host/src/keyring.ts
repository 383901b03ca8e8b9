import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createSecretBox, type Logger, type SecretBox } from '@impact-in/core';
import type { HostEnv } from './config.js';

/** The master keys the host can read with; the first one writes. */
export interface KeyRing {
  /** Key id → 32-byte key. */
  keys: Map<string, Buffer>;
  currentKeyId: string;
  /** Where the keys came from: the environment or the embedded key file. */
  source: 'environment' | 'file';
  /** The key file, when `source` is `file`. */
  file?: string;
}

function decodeKey(value: string, what: string): Buffer {
  const text = value.trim();
  const bytes = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (bytes.length !== 32)
    throw new Error(`[impact-in] ${what} must be 32 bytes, as 64 hex characters or base64`);
  return bytes;
}

/** A key's id is derived from the key itself, so the id and the key can never disagree. */
export function keyIdOf(key: Buffer): string {
  return `k${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;
}

function ringOf(keys: Buffer[], source: KeyRing['source'], file?: string): KeyRing {
  const map = new Map<string, Buffer>();
  for (const key of keys) map.set(keyIdOf(key), key);
  return { keys: map, currentKeyId: keyIdOf(keys[0]!), source, ...(file ? { file } : {}) };
}

/** The embedded mode's key file: one base64 key per line, the current one first. */
export function keyFilePath(dataDir: string): string {
  return join(dataDir, 'master.key');
}

function readKeyFile(file: string): Buffer[] {
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  if (lines.length === 0) throw new Error(`[impact-in] the key file ${file} holds no key`);
  return lines.map((line, index) => decodeKey(line, `line ${index + 1} of ${file}`));
}

export function writeKeyRingFile(file: string, keys: Buffer[]): void {
  mkdirSync(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  const text = `# impact-in master keys: the first encrypts, every one decrypts. Back this file up.\n${keys
    .map((key) => key.toString('base64'))
    .join('\n')}\n`;
  writeFileSync(temp, text, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, file);
}

/**
 * Loads the master keys. With `IMPACT_IN_MASTER_KEY` (plus `IMPACT_IN_PREVIOUS_MASTER_KEYS`, comma
 * separated, still readable), from the environment. Without it (embedded mode), from
 * `<IMPACT_IN_DATA_DIR>/master.key`, generated with mode 0600 on first use, with a warning.
 */
export function loadKeyRing(env: HostEnv, logger?: Logger): KeyRing {
  if (env.IMPACT_IN_MASTER_KEY) {
    const previous = (env.IMPACT_IN_PREVIOUS_MASTER_KEYS ?? '')
      .split(',')
      .map((value) => value.trim())
      .filter(Boolean)
      .map((value, index) => decodeKey(value, `IMPACT_IN_PREVIOUS_MASTER_KEYS entry ${index + 1}`));
    return ringOf([decodeKey(env.IMPACT_IN_MASTER_KEY, 'IMPACT_IN_MASTER_KEY'), ...previous], 'environment');
  }
  const file = keyFilePath(env.IMPACT_IN_DATA_DIR);
  if (env.DATABASE_URL) {
    logger?.warn(
      { file },
      'DATABASE_URL is set but IMPACT_IN_MASTER_KEY is not: secrets are sealed with a key file local to this machine; replicas on other machines cannot read them',
    );
  }
  if (!existsSync(file)) {
    writeKeyRingFile(file, [randomBytes(32)]);
    logger?.warn(
      { file },
      'IMPACT_IN_MASTER_KEY is not set: generated a master key file (mode 0600). Back it up; set IMPACT_IN_MASTER_KEY in production',
    );
  } else if ((statSync(file).mode & 0o077) !== 0) {
    logger?.warn({ file }, 'the master key file is readable by other users; chmod 600 it');
  }
  return ringOf(readKeyFile(file), 'file', file);
}

/**
 * Adds a new current key to the embedded key file (older keys stay, so everything remains
 * readable while secrets are re-encrypted). Returns the new ring.
 */
export function addKeyToFile(file: string): KeyRing {
  const keys = readKeyFile(file);
  writeKeyRingFile(file, [randomBytes(32), ...keys]);
  return ringOf(readKeyFile(file), 'file', file);
}

/**
 * A secret box over the key ring. A ciphertext written under a key this process has not seen
 * (another process rotated the key file) makes it re-read the key file once and retry.
 */
export function keyRingBox(initial: KeyRing): SecretBox & { readonly ring: KeyRing } {
  let ring = initial;
  let box = createSecretBox({ keys: Object.fromEntries(ring.keys), currentKeyId: ring.currentKeyId });
  const reload = () => {
    if (ring.source !== 'file' || !ring.file) return false;
    const next = ringOf(readKeyFile(ring.file), 'file', ring.file);
    ring = next;
    box = createSecretBox({ keys: Object.fromEntries(ring.keys), currentKeyId: ring.currentKeyId });
    return true;
  };
  const withReload = <T>(ciphertext: string, work: () => T): T => {
    if (!ring.keys.has(box.keyIdOf(ciphertext)) && reload()) return work();
    return work();
  };
  return {
    get ring() {
      return ring;
    },
    get currentKeyId() {
      return box.currentKeyId;
    },
    encrypt: (tenantId, plaintext) => box.encrypt(tenantId, plaintext),
    decrypt: (tenantId, ciphertext) => withReload(ciphertext, () => box.decrypt(tenantId, ciphertext)),
    keyIdOf: (ciphertext) => box.keyIdOf(ciphertext),
    needsRotation: (ciphertext) => box.needsRotation(ciphertext),
    rotate: (tenantId, ciphertext) => withReload(ciphertext, () => box.rotate(tenantId, ciphertext)),
  };
}
