/**
 * The SSH pool: one connection per (address, port, user), shared by every exec,
 * file transfer and Docker API call to that host, with at most
 * `maxChannelsPerHost` channels open on it at a time.
 */

import type Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import type { ClientChannel, SFTPWrapper } from 'ssh2';

import type { Credential } from '../inventory/model';
import { defaultSecretResolver } from '../secrets';
import type { SecretResolver } from '../secrets';
import { shellCommand, shellJoin } from '../shell/quote';
import { resolveAuth } from './auth';
import { SshConnection } from './connection';
import type { HostKeyPolicy } from './connection';
import { dialDockerStdio, dockerOverAgent, forwardToDockerSocket, SshDockerAgent } from './docker';
import {
  ChannelOpenError,
  CommandInterruptedError,
  CommandFailedError,
  CommandTimeoutError,
  FileTransferError,
  HostUnreachableError,
  SshError,
} from './errors';
import { exitMarker, runOnChannel, watchExit, wrapCommand } from './exec';
import type { ChannelOutcome } from './exec';
import { KnownHostsFile } from './known-hosts';
import { abortReason } from './semaphore';
import * as sftp from './sftp';

export type { HostKeyPolicy } from './connection';

export interface SshTarget {
  /** Inventory name: used in errors. */
  host: string;
  /** DNS name or IP address to connect to; also what known_hosts is checked for. */
  address: string;
  port: number;
  user: string;
  /** How to log in; absent means the pool's `defaultCredential`. */
  credential?: Credential;
}

export interface SshPoolOptions {
  /** OpenSSH known_hosts file that host keys are checked against (and recorded in under accept-new). */
  knownHostsFile: string;
  /**
   * `strict` (default) refuses hosts missing from known_hosts; `accept-new`
   * records the key of a host seen for the first time. A changed key is refused
   * under both.
   */
  hostKeyPolicy?: HostKeyPolicy;
  /** Resolves `secret` credentials and key passphrases. Default: {@link defaultSecretResolver}. */
  secrets?: SecretResolver;
  /** Credential for targets that have none. Default: the worker's ssh-agent (`SSH_AUTH_SOCK`). */
  defaultCredential?: Credential;
  /**
   * Channels (exec, SFTP, Docker) open at once per connection; more calls wait.
   * Default 6. Must be below 10, OpenSSH's default MaxSessions.
   */
  maxChannelsPerHost?: number;
  /** SSH keepalive period in ms; three missed answers drop the connection. Default 10000. */
  keepaliveIntervalMs?: number;
  /** Limit in ms for TCP connect, key exchange and authentication together. Default 10000. */
  connectTimeoutMs?: number;
  /** A connection with no open channel for this long (ms) is closed. Default 300000 (5 min). */
  idleTimeoutMs?: number;
}

export interface ResolvedSshPoolOptions extends Required<Omit<SshPoolOptions, 'defaultCredential'>> {
  defaultCredential: Credential | undefined;
}

export interface ExecOptions {
  /**
   * Kill the command after it has run this many ms and reject with CommandTimeoutError.
   * Time spent waiting for a free channel does not count. Default 600000 (10 min).
   */
  timeoutMs?: number;
  /** Aborting kills the remote command; the call rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Receives output as it arrives, decoded as UTF-8 (characters are never split). */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
  /** Bytes kept per stream; beyond that the start is dropped and `truncated` set. Default 1 MiB. */
  maxOutputBytes?: number;
  /** Bytes fed to the command's stdin, which then sees EOF. Default: none (immediate EOF). Use it for secrets. */
  stdin?: string | Buffer;
}

export interface ExecResult {
  /** The command as given (before the pool's wrapper). */
  command: string;
  /** null when the server reported no exit status (see `signal`). */
  exitCode: number | null;
  /**
   * e.g. `SIGKILL`, when the server reported the session killed by a signal. A
   * command killed by a signal on the host runs under the pool's wrapper shell
   * and shows up as exitCode 128+n instead, as in a shell.
   */
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** Whether stdout or stderr exceeded `maxOutputBytes` and lost its beginning. */
  truncated: boolean;
}

