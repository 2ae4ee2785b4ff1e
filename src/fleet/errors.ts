/** Errors of the test fleet: one class per condition, each with the ids that identify it. */

/** Longest stderr or log excerpt a message carries; the field keeps the same excerpt. */
const TAIL_CHARS = 400;

/** The last part of process output on one line: control characters escaped, length capped. */
export function tail(text: string, max = TAIL_CHARS): string {
  const flat = text
    .trim()
    .replace(/\r?\n/g, ' | ')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return flat.length <= max ? flat : `…${flat.slice(flat.length - max)}`;
}

/** What a failed local process reported. */
export interface LocalCommandFailure {
  /** The program, e.g. `docker`. */
  file: string;
  args: readonly string[];
  /** The container, network or volume the command acted on, when there is one. */
  target?: string;
  exitCode: number | null;
  signal: string | null;
  stderr: string;
  /** Standard output, for commands that report on stdout even when they fail. */
  stdout?: string;
  durationMs: number;
  /** The process was killed because it ran longer than its timeout. */
  timedOut: boolean;
  cause?: unknown;
}

/** A local command (docker, ssh-keygen) failed or could not be started. */
export class LocalCommandError extends Error {
  override readonly name: string = 'LocalCommandError';
  readonly file: string;
  readonly args: readonly string[];
  readonly target: string | undefined;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** Capped, one-line tail of stderr. */
  readonly stderrTail: string;
  /** Capped, one-line tail of stdout. */
  readonly stdoutTail: string;
  readonly durationMs: number;
  readonly timedOut: boolean;

  constructor(failure: LocalCommandFailure) {
    super(describeFailure(failure), { cause: failure.cause });
    this.file = failure.file;
    this.args = failure.args;
    this.target = failure.target;
    this.exitCode = failure.exitCode;
    this.signal = failure.signal;
    this.stderrTail = tail(failure.stderr);
    this.stdoutTail = tail(failure.stdout ?? '');
    this.durationMs = failure.durationMs;
    this.timedOut = failure.timedOut;
  }
}

function describeFailure(f: LocalCommandFailure): string {
  const what = [f.file, ...verb(f.args)].join(' ');
  const status = f.timedOut
    ? `timed out after ${f.durationMs} ms`
    : f.signal
      ? `signal ${f.signal}`
      : `exit ${f.exitCode ?? '?'}`;
  const on = f.target ? ` for ${f.target}` : '';
  const hint = hintFor(f);
  return `${what} failed${on} (${status}): ${tail(f.stderr) || 'no stderr'}${hint ? `; ${hint}` : ''}`;
}

/** `run`, or `network create` for docker's two-word commands. */
function verb(args: readonly string[]): string[] {
  const [first, second] = args;
  if (first === undefined) return [];
  const grouped = ['network', 'volume', 'image', 'container'].includes(first) && second !== undefined;
  return grouped ? [first, second] : [first];
}

function hintFor(f: LocalCommandFailure): string {
  if (f.exitCode === null && f.signal === null && !f.timedOut)
    return `is ${f.file} installed? run: scripts/setup`;
  if (/Cannot connect to the Docker daemon/i.test(f.stderr)) return 'run: scripts/setup';
  return '';
}

/** A fleet host did not come up: its container stopped, or sshd did not answer in time. */
export class FleetHostNotReadyError extends Error {
  override readonly name = 'FleetHostNotReadyError';

  constructor(
    readonly host: string,
    readonly container: string,
    /** Why, e.g. `sshd did not answer on 172.18.0.10:22 within 30000 ms`. */
    readonly reason: string,
    /** Capped, one-line tail of `docker logs`. */
    readonly logsTail: string,
  ) {
    super(`fleet host ${host} (${container}) is not ready: ${reason}; docker logs: ${logsTail || 'empty'}`);
  }
}

/** The fleet's files are missing or unreadable: it was never started here, or was stopped. */
export class FleetNotFoundError extends Error {
  override readonly name = 'FleetNotFoundError';

  constructor(
    readonly fleet: string,
    readonly file: string,
  ) {
    super(`fleet ${fleet} not found: no ${file}; start it with: scripts/fleet up --name ${fleet} --count 1`);
  }
}

/** A host name that is not part of the fleet. */
export class UnknownFleetHostError extends Error {
  override readonly name = 'UnknownFleetHostError';

  constructor(
    readonly fleet: string,
    readonly host: string,
  ) {
    super(`fleet ${fleet} has no host ${host}`);
  }
}

/** The fleet exists with settings that differ from the requested ones. */
export class FleetConflictError extends Error {
  override readonly name = 'FleetConflictError';

  constructor(
    readonly fleet: string,
    readonly detail: string,
  ) {
    super(
      `fleet ${fleet} already exists with other settings: ${detail}; remove it first: scripts/fleet down --name ${fleet}`,
    );
  }
}

/** A fleet or host name that cannot become a container name and a hostname. */
export class InvalidFleetNameError extends Error {
  override readonly name = 'InvalidFleetNameError';

  constructor(
    readonly kind: 'fleet' | 'host',
    readonly value: string,
  ) {
    super(
      `invalid ${kind} name ${JSON.stringify(value)}: use 1-32 lowercase letters, digits and '-', starting with a letter or digit`,
    );
  }
}

/** A fleet image has not been built on this machine. */
export class FleetImageMissingError extends Error {
  override readonly name = 'FleetImageMissingError';

  constructor(readonly image: string) {
    super(`fleet image ${image} is missing; build it with: scripts/setup`);
  }
}
