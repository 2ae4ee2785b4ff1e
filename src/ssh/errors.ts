/**
 * Typed failures of the SSH layer. Each class names one condition, carries what
 * identifies it as readonly fields, and says whether retrying can help; the
 * activity boundary turns them into `ApplicationFailure`s typed by class name.
 *
 * Messages are one line, reason first, then host and command. They never hold a
 * secret: commands must get secret values through stdin, never in argv.
 */

import { shellCommand } from '../shell/quote';

/** How much of stderr a {@link CommandFailedError} keeps, in bytes. */
export const STDERR_TAIL_BYTES = 2048;

/** How much of the stderr tail goes into a message, in characters. */
const MESSAGE_STDERR_CHARS = 300;

/** How much of a command goes into a message, in characters. */
const MESSAGE_COMMAND_CHARS = 500;

export interface SshErrorOptions {
  cause?: unknown;
}

export abstract class SshError extends Error {
  /** Whether running the same operation again can succeed without a human fixing something. */
  abstract readonly retryable: boolean;

  protected constructor(
    /** Inventory name of the host. */
    readonly host: string,
    message: string,
    options?: SshErrorOptions,
  ) {
    super(oneLine(message), options);
    this.name = new.target.name;
  }
}

/** DNS failure, connection refused or reset, connect or handshake timeout, keepalive loss. */
export class HostUnreachableError extends SshError {
  readonly retryable = true;

  constructor(
    host: string,
    readonly address: string,
    readonly port: number,
    readonly reason: string,
    options?: SshErrorOptions,
  ) {
    super(host, `host unreachable (${reason}): ${host} at ${address}:${port}`, options);
  }
}

/** The server refused every credential offered, or the credential could not be used. */
export class AuthenticationFailedError extends SshError {
  readonly retryable = false;

  constructor(
    host: string,
    readonly user: string,
    readonly reason: string,
    options?: SshErrorOptions,
  ) {
    super(host, `authentication failed (${reason}): ${user}@${host}`, options);
  }
}

/** The key exchange failed for a reason other than the host key (no common algorithm, protocol error). */
export class HandshakeFailedError extends SshError {
  readonly retryable = false;

  constructor(
    host: string,
    readonly reason: string,
    options?: SshErrorOptions,
  ) {
    super(host, `SSH handshake failed (${reason}): ${host}`, options);
  }
}

/** The presented host key differs from the known one, or is revoked. Never fixed automatically. */
export class HostKeyMismatchError extends SshError {
  readonly retryable = false;

  constructor(
    host: string,
    /** `host` or `[host]:port`, as looked up in known_hosts. */
    readonly knownHostsName: string,
    /** `SHA256:…` fingerprint of the key the server presented. */
    readonly fingerprint: string,
    readonly knownHostsFile: string,
    readonly revoked = false,
  ) {
    const reason = revoked ? 'host key is revoked' : 'host key changed';
    super(
      host,
      `${reason}: ${host} (${knownHostsName}) presented ${fingerprint}, which ${knownHostsFile} ` +
        `does not accept; if the change is expected, remove the old entry with ` +
        shellCommand(['ssh-keygen', '-R', knownHostsName, '-f', knownHostsFile]),
    );
  }
}

/** The host has no entry in known_hosts and the policy is strict. */
export class UnknownHostKeyError extends SshError {
  readonly retryable = false;

  constructor(
    host: string,
    readonly knownHostsName: string,
    readonly fingerprint: string,
    readonly knownHostsFile: string,
  ) {
    super(
      host,
      `unknown host key: ${host} (${knownHostsName}) presented ${fingerprint}, which is not in ` +
        `${knownHostsFile}; add it, or use the accept-new host key policy to record it on first use`,
    );
  }
}

export interface CommandFailure {
  /** The escaped command line, as sent. */
  command: string;
  exitCode: number | null;
  signal: string | null;
  stderr: string;
  durationMs: number;
}

