import { expect } from 'vitest';
import { AppError } from '../../main/errors.js';

/** Awaits `p`, which must fail with an AppError of `code` whose message matches and which has a hint. */
export async function expectAppError(p: Promise<unknown>, code: string, pattern: RegExp): Promise<AppError> {
  const e: unknown = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(AppError);
  const err = e as AppError;
  expect(err.code).toBe(code);
  expect(err.message).toMatch(pattern);
  expect(err.hint).toBeTruthy();
  return err;
}
