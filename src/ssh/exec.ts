/**
 * Running one command on an exec channel: the remote wrapper that makes it
 * killable, output capture with a tail cap, and cancellation.
 */

import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import type { ClientChannel } from 'ssh2';

import { shellCommand } from '../shell/quote';
import { decodeTail } from './errors';

/**
 * The remote side of every exec. sshd runs a command without a pty in a session
 * of its own (setsid), so process group 0 is the command and everything it
 * started. The wrapper keeps the channel's stdin for itself: it feeds the first
 * `$1` bytes to the command, then closes the command's stdin (so a command that
 * reads stdin never waits for more) and leaves a watchdog reading the rest. When
 * the channel closes (cancel, timeout, worker crash, connection loss) sshd closes
 * that stdin, the watchdog sees EOF and, if the wrapper is still running, kills
 * the whole group. After a normal exit the watchdog finds the wrapper gone and
 * kills nothing, so daemons a command leaves behind (`nohup … &`) survive.
 * Processes that start their own session (setsid, most daemons) are never killed.
 * Should a server not give the session its own process group (the wrapper is
 * then not the group leader, per /proc/$$/stat), only the wrapper is killed,
 * never the server's group.
 *
 * The command runs under `sh -c`, whatever the login shell is; its exit status
 * is the wrapper's. A command killed by a signal on the host shows up as
 * exit code 128+n (as in a shell), not as `signal`.
 *
 * The wrapper also writes the exit status as a last stderr line behind a
 * per-command marker (`$3`), which the client strips: a second record of how
 * the command ended, for a channel that closes without an exit-status message.
 */
const WRAPPER = [
  'exec 3<&0',
  'read -r _ _ _ _ g _ 2>/dev/null </proc/$$/stat',
  '{ [ "$1" -gt 0 ] && head -c "$1" <&3; exec >&-;',
  '  { cat <&3 >/dev/null; kill -0 $$ || exit; [ "$g" = $$ ] && kill -KILL 0; kill -KILL $$; } 2>/dev/null &',
  '} | sh -c "$2" 3<&-',
  'rc=$?',
  'printf "\\n%s%d\\n" "$3" "$rc" >&2',
  'exit "$rc"',
].join('\n');

/** A marker the command cannot guess, so its own output never reads as the trailer. */
export function exitMarker(): string {
  return `rollbook-exit-${randomBytes(8).toString('hex')}=`;
}

/** The command line sent to sshd for `command` with `stdinBytes` of input. */
export function wrapCommand(command: string, stdinBytes: number, marker: string): string {
  return shellCommand(['exec', 'sh', '-c', WRAPPER, 'rollbook-exec', String(stdinBytes), command, marker]);
}

/** Splits the wrapper's trailer off stderr: the text before it and the exit code it carries. */
export function splitTrailer(stderr: string, marker: string): { stderr: string; code: number | null } {
  const at = stderr.lastIndexOf(`\n${marker}`);
  if (at === -1) return { stderr, code: null };
  const code = Number(/^(\d+)/.exec(stderr.slice(at + 1 + marker.length))?.[1] ?? NaN);
  return { stderr: stderr.slice(0, at), code: Number.isNaN(code) ? null : code };
}

/** Keeps the last `max` bytes of a stream. Memory stays below twice the cap. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > this.max * 2) this.compact();
  }

  text(): string {
    if (this.size > this.max) this.compact();
    const bytes = Buffer.concat(this.chunks);
    return this.truncated ? decodeTail(bytes) : bytes.toString('utf8');
  }

  private compact(): void {
    const all = Buffer.concat(this.chunks);
    this.chunks = [Buffer.from(all.subarray(all.length - this.max))];
    this.size = this.max;
    this.truncated = true;
  }
}

export interface ChannelRunOptions {
  stdin: Buffer;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  maxOutputBytes: number;
  onOutput: ((chunk: string, stream: 'stdout' | 'stderr') => void) | undefined;
  /** The marker passed to {@link wrapCommand}. */
  marker: string;
}

export interface ChannelOutcome {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  /** Why the command was stopped by us, if it was. */
  stopped: 'timeout' | 'abort' | null;
  /** Whether the server sent an exit status before the channel closed. */
  exited: boolean;
}

type ExitStatus = { code: number | null; signal: string | null };

const exitStatuses = new WeakMap<ClientChannel, { status: ExitStatus | null }>();

