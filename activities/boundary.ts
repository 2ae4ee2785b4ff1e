/**
 * The activity boundary: errors leave an activity as ApplicationFailures whose
 * type is the error's class name, marked non-retryable when a retry cannot help
 * (wrong host key, bad credentials, bad input), so the workflow's retry policy
 * decides the rest.
 */
import { ApplicationFailure } from '@temporalio/common';

interface MaybeRetryable {
  retryable?: unknown;
}

function isPermanent(err: Error): boolean {
  const flag = (err as MaybeRetryable).retryable;
  if (typeof flag === 'boolean') return !flag;
  return err.name === 'InputError' || err.name === 'UnquotableValueError';
}

export function toFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const error = err instanceof Error ? err : new Error(String(err));
  return ApplicationFailure.create({
    message: error.message,
    type: error.name,
    nonRetryable: isPermanent(error),
    cause: error,
  });
}

/** Wraps an activity so every error it throws crosses the boundary as described above. */
export function atBoundary<A extends unknown[], R>(
  fn: (...args: A) => Promise<R>,
): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (err) {
      throw toFailure(err);
    }
  };
}
