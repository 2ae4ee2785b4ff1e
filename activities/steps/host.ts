/**
 * What steps do on a host, on top of the SSH pool: commands that heartbeat on
 * output and honour cancellation, file reads in one round trip, atomic writes
 * that skip identical content, and file changes shown as unified diffs.
 */
import { createTwoFilesPatch } from 'diff';
import type { Change } from '../../src/steps/model';
import { CommandFailedError } from '../../src/ssh/errors';
import type { ExecResult } from '../../src/ssh';
import { shellCommand, shellJoin } from '../../src/shell/quote';
import { PackageManagerLockedError } from './errors';
import type { StepContext } from './runner';

export interface CommandOptions {
  /** Default 5 minutes. */
  timeoutMs?: number;
  stdin?: string | Buffer;
  /** Heartbeat on every chunk of output, for long commands such as apt-get install. */
  heartbeatOnOutput?: boolean;
}

export type CommandResult = ExecResult;

const DEFAULT_TIMEOUT_MS = 5 * 60_000;

/** A command that prints nothing (rm -rf of a big tree, docker run) still heartbeats this often. */
const HEARTBEAT_EVERY_MS = 5_000;

/** Runs `work` while heartbeating every few seconds, so a quiet but busy step is never taken for a dead worker. */
export async function withHeartbeat<T>(
  ctx: StepContext<unknown>,
  details: unknown,
  work: () => Promise<T>,
): Promise<T> {
  const ticker = setInterval(() => ctx.heartbeat(details), HEARTBEAT_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(ticker);
  }
}

/** Runs a command line and returns its result whatever the exit code. */
export async function execOn(
  ctx: StepContext<unknown>,
  command: string,
  opts: CommandOptions = {},
): Promise<CommandResult> {
  const details = { command: command.slice(0, 200) };
  return withHeartbeat(ctx, details, () =>
    ctx.ssh.exec(ctx.target, command, {
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      signal: ctx.signal,
      ...(opts.heartbeatOnOutput ? { onOutput: () => ctx.heartbeat(details) } : {}),
      ...(opts.stdin === undefined ? {} : { stdin: opts.stdin }),
    }),
  );
}

/** Runs a command line and throws {@link CommandFailedError} unless it exits 0. */
export async function runOn(
  ctx: StepContext<unknown>,
  command: string,
  opts: CommandOptions = {},
): Promise<CommandResult> {
  const result = await execOn(ctx, command, opts);
  // A channel that closed without an exit status never gets here: the pool throws a retryable error.
  if (result.exitCode !== 0) throw new CommandFailedError(ctx.target.host, result);
  return result;
}

/** Runs an argv: every word quoted by the project's one quoting helper. */
export async function runArgv(
  ctx: StepContext<unknown>,
  argv: readonly string[],
  opts: CommandOptions = {},
): Promise<CommandResult> {
  return runOn(ctx, shellCommand(argv), opts);
}

// apt-get, dpkg and yum word their lock failures differently across releases.
const LOCK_PATTERNS = [
  /Could not get lock/i,
  /Unable to lock (the )?(directory|administration directory)/i,
  /dpkg frontend lock/i,
  /is another process using it\?/i,
  /Existing lock \/var\/run\/yum\.pid/i,
  /Waiting for process with pid \d+ to finish/i,
];

/**
 * Runs a package manager command. A lock held by another process becomes a
 * retryable {@link PackageManagerLockedError}; any other failure a {@link CommandFailedError}.
 */
export async function runPackageManager(
  ctx: StepContext<unknown>,
  argv: readonly string[],
  opts: CommandOptions = {},
): Promise<CommandResult> {
  const command = shellCommand(argv);
  const result = await execOn(ctx, command, { heartbeatOnOutput: true, timeoutMs: 20 * 60_000, ...opts });
  if (result.exitCode === 0) return result;
  const output = `${result.stderr}\n${result.stdout}`;
  const lock = LOCK_PATTERNS.find((pattern) => pattern.test(output));
  if (lock) {
    const line = output.split('\n').find((l) => lock.test(l)) ?? 'lock held';
    throw new PackageManagerLockedError(ctx.target.host, command, line.trim().slice(0, 200));
  }
  throw new CommandFailedError(ctx.target.host, result);
}

/**
 * A shell function that prints each readable regular file among its arguments as
 * `=== PATH` followed by its base64 lines. Names with characters outside the
 * portable set are left out: apt and yum ignore such files, and they could not
 * be framed safely.
 */
export const DUMP_FILES_FUNCTION = [
  'dump() {',
  '  for f in "$@"; do',
  '    [ -f "$f" ] || continue',
  '    case "${f##*/}" in *[!A-Za-z0-9_.+-]*) continue ;; esac',
  '    printf \'=== %s\\n\' "$f"',
  '    base64 <"$f" || exit 1',
  '  done',
  '}',
].join('\n');