/**
 * Starts listening for the channel's exit status. Call it in ssh2's exec
 * callback itself: ssh2 emits 'exit' while it parses incoming data, which can be
 * the same read as the exec reply, before any later listener is attached.
 */
export function watchExit(channel: ClientChannel): ClientChannel {
  const holder: { status: ExitStatus | null } = { status: null };
  exitStatuses.set(channel, holder);
  channel.once('exit', (code: number | null, signal?: string) => {
    holder.status = { code, signal: signal ?? null };
  });
  return channel;
}

/** How long to wait for the server to confirm a close after a kill. */
const CLOSE_GRACE_MS = 5000;

/**
 * Drives an opened exec channel to its 'close' (never 'exit': output may still
 * be in flight). After a kill it gives up waiting for the close after a grace
 * period; the channel's slot stays taken until the close does arrive.
 */
export function runOnChannel(channel: ClientChannel, opts: ChannelRunOptions): Promise<ChannelOutcome> {
  return new Promise((resolve) => {
    const stdout = captureStream(channel, 'stdout', opts);
    const stderr = captureStream(channel.stderr, 'stderr', { ...opts, onOutput: withoutTrailer(opts) });
    const watched = exitStatuses.get(channel) ?? exitStatuses.get(watchExit(channel));
    let stopped: ChannelOutcome['stopped'] = null;
    let done = false;

    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      const trailer = splitTrailer(stderr.finish(), opts.marker);
      const status = watched?.status ?? (trailer.code === null ? null : { code: trailer.code, signal: null });
      const truncated = stdout.buffer.truncated || stderr.buffer.truncated;
      const texts = { stdout: stdout.finish(), stderr: trailer.stderr };
      const code = status?.code ?? null;
      resolve({
        exitCode: code,
        signal: status?.signal ?? null,
        ...texts,
        truncated,
        stopped,
        exited: !!status,
      });
    };
    const stop = (why: 'timeout' | 'abort') => {
      if (stopped || done) return;
      stopped = why;
      killChannel(channel);
      setTimeout(finish, CLOSE_GRACE_MS).unref();
    };
    const timer = setTimeout(() => stop('timeout'), opts.timeoutMs);
    const onAbort = () => stop('abort');
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    channel.once('close', finish);

    // Stdin stays open: the wrapper's watchdog kills the command when it closes.
    if (opts.stdin.length > 0) channel.write(opts.stdin);
    if (opts.signal?.aborted) stop('abort');
  });
}

/** Streams stderr to the observer without the trailer line (it arrives in one write, so in one chunk). */
function withoutTrailer(opts: ChannelRunOptions): ChannelRunOptions['onOutput'] {
  const { onOutput, marker } = opts;
  if (!onOutput) return undefined;
  const trailer = new RegExp(`\\n?${marker}\\d+\\n`);
  return (chunk, stream) => {
    const text = chunk.replace(trailer, '');
    if (text !== '') onOutput(text, stream);
  };
}

function captureStream(
  stream: NodeJS.ReadableStream,
  name: 'stdout' | 'stderr',
  opts: ChannelRunOptions,
): { buffer: TailBuffer; finish: () => string } {
  const buffer = new TailBuffer(opts.maxOutputBytes);
  const decoder = new StringDecoder('utf8');
  const onOutput = opts.onOutput;
  // Always consume: ssh2 emits 'close' only after both streams are drained.
  stream.on('data', (chunk: Buffer) => {
    buffer.push(chunk);
    if (onOutput) emitSafely(onOutput, decoder.write(chunk), name);
  });
  const finish = () => {
    if (onOutput) emitSafely(onOutput, decoder.end(), name);
    return buffer.text();
  };
  return { buffer, finish };
}

function emitSafely(
  onOutput: NonNullable<ChannelRunOptions['onOutput']>,
  text: string,
  name: 'stdout' | 'stderr',
) {
  if (text === '') return;
  try {
    onOutput(text, name);
  } catch {
    // A failing observer must not break the command it watches.
  }
}

/**
 * Asks sshd to SIGKILL the session (OpenSSH 7.9 and later do; others may ignore
 * it), then closes the channel, which sets off the wrapper's watchdog either way.
 */
function killChannel(channel: ClientChannel): void {
  channel.signal('KILL');
  channel.close();
}