export interface WriteFileOptions {
  /** Permission bits. Default: the replaced file's, or 0644 for a new file. */
  mode?: number;
  /** User name or uid to own the file. Default: unchanged (the SSH user for a new file). */
  owner?: string;
  /** Group name or gid. Default: unchanged. */
  group?: string;
}

const DEFAULTS = {
  hostKeyPolicy: 'strict' as HostKeyPolicy,
  maxChannelsPerHost: 6,
  keepaliveIntervalMs: 10_000,
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 5 * 60_000,
  timeoutMs: 10 * 60_000,
  maxOutputBytes: 1024 * 1024,
};

/** OpenSSH's MaxSessions default; a connection may not use more channels than this. */
const SSHD_MAX_SESSIONS = 10;

const ACCOUNT_NAME = /^(?:[0-9]+|[A-Za-z_][A-Za-z0-9._-]*\$?)$/;

export function resolvePoolOptions(opts: SshPoolOptions): ResolvedSshPoolOptions {
  const max = opts.maxChannelsPerHost ?? DEFAULTS.maxChannelsPerHost;
  if (!Number.isInteger(max) || max < 1 || max >= SSHD_MAX_SESSIONS) {
    throw new RangeError(
      `maxChannelsPerHost must be an integer from 1 to ${SSHD_MAX_SESSIONS - 1}, got ${max}`,
    );
  }
  return {
    knownHostsFile: opts.knownHostsFile,
    hostKeyPolicy: opts.hostKeyPolicy ?? DEFAULTS.hostKeyPolicy,
    secrets: opts.secrets ?? defaultSecretResolver(),
    defaultCredential: opts.defaultCredential,
    maxChannelsPerHost: max,
    keepaliveIntervalMs: opts.keepaliveIntervalMs ?? DEFAULTS.keepaliveIntervalMs,
    connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
  };
}

interface PooledHost {
  connection: SshConnection;
  docker?: Docker;
}

export class SshPool {
  readonly options: ResolvedSshPoolOptions;
  private readonly knownHosts: KnownHostsFile;
  private readonly hosts = new Map<string, PooledHost>();
  private closed = false;

  constructor(opts: SshPoolOptions) {
    this.options = resolvePoolOptions(opts);
    this.knownHosts = new KnownHostsFile(opts.knownHostsFile);
  }

  /** Runs a command; resolves with its result whatever the exit code. */
  async exec(target: SshTarget, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const started = Date.now();
    const stdin = toBuffer(opts.stdin);
    const timeoutMs = opts.timeoutMs ?? DEFAULTS.timeoutMs;
    const marker = exitMarker();
    const channel = await this.openExec(target, wrapCommand(command, stdin.length, marker), opts.signal);
    const outcome = await runOnChannel(channel, {
      stdin,
      timeoutMs,
      signal: opts.signal,
      maxOutputBytes: opts.maxOutputBytes ?? DEFAULTS.maxOutputBytes,
      onOutput: opts.onOutput,
      marker,
    });
    this.throwIfStopped(target, command, outcome, timeoutMs, opts.signal);
    return {
      command,
      exitCode: outcome.exitCode,
      signal: outcome.signal,
      stdout: outcome.stdout,
      stderr: outcome.stderr,
      durationMs: Date.now() - started,
      truncated: outcome.truncated,
    };
  }

  /** Like {@link exec}, but rejects with CommandFailedError unless the command exits 0. */
  async run(target: SshTarget, command: string, opts?: ExecOptions): Promise<ExecResult> {
    const result = await this.exec(target, command, opts);
    if (result.exitCode !== 0) throw new CommandFailedError(target.host, { ...result });
    return result;
  }

