import { describe, expect, it } from 'vitest';
import { createFakeClock } from '../src/index.js';

describe('createFakeClock', () => {
  it('resolves sleeps in order as time advances, and never goes backwards', async () => {
    const clock = createFakeClock(1_000);
    const woke: number[] = [];
    void clock.sleep(300).then(() => woke.push(300));
    void clock.sleep(100).then(() => woke.push(100));
    await clock.advance(99);
    expect(woke).toEqual([]);
    await clock.advance(1);
    expect(woke).toEqual([100]);
    await clock.set(1_300);
    expect(woke).toEqual([100, 300]);
    await clock.set(0);
    expect(clock.now()).toBe(1_300);
    expect(clock.pendingSleeps()).toBe(0);
  });

  it('rejects an aborted sleep', async () => {
    const clock = createFakeClock();
    const controller = new AbortController();
    const slept = clock.sleep(1_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(slept).rejects.toThrow('stop');
  });
});
