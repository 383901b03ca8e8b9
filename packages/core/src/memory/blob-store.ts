import type { BlobStore } from '../interfaces.js';

/** Keeps blobs in memory. The host's default is a local folder; this is for tests and embedding. */
export class MemoryBlobStore implements BlobStore {
  readonly #blobs = new Map<string, Buffer>();

  async put(
    key: string,
    data: Uint8Array | AsyncIterable<Uint8Array>,
  ): Promise<{ key: string; size: number }> {
    let bytes: Buffer;
    if (data instanceof Uint8Array) bytes = Buffer.from(data);
    else {
      const chunks: Buffer[] = [];
      for await (const chunk of data) chunks.push(Buffer.from(chunk));
      bytes = Buffer.concat(chunks);
    }
    this.#blobs.set(key, bytes);
    return { key, size: bytes.length };
  }

  async get(key: string): Promise<AsyncIterable<Uint8Array> | undefined> {
    const bytes = this.#blobs.get(key);
    if (!bytes) return undefined;
    return (async function* () {
      yield new Uint8Array(bytes);
    })();
  }

  async delete(key: string): Promise<void> {
    this.#blobs.delete(key);
  }
}
