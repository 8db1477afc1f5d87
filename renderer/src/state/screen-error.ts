import { ApiError } from '../api/client.js';

/** What a screen shows when a request fails: main's message and hint for a person. */
export interface ScreenError {
  message: string;
  hint?: string;
}

export const screenError = (e: unknown): ScreenError =>
  e instanceof ApiError ? { message: e.message, ...(e.hint ? { hint: e.hint } : {}) } : { message: String(e) };

/** Runs a slice action: clears the slice's error first, and records a failure there instead of throwing. */
export function attemptWith(set: (patch: { error: ScreenError | null }) => void): (fn: () => Promise<void>) => Promise<void> {
  return async (fn) => {
    try {
      set({ error: null });
      await fn();
    } catch (e) {
      set({ error: screenError(e) });
    }
  };
}