export interface FileDump {
  /** `key=value` lines a probe script printed before the first file. */
  values: Map<string, string>;
  /** Path → content (UTF-8) of every file that exists. */
  files: Map<string, string>;
}

/** Parses the output of {@link DUMP_FILES_FUNCTION}, after optional `key=value` lines. */
export function parseFileDump(stdout: string): FileDump {
  const values = new Map<string, string>();
  const files = new Map<string, string>();
  let path: string | undefined;
  let chunks: string[] = [];
  const flush = () => {
    if (path !== undefined) files.set(path, Buffer.from(chunks.join(''), 'base64').toString('utf8'));
  };
  for (const line of stdout.split('\n')) {
    if (line.startsWith('=== ')) {
      flush();
      path = line.slice(4);
      chunks = [];
    } else if (path !== undefined) {
      chunks.push(line.trim());
    } else if (line.includes('=')) {
      values.set(line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1).trim());
    }
  }
  flush();
  return { values, files };
}

/** Runs a constant probe script built on {@link DUMP_FILES_FUNCTION} and parses what it printed. */
export async function runProbeScript(ctx: StepContext<unknown>, script: string): Promise<FileDump> {
  const result = await runOn(ctx, `${DUMP_FILES_FUNCTION}\n${script}`, { timeoutMs: 60_000 });
  return parseFileDump(result.stdout);
}

/** Reads the given files (absent ones are left out) with one command. */
export async function readFiles(
  ctx: StepContext<unknown>,
  paths: readonly string[],
): Promise<Map<string, string>> {
  if (paths.length === 0) return new Map();
  const dump = await runProbeScript(ctx, shellCommand(['dump', ...paths]));
  return dump.files;
}

export interface FileWrite {
  path: string;
  content: string;
  /** Permission bits; default the replaced file's, or 0644 for a new one. */
  mode?: number;
}

/** Creates the parent directory, then writes through the pool's temp file + rename, so readers never see half a file. */
export async function writeFileAtomic(ctx: StepContext<unknown>, file: FileWrite): Promise<void> {
  const dir = file.path.slice(0, file.path.lastIndexOf('/')) || '/';
  await runArgv(ctx, ['mkdir', '-p', dir]);
  await ctx.ssh.writeFile(
    ctx.target,
    file.path,
    file.content,
    file.mode === undefined ? {} : { mode: file.mode },
  );
}

/** Renames in one `mv` per file; `mv -f` within one directory is an atomic rename(2). */
export async function renameFiles(
  ctx: StepContext<unknown>,
  moves: ReadonlyArray<{ from: string; to: string }>,
): Promise<void> {
  if (moves.length === 0) return;
  await runOn(
    ctx,
    shellJoin(
      '&&',
      moves.map((m) => shellCommand(['mv', '-f', m.from, m.to])),
    ),
  );
}

export async function removeFiles(ctx: StepContext<unknown>, paths: readonly string[]): Promise<void> {
  if (paths.length === 0) return;
  await runArgv(ctx, ['rm', '-f', ...paths]);
}

/** A file change with its unified diff; `null` content means the file does not exist. */
export function fileChange(
  path: string,
  before: string | null,
  after: string | null,
  action?: string,
): Change {
  const verb = action ?? (before === null ? 'create' : after === null ? 'remove' : 'update');
  const diff = createTwoFilesPatch(
    before === null ? '/dev/null' : path,
    after === null ? '/dev/null' : path,
    before ?? '',
    after ?? '',
    undefined,
    undefined,
    { context: 3 },
  );
  return { kind: 'file', target: path, action: verb, diff };
}

/** One file operation of a plan; the plan's list runs in order, each operation atomic on its own. */
export type FileOp =
  | { op: 'write'; path: string; content: string; before: string | null; mode?: number }
  | { op: 'move'; from: string; to: string; content: string; why: string }
  | { op: 'remove'; path: string; before: string };

export function fileOpChange(op: FileOp): Change {
  switch (op.op) {
    case 'write':
      return fileChange(op.path, op.before, op.content);
    case 'move':
      return fileChange(op.from, op.content, null, `move to ${op.to} (${op.why})`);
    case 'remove':
      return fileChange(op.path, op.before, null);
  }
}

/** Applies the operations in order; an interrupted run leaves a prefix done, which the next plan skips. */
export async function applyFileOps(ctx: StepContext<unknown>, ops: readonly FileOp[]): Promise<void> {
  for (const op of ops) {
    if (op.op === 'write') await writeFileAtomic(ctx, op);
    else if (op.op === 'move') await renameFiles(ctx, [{ from: op.from, to: op.to }]);
    else await removeFiles(ctx, [op.path]);
  }
}
