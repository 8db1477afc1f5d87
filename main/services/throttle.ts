/**
 * At most one message per interval, the latest winning; `flush` sends one at once (a final state
 * always goes out). Streams to the renderer go through this: deltas at a human pace, never a flood.
 */
export function latestEvery<T>(intervalMs: number, send: (value: T) => void): { push: (value: T) => void; flush: (value?: T) => void } {
  let pending: { value: T } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastSent = 0;
  const fire = (): void => {
    timer = undefined;
    if (!pending) return;
    lastSent = Date.now();
    const { value } = pending;
    pending = undefined;
    send(value);
  };
  return {
    push(value) {
      pending = { value };
      timer ??= setTimeout(fire, Math.max(0, lastSent + intervalMs - Date.now()));
    },
    flush(value) {
      clearTimeout(timer);
      timer = undefined;
      if (value !== undefined) pending = { value };
      fire();
    },
  };
}
