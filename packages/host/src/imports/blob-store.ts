import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from '@impact-in/core';

/** A key segment: starts with a letter or digit (so never `.` or `..`), then letters, digits, `._-`. */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/**
 * Refuses a blob key that is not `/`-separated segments of letters, digits, `.`, `_` and `-`
 * (at most 16): no `..`, no absolute paths, no back-slashes. Every BlobStore of the host checks
 * keys the same way, so a key valid on one is valid on all.
 */
export function assertBlobKey(key: string): string[] {
  const segments = key.split('/');
  if (segments.length > 16 || !segments.every((segment) => SEGMENT.test(segment))) {
    throw new Error(`[impact-in] [blobs] invalid blob key "${key.slice(0, 200)}"`);
  }
  return segments;
}

/**
 * Blobs as files under one folder: `<root>/<key>`. Writes stream to a temporary file in
 * `<root>/.tmp` and are renamed into place once complete, so a reader never sees half a file and
 * a failed upload leaves nothing behind. Keys are `/`-separated segments of letters, digits, `.`,
 * `_` and `-`; anything else (`..`, absolute paths, back-slashes) is refused.
 *
 * @example
 * const blobs = new LocalBlobStore('./.impact-in/blobs');
 * await blobs.put(`${tenantId}/imports/${importId}.csv`, request.body);
 */
export class LocalBlobStore implements BlobStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** The file of a key; throws for a key that could leave the root. */
  pathOf(key: string): string {
    const path = join(this.root, ...assertBlobKey(key));
    if (!path.startsWith(this.root + sep)) {
      throw new Error(`[impact-in] [blobs] invalid blob key "${key.slice(0, 200)}"`);
    }
    return path;
  }

  async put(
    key: string,
    data: Uint8Array | AsyncIterable<Uint8Array>,
  ): Promise<{ key: string; size: number }> {
    const path = this.pathOf(key);
    const tmpDir = join(this.root, '.tmp');
    await mkdir(tmpDir, { recursive: true });
    await mkdir(dirname(path), { recursive: true });
    const tmp = join(tmpDir, `${randomUUID()}.part`);
    let size = 0;
    const chunks = data instanceof Uint8Array ? [data] : data;
    const counted = async function* () {
      for await (const chunk of chunks) {
        size += chunk.length;
        yield chunk;
      }
    };
    try {
      await pipeline(
        Readable.from(counted(), { objectMode: false }),
        createWriteStream(tmp, { flags: 'wx' }),
      );
      await rename(tmp, path);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
    return { key, size };
  }

  async get(key: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    const path = this.pathOf(key);
    try {
      const handle = await open(path, 'r');
      return handle.createReadStream();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  /**
   * Removes the temporary files of uploads that stopped being written `olderThanMs` ago: what a
   * host that died mid-upload leaves in `<root>/.tmp`. An upload in progress writes its file
   * continuously, so its modification time stays fresh. Returns how many were removed.
   */
  async removeStaleParts(olderThanMs: number, now = Date.now()): Promise<number> {
    const tmpDir = join(this.root, '.tmp');
    let names: string[];
    try {
      names = await readdir(tmpDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
    let removed = 0;
    for (const name of names) {
      if (!name.endsWith('.part')) continue;
      const path = join(tmpDir, name);
      const info = await stat(path).catch(() => undefined);
      if (info && now - info.mtimeMs > olderThanMs) {
        await rm(path, { force: true });
        removed++;
      }
    }
    return removed;
  }
}
