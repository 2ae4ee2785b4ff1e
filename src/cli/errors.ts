/** Exit codes of the `rollbook` CLI; the README documents them for Jenkins. */
export const EXIT = {
  ok: 0,
  /** The job ran and at least one host failed. */
  hostsFailed: 1,
  /** Bad arguments, inventory or host pattern: nothing was started. */
  invalidInput: 2,
  /** The Temporal frontend did not answer. */
  temporalUnreachable: 3,
} as const;

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
    /** The command to run next, printed under the message. */
    readonly hint?: string,
  ) {
    super(message);
  }
}
