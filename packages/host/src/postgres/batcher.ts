/**
 * Groups calls made in the same turn of the event loop into one batch, so concurrent requests
 * share one statement and one commit instead of paying for their own. Idle, a call runs at the
 * next `setImmediate` (no added wait); under load, batches fill up to `maxSize`.
 */
export function createBatcher<I, O>(
  run: (items: I[]) => Promise<O[]>,
  options: { maxSize?: number } = {},
): (item: I) => Promise<O> {
  const maxSize = options.maxSize ?? 200;
  let queue: Array<{ item: I; resolve: (value: O) => void; reject: (error: unknown) => void }> = [];
  let scheduled = false;

  const flush = async () => {
    scheduled = false;
    const batch = queue;
    queue = [];
    if (batch.length === 0) return;
    try {
      const results = await run(batch.map((entry) => entry.item));
      for (const [index, entry] of batch.entries()) entry.resolve(results[index]!);
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // One bad item must not fail its neighbours (another tenant's request, say): retry alone.
      await Promise.all(
        batch.map(async (entry) => {
          try {
            const [result] = await run([entry.item]);
            entry.resolve(result!);
          } catch (alone) {
            entry.reject(alone);
          }
        }),
      );
    }
  };

  return (item) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (queue.length >= maxSize) void flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(() => void flush());
      }
    });
}