/** The command ran and exited non-zero or was killed by a signal. */
export class CommandFailedError extends SshError {
  readonly command: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** The last {@link STDERR_TAIL_BYTES} of stderr, control characters escaped. */
  readonly stderrTail: string;
  readonly durationMs: number;

  constructor(
    host: string,
    failure: CommandFailure,
    /** False by default: most commands fail the same way twice. */
    readonly retryable = false,
  ) {
    const tail = escapeControl(tailBytes(failure.stderr, STDERR_TAIL_BYTES));
    const status = failure.signal ? `killed by signal ${failure.signal}` : `exited ${failure.exitCode}`;
    const stderrPart = tail ? `: ${clipStart(lastLines(tail), MESSAGE_STDERR_CHARS)}` : '';
    super(host, `command ${status} on ${host}: ${clip(failure.command, MESSAGE_COMMAND_CHARS)}${stderrPart}`);
    this.command = failure.command;
    this.exitCode = failure.exitCode;
    this.signal = failure.signal;
    this.stderrTail = tail;
    this.durationMs = failure.durationMs;
  }
}

/** The command ran longer than its timeout; it was killed on the host. */
export class CommandTimeoutError extends SshError {
  readonly retryable = true;

  constructor(
    host: string,
    readonly command: string,
    readonly timeoutMs: number,
  ) {
    super(
      host,
      `command timed out after ${timeoutMs} ms and was killed on ${host}: ${clip(command, MESSAGE_COMMAND_CHARS)}`,
    );
  }
}

/** The server refused to open a channel (session limit, forwarding disabled, connection lost). */
/**
 * The channel closed before the host reported how the command ended. The
 * command's outcome is unknown, so the step must probe again: retryable.
 */
export class CommandInterruptedError extends SshError {
  readonly retryable = true;

  constructor(
    host: string,
    readonly command: string,
    options?: SshErrorOptions,
  ) {
    super(
      host,
      `channel closed without an exit status: ${host}: ${escapeControl(command).slice(0, 200)}`,
      options,
    );
  }
}

export class ChannelOpenError extends SshError {
  readonly retryable = true;

  constructor(
    host: string,
    readonly kind: string,
    readonly reason: string,
    options?: SshErrorOptions,
  ) {
    super(host, `cannot open ${kind} channel (${reason}): ${host}`, options);
  }
}

/** A file transfer over SFTP failed. */
export class FileTransferError extends SshError {
  readonly retryable = false;

  constructor(
    host: string,
    readonly path: string,
    readonly reason: string,
    options?: SshErrorOptions,
  ) {
    super(host, `file transfer failed (${reason}): ${host}:${path}`, options);
  }
}

/** C0 controls other than tab and newline, DEL, and C1 controls. */
function isControl(code: number): boolean {
  return (code < 0x20 && code !== 0x09 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f);
}

/** Escapes control characters (tab and newline excepted) so output cannot drive a terminal. */
export function escapeControl(text: string): string {
  let out = '';
  for (const ch of text.replace(/\r\n/g, '\n')) {
    const code = ch.charCodeAt(0);
    out += isControl(code) ? `\\x${code.toString(16).padStart(2, '0')}` : ch;
  }
  return out;
}

/** The last `maxBytes` of `text`, cut at a character boundary. */
export function tailBytes(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  return decodeTail(bytes.subarray(bytes.length - maxBytes));
}

/** Decodes UTF-8 that may start in the middle of a multi-byte character. */
export function decodeTail(bytes: Buffer): string {
  let start = 0;
  while (start < bytes.length && start < 4 && ((bytes[start] ?? 0) & 0xc0) === 0x80) start++;
  return bytes.subarray(start).toString('utf8');
}

function lastLines(text: string): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-3).join(' | ');
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** Keeps the end, where the error usually is. */
function clipStart(text: string, max: number): string {
  return text.length <= max ? text : `…${text.slice(text.length - max)}`;
}

function oneLine(message: string): string {
  return escapeControl(message).replace(/\n/g, '\\n');
}