  /**
   * Replaces a file atomically: SFTP writes a hidden temp file in the same
   * directory, sets mode and owner on it, then renames it over `path`
   * (posix-rename@openssh.com, or `mv -f` where the server lacks it). Readers
   * see the old file or the new one, never a partial one.
   */
  async writeFile(
    target: SshTarget,
    path: string,
    content: string | Buffer,
    opts: WriteFileOptions = {},
  ): Promise<void> {
    sftp.validateRemotePath(path);
    const ids = await this.resolveOwnership(target, path, opts);
    const temp = sftp.tempPathFor(path);
    const renamed = await this.withSftp(target, path, async (session) => {
      const mode = opts.mode ?? ((await sftp.sftpStat(session, path))?.mode ?? 0o100644) & 0o7777;
      try {
        await sftp.sftpWriteNew(session, temp, toBuffer(content), mode);
        // The open mode is filtered by sshd's umask; set it explicitly.
        await sftp.sftpChmod(session, temp, mode);
        if (ids) await this.chownTemp(session, temp, ids);
        if (!sftp.hasPosixRename(session)) return false;
        await sftp.sftpPosixRename(session, temp, path);
        return true;
      } catch (err) {
        await sftp.sftpUnlink(session, temp).catch(() => undefined);
        throw err;
      }
    });
    if (!renamed) await this.renameByShell(target, temp, path);
  }

  /** A file's content, or null when it does not exist. */
  async readFile(target: SshTarget, path: string): Promise<Buffer | null> {
    sftp.validateRemotePath(path);
    return this.withSftp(target, path, (session) => sftp.sftpRead(session, path));
  }

  /**
   * A dockerode client for the host's dockerd, speaking over channels of the
   * pooled connection (streamlocal to /var/run/docker.sock, else
   * `docker system dial-stdio`). Each HTTP request holds one channel slot until
   * its response ends, so follow-mode streams (logs, events) keep a slot.
   */
  docker(target: SshTarget): Docker {
    const pooled = this.pooled(target);
    pooled.docker ??= dockerOverAgent(new SshDockerAgent(() => this.openDockerStream(target, pooled)));
    return pooled.docker;
  }

  /** SSH connections currently up. */
  connectionCount(): number {
    let count = 0;
    for (const { connection } of this.hosts.values()) if (connection.connected) count++;
    return count;
  }

  /** Closes every connection. Calls made afterwards fail. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.hosts.values()].map(({ connection }) => connection.close()));
  }

  private pooled(target: SshTarget): PooledHost {
    if (this.closed) throw new ChannelOpenError(target.host, 'session', 'the pool is closed');
    const key = `${target.user}@${target.address}:${target.port}`;
    let pooled = this.hosts.get(key);
    if (!pooled) {
      pooled = { connection: this.newConnection(target) };
      this.hosts.set(key, pooled);
    }
    return pooled;
  }

  private newConnection(target: SshTarget): SshConnection {
    const o = this.options;
    return new SshConnection({
      address: target.address,
      port: target.port,
      user: target.user,
      knownHosts: this.knownHosts,
      hostKeyPolicy: o.hostKeyPolicy,
      maxChannels: o.maxChannelsPerHost,
      keepaliveIntervalMs: o.keepaliveIntervalMs,
      connectTimeoutMs: o.connectTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      auth: (host) =>
        resolveAuth(target.credential ?? o.defaultCredential, {
          host,
          user: target.user,
          secrets: o.secrets,
        }),
    });
  }

  private openExec(
    target: SshTarget,
    wrapped: string,
    signal: AbortSignal | undefined,
  ): Promise<ClientChannel> {
    return this.pooled(target).connection.openChannel(
      target.host,
      'session',
      (client) =>
        new Promise<ClientChannel>((resolve, reject) => {
          client.exec(wrapped, (err, channel) => (err ? reject(err) : resolve(watchExit(channel))));
        }),
      signal,
    );
  }

  private throwIfStopped(
    target: SshTarget,
    command: string,
    outcome: ChannelOutcome,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): void {
    if (outcome.stopped === 'abort') throw abortReason(signal);
    if (outcome.stopped === 'timeout') throw new CommandTimeoutError(target.host, command, timeoutMs);
    if (!outcome.exited && !this.pooled(target).connection.connected) {
      // The watchdog killed the command when the connection went, so a retry will not run it twice.
      const reason = 'connection lost while the command ran';
      throw new HostUnreachableError(target.host, target.address, target.port, reason);
    }
    if (!outcome.exited) throw new CommandInterruptedError(target.host, command);
  }

  private async withSftp<T>(
    target: SshTarget,
    path: string,
    use: (session: SFTPWrapper) => Promise<T>,
  ): Promise<T> {
    const session = await this.pooled(target).connection.openChannel(
      target.host,
      'sftp',
      (client) =>
        new Promise<SFTPWrapper>((resolve, reject) => {
          client.sftp((err, s) => (err ? reject(err) : resolve(s)));
        }),
    );
    try {
      return await use(session);
    } catch (err) {
      if (err instanceof SshError) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      throw new FileTransferError(target.host, path, reason, { cause: err });
    } finally {
      session.end();
    }
  }

  /** Numeric uid/gid for the requested owner and group; names are looked up on the host. */
  private async resolveOwnership(
    target: SshTarget,
    path: string,
    opts: WriteFileOptions,
  ): Promise<OwnerIds | null> {
    if (opts.owner === undefined && opts.group === undefined) return null;
    for (const name of [opts.owner, opts.group]) {
      if (name !== undefined && !ACCOUNT_NAME.test(name)) {
        throw new FileTransferError(target.host, path, `invalid user or group name ${JSON.stringify(name)}`);
      }
    }
    const lookups: string[] = [];
    if (opts.owner !== undefined) lookups.push(shellCommand(['id', '-u', '--', opts.owner]));
    if (opts.group !== undefined) lookups.push(shellCommand(['getent', 'group', opts.group]));
    const { stdout } = await this.run(target, shellJoin('&&', lookups), { timeoutMs: 30_000 });
    const lines = stdout.trim().split('\n');
    const uid = opts.owner === undefined ? null : Number(lines.shift());
    const gid = opts.group === undefined ? null : Number(lines.shift()?.split(':')[2]);
    if (Number.isNaN(uid) || Number.isNaN(gid)) {
      throw new FileTransferError(
        target.host,
        path,
        `cannot resolve owner ${opts.owner ?? ''}:${opts.group ?? ''}`,
      );
    }
    return { uid, gid };
  }

