/**
 * The step model every chapter follows: probe the host's current state, plan the
 * difference from the desired state, apply only that difference, verify. These
 * types cross the workflow boundary, so they are plain data and safe in workflow code.
 */

export type StepStatus = 'ok' | 'changed' | 'failed' | 'skipped';

/** One planned or applied difference, readable on its own. */
export interface Change {
  kind: 'file' | 'package' | 'service' | 'group' | 'command';
  /** What changes: a path, a package name, a service name, a user. */
  target: string;
  /** A short verb phrase: `write`, `back up to sources.list.bak`, `install 20.10.24`, `start`. */
  action: string;
  /** A unified diff for files; absent for other kinds. */
  diff?: string;
}

export interface StepReport {
  chapter: string;
  step: string;
  host: string;
  /** In check mode `changed` means "would change"; nothing was applied. */
  status: StepStatus;
  changes: Change[];
  /** Why the step failed or was skipped. */
  reason?: string;
  checkMode: boolean;
  durationMs: number;
}
