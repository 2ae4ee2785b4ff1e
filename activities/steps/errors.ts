/**
 * Failures of the step runner and the chapters. Each says whether a retry can
 * help: the runner reports permanent ones as a `failed` step and throws
 * retryable ones, so the workflow's retry policy decides when to try again.
 */

export abstract class StepError extends Error {
  abstract readonly retryable: boolean;

  protected constructor(
    readonly host: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The host cannot run what the step installs (32-bit, old kernel, unknown distribution). */
export class UnsupportedHostError extends StepError {
  readonly retryable = false;

  constructor(
    host: string,
    readonly reason: string,
  ) {
    super(host, `unsupported host (${reason}): ${host}`);
  }
}

/** The parameters do not fit this host (a missing URL for its package family, a user that does not exist). */
export class StepConfigError extends StepError {
  readonly retryable = false;

  constructor(
    host: string,
    readonly reason: string,
  ) {
    super(host, `${reason}: ${host}`);
  }
}

/** After apply, probing again still found something to change: the step does not converge. */
export class NotConvergedError extends StepError {
  readonly retryable = false;

  constructor(
    host: string,
    readonly step: string,
    /** The actions still planned, one per change. */
    readonly remaining: string[],
  ) {
    super(host, `step ${step} did not converge, still planned: ${remaining.join('; ')}: ${host}`);
  }
}

/** The step applied its changes but the result is wrong. */
export class VerifyFailedError extends StepError {
  readonly retryable = false;

  constructor(
    host: string,
    readonly step: string,
    readonly reason: string,
  ) {
    super(host, `verification of ${step} failed (${reason}): ${host}`);
  }
}

/** apt or dpkg is locked by another process (unattended-upgrades, an operator); trying later helps. */
export class PackageManagerLockedError extends StepError {
  readonly retryable = true;

  constructor(
    host: string,
    readonly command: string,
    readonly detail: string,
  ) {
    super(host, `package index is locked by another process (${detail}): ${host}: ${command}`);
  }
}

/** The Docker daemon does not answer yet; it may still be starting. */
export class DaemonStartingError extends StepError {
  readonly retryable = true;

  constructor(
    host: string,
    readonly waitedMs: number,
    readonly detail: string,
  ) {
    super(host, `docker daemon still starting, no answer after ${waitedMs} ms (${detail}): ${host}`);
  }
}