  private async chownTemp(session: SFTPWrapper, temp: string, ids: OwnerIds): Promise<void> {
    // SFTP sets uid and gid together: keep the one not asked for.
    const current = await sftp.sftpStat(session, temp);
    await sftp.sftpChown(session, temp, ids.uid ?? current?.uid ?? 0, ids.gid ?? current?.gid ?? 0);
  }

  /**
   * Plain SFTP rename refuses to replace an existing file, so without the OpenSSH
   * extension `mv -f` does the rename(2). It runs after the SFTP session has
   * ended, so it never needs a second channel slot.
   */
  private async renameByShell(target: SshTarget, temp: string, path: string): Promise<void> {
    const mv = shellCommand(['mv', '-f', '--', temp, path]);
    const cleanup = shellCommand(['rm', '-f', '--', temp]);
    const failed = shellJoin('&&', [cleanup, shellCommand(['false'])]);
    await this.run(target, shellJoin('||', [mv, failed]), { timeoutMs: 30_000 });
  }

  /**
   * Tries streamlocal first on every call rather than remembering a refusal:
   * OpenSSH also refuses it while dockerd is not yet installed, and a runbook
   * may install it a minute later.
   */
  private openDockerStream(target: SshTarget, pooled: PooledHost): Promise<Duplex> {
    return pooled.connection.openChannel(target.host, 'docker', async (client) => {
      try {
        return await forwardToDockerSocket(client);
      } catch (err) {
        if (!isChannelRefusal(err)) throw err;
        return dialDockerStdio(client);
      }
    });
  }
}

/** The server answered the channel open with a failure (as opposed to the connection going away). */
function isChannelRefusal(err: unknown): boolean {
  return typeof (err as { reason?: unknown } | null)?.reason === 'number';
}

interface OwnerIds {
  uid: number | null;
  gid: number | null;
}

function toBuffer(data: string | Buffer | undefined): Buffer {
  if (data === undefined) return Buffer.alloc(0);
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}
