/**
 * Copies a byte stream to a second consumer (the blob store) while the first (the importer) reads
 * it, with backpressure on both: the source is not read further while either is behind by more
 * than `highWaterMark` bytes. The importer may stop early; `finish(true)` then copies the rest of
 * the source to the second consumer, `finish(false)` (or `abort`) fails it.
 */
export class StreamTee {
  readonly #source: AsyncIterator<Uint8Array>;
  readonly #highWaterMark: number;
  readonly #queue: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #failure: Error | undefined;
  #consumerGone = false;
  #wakeConsumer: (() => void) | undefined;
  #wakeProducer: (() => void) | undefined;
  #sourceDone = false;

  constructor(source: AsyncIterable<Uint8Array>, options: { highWaterMark?: number } = {}) {
    this.#source = source[Symbol.asyncIterator]();
    this.#highWaterMark = options.highWaterMark ?? 1024 * 1024;
  }

  /** What the importer reads. Its early return does not close the source. */
  get reader(): AsyncIterable<Uint8Array> {
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => this.#next(),
        return: async () => ({ done: true, value: undefined }),
      }),
    };
  }

  /** What the blob store reads: every chunk the importer read (and, after `finish(true)`, the rest). */
  get copy(): AsyncIterable<Uint8Array> {
    return { [Symbol.asyncIterator]: () => this.#copy() };
  }

  /** Ends the copy: with the rest of the source (`keepRest`), or failed. */
  async finish(keepRest: boolean): Promise<void> {
    if (!keepRest) {
      this.abort(new Error('[impact-in] [imports] upload not kept'));
      return;
    }
    while (!this.#sourceDone) await this.#next();
    this.#end();
  }

  /** Fails the copy (the blob store discards what it wrote). */
  abort(error: Error): void {
    if (this.#ended) return;
    this.#failure = error;
    this.#queue.length = 0;
    this.#queued = 0;
    this.#end();
  }

  /** The consumer of the copy failed (disk full, say): stop waiting for it. */
  consumerFailed(): void {
    this.#consumerGone = true;
    this.#wakeProducer?.();
  }

  async #next(): Promise<IteratorResult<Uint8Array>> {
    if (this.#sourceDone) return { done: true, value: undefined };
    const next = await this.#source.next();
    if (next.done) {
      this.#sourceDone = true;
      return next;
    }
    if (!this.#consumerGone && !this.#ended) {
      this.#queue.push(next.value);
      this.#queued += next.value.length;
      this.#wakeConsumer?.();
      while (this.#queued > this.#highWaterMark && !this.#consumerGone && !this.#ended) {
        await new Promise<void>((resolve) => {
          this.#wakeProducer = resolve;
        });
      }
    }
    return next;
  }

  #end(): void {
    this.#ended = true;
    this.#wakeConsumer?.();
    this.#wakeProducer?.();
  }

  async *#copy(): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (this.#failure) throw this.#failure;
      const chunk = this.#queue.shift();
      if (chunk) {
        this.#queued -= chunk.length;
        if (this.#queued <= this.#highWaterMark) this.#wakeProducer?.();
        yield chunk;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#wakeConsumer = resolve;
      });
      this.#wakeConsumer = undefined;
    }
  }
}
