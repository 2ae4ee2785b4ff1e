/** Local processes for the fleet: argv arrays through execFile, never a shell string. */
import { execFile, type ExecFileException } from 'node:child_process';

import { LocalCommandError } from './errors';

export interface RunOptions {
  /** Container, network or volume the command acts on; named in the error. */
  target?: string;
  /** Kill the process after this many milliseconds; default 60000. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_OUTPUT_BYTES = 32 * 1024 * 1024;

export interface RunOutput {
  stdout: string;
  stderr: string;
}

/** Runs `file args`, resolving with stdout; any failure becomes a LocalCommandError. */
export async function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return (await runCapture(file, args, opts)).stdout;
}

/** Like {@link run}, also returning stderr. */
export function runCapture(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunOutput> {
  const started = Date.now();
  const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  return new Promise((resolve, reject) => {
    const options = { timeout, maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' as const };
    execFile(file, args, options, (error, stdout, stderr) => {
      if (!error) {
        resolve({ stdout, stderr });
        return;
      }
      reject(toLocalCommandError(file, args, opts, error, { stdout, stderr }, Date.now() - started));
    });
  });
}

function toLocalCommandError(
  file: string,
  args: readonly string[],
  opts: RunOptions,
  error: ExecFileException,
  { stdout, stderr }: RunOutput,
  durationMs: number,
): LocalCommandError {
  // A numeric code is the exit status; a string code (ENOENT) means it never ran.
  const exitCode = typeof error.code === 'number' ? error.code : null;
  const notStarted = typeof error.code === 'string' ? `${error.code}: ${error.message}` : '';
  return new LocalCommandError({
    file,
    args,
    ...(opts.target === undefined ? {} : { target: opts.target }),
    exitCode,
    signal: error.signal ?? null,
    stderr: stderr || notStarted,
    stdout,
    durationMs,
    timedOut: error.killed === true && error.signal !== null && exitCode === null,
    cause: error,
  });
}

/** Runs docker with the client on PATH. */
export function docker(args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return run('docker', args, opts);
}
