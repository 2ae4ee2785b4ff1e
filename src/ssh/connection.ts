/**
 * One pooled ssh2 connection to (address, port, user): lazy connect with a shared
 * handshake, host key verification, a cap on open channels, idle close, and one
 * transparent reconnect when the connection died before a channel could open.
 */

import { Client } from 'ssh2';
import type { Algorithms, ConnectConfig, KexAlgorithm, ServerHostKeyAlgorithm } from 'ssh2';

import type { AuthOptions } from './auth';
import {
  AuthenticationFailedError,
  ChannelOpenError,
  HandshakeFailedError,
  HostKeyMismatchError,
  HostUnreachableError,
  SshError,
  UnknownHostKeyError,
} from './errors';
import { fingerprintSha256, keyTypeOfBlob, knownHostsName } from './known-hosts';
import type { KnownHostsFile } from './known-hosts';
import { Semaphore } from './semaphore';

export type HostKeyPolicy = 'strict' | 'accept-new';

export interface ConnectionSettings {
  address: string;
  port: number;
  user: string;
  knownHosts: KnownHostsFile;
  hostKeyPolicy: HostKeyPolicy;
  maxChannels: number;
  keepaliveIntervalMs: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** Resolves credentials at connect time; `host` is the inventory name for errors. */
  auth: (host: string) => Promise<AuthOptions>;
}

/** What a channel opener gets and must give back when its channel closes. */
export interface ChannelLease {
  client: Client;
  release: () => void;
}

/** curve25519-sha256 first: ssh2 has no post-quantum kex, and the NIST curves are slower. */
/** Attempts after a refused channel open, 25 ms apart doubling (about 0.8 s in all). */
const OPEN_RETRIES = 5;

const KEX: KexAlgorithm[] = [
  'curve25519-sha256',
  'curve25519-sha256@libssh.org',
  'ecdh-sha2-nistp256',
  'ecdh-sha2-nistp384',
  'ecdh-sha2-nistp521',
  'diffie-hellman-group-exchange-sha256',
  'diffie-hellman-group14-sha256',
  'diffie-hellman-group16-sha512',
];

const HOST_KEY_ALGORITHMS: ServerHostKeyAlgorithm[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/** Signature algorithms that can use a key recorded with this type. */
function algorithmsForKeyType(keyType: string): ServerHostKeyAlgorithm[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return HOST_KEY_ALGORITHMS.filter((a) => a === keyType);
}

/**
 * Host key algorithms with the recorded types first, as ssh(1) orders them, so a
 * host with several keys presents the one we know.
 */
export function hostKeyAlgorithms(knownTypes: readonly string[]): ServerHostKeyAlgorithm[] {
  const preferred = knownTypes.flatMap(algorithmsForKeyType);
  return [...new Set([...preferred, ...HOST_KEY_ALGORITHMS])];
}

export class SshConnection {
  private readonly slots: Semaphore;
  private client: Client | null = null;
  private connecting: Promise<Client> | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly settings: ConnectionSettings) {
    this.slots = new Semaphore(settings.maxChannels);
  }

  /** Whether an SSH connection is currently up. */
  get connected(): boolean {
    return this.client !== null;
  }

  /** Channels open (or being opened) right now. */
  get channelsInUse(): number {
    return this.slots.inUse;
  }

  /**
   * Opens one channel under the cap. `open` must resolve to an emitter that fires
   * 'close' when the server has closed the channel: only then is the slot freed,
   * because sshd counts the session until that point.
   */
  async openChannel<T extends NodeJS.EventEmitter>(
    host: string,
    kind: string,
    open: (client: Client) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const release = this.track(await this.slots.acquire(signal));
    try {
      const channel = await this.openRefusedRetry(host, kind, open);
      channel.once('close', release);
      return channel;
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Ends the connection; later calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    this.clearIdle();
    const client = this.client ?? (await this.connecting?.catch(() => null));
    if (client) await endClient(client);
    this.client = null;
  }

  /**
   * sshd refuses a channel ("open failed") while its session table is full, and
   * a session it has closed can hold its place until the server reaps the
   * command. Below our channel cap that lasts milliseconds, so wait and retry.
   */
  private async openRefusedRetry<T>(
    host: string,
    kind: string,
    open: (client: Client) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.openWithReconnect(host, kind, open);
      } catch (err) {
        const refused = err instanceof ChannelOpenError && /open failed/i.test(err.reason);
        if (!refused || attempt >= OPEN_RETRIES) throw err;
        await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** attempt));
      }
    }
  }

  private async openWithReconnect<T>(
    host: string,
    kind: string,
    open: (client: Client) => Promise<T>,
  ): Promise<T> {
    const client = await this.ready(host);
    try {
      return await open(client);
    } catch (err) {
      if (this.client === client || err instanceof SshError) throw toChannelError(host, kind, err);
    }
    // The connection dropped before the channel opened, so nothing ran: connect again, once.
    const fresh = await this.ready(host);
    try {
      return await open(fresh);
    } catch (err) {
      throw toChannelError(host, kind, err);
    }
  }

  private ready(host: string): Promise<Client> {
    if (this.closed) return Promise.reject(new ChannelOpenError(host, 'session', 'the pool is closed'));
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= this.connect(host).finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connect(host: string): Promise<Client> {
    const { address, port, knownHosts } = this.settings;
    const [auth, known] = await Promise.all([this.settings.auth(host), knownHosts.lookup(address, port)]);
    const client = new Client();
    const hostKeyCheck = { failure: null as SshError | null };
    const config = this.connectConfig(
      host,
      auth,
      known.map((k) => k.keyType),
      hostKeyCheck,
    );
    if (auth.password !== undefined) answerKeyboardInteractive(client, auth.password);

    await handshake(client, config, (err) => hostKeyCheck.failure ?? this.mapConnectError(host, err));
    if (this.closed) {
      await endClient(client);
      throw new ChannelOpenError(host, 'session', 'the pool is closed');
    }
    this.adopt(client);
    return client;
  }

  private connectConfig(
    host: string,
    auth: AuthOptions,
    knownTypes: string[],
    hostKeyCheck: { failure: SshError | null },
  ): ConnectConfig {
    const algorithms: Algorithms = { kex: KEX, serverHostKey: hostKeyAlgorithms(knownTypes) };
    return {
      host: this.settings.address,
      port: this.settings.port,
      username: this.settings.user,
      ...auth,
      tryKeyboard: auth.password !== undefined,
      algorithms,
      keepaliveInterval: this.settings.keepaliveIntervalMs,
      keepaliveCountMax: 3,
      readyTimeout: this.settings.connectTimeoutMs,
      // Only gates OpenSSH extensions (streamlocal); a server that lacks one refuses the channel.
      strictVendor: false,
      // The check is async: ssh2 waits for verify() when the function returns undefined.
      hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
        this.checkHostKey(host, key).then(
          (failure) => {
            hostKeyCheck.failure = failure;
            verify(failure === null);
          },
          (err: unknown) => {
            hostKeyCheck.failure = new HandshakeFailedError(host, `cannot check host key: ${String(err)}`);
            verify(false);
          },
        );
      },
    };
  }

  /** null when the key is acceptable, else the error to fail the handshake with. */
  private async checkHostKey(host: string, key: Buffer): Promise<SshError | null> {
    const { address, port, knownHosts, hostKeyPolicy } = this.settings;
    const keyType = keyTypeOfBlob(key);
    const keyBase64 = key.toString('base64');
    const status = await knownHosts.verify(address, port, keyType, keyBase64);
    const name = knownHostsName(address, port);
    const fingerprint = fingerprintSha256(key);

    switch (status) {
      case 'match':
        return null;
      case 'mismatch':
      case 'revoked':
        return new HostKeyMismatchError(host, name, fingerprint, knownHosts.file, status === 'revoked');
      case 'unknown':
        if (hostKeyPolicy !== 'accept-new')
          return new UnknownHostKeyError(host, name, fingerprint, knownHosts.file);
        await knownHosts.append(address, port, keyType, keyBase64);
        return null;
    }
  }

  private adopt(client: Client): void {
    this.client = client;
    const forget = () => {
      if (this.client === client) this.client = null;
    };
    // Errors after the handshake (keepalive timeout, reset) are followed by
    // 'close'; channels in flight see them as a closed channel.
    client.on('error', forget);
    client.on('close', forget);
    client.on('end', forget);
    this.armIdle();
  }

  private track(release: () => void): () => void {
    this.clearIdle();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      release();
      this.armIdle();
    };
  }

  private armIdle(): void {
    if (this.slots.inUse > 0 || !this.client || this.idleTimer) return;
    const client = this.client;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.slots.inUse > 0 || this.client !== client) return;
      this.client = null;
      void endClient(client);
    }, this.settings.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  private mapConnectError(host: string, err: Error & { level?: string; code?: unknown }): SshError {
    const { address, port, user } = this.settings;
    const unreachable = (reason: string) =>
      new HostUnreachableError(host, address, port, reason, { cause: err });
    switch (err.level) {
      case 'client-authentication':
        return new AuthenticationFailedError(
          host,
          user,
          'the server accepted none of the offered credentials',
          {
            cause: err,
          },
        );
      case 'agent':
        return new AuthenticationFailedError(host, user, `ssh-agent failed: ${err.message}`, { cause: err });
      case 'client-timeout':
        return unreachable(`no answer within ${this.settings.connectTimeoutMs} ms`);
      case 'client-socket':
      case 'client-dns':
        return unreachable(socketReason(err));
      case 'handshake':
        return new HandshakeFailedError(host, err.message, { cause: err });
      default:
        // 'protocol' (connection lost before the banner, e.g. sshd MaxStartups) and
        // disconnects during the handshake are worth another try.
        return unreachable(err.message);
    }
  }
}

function socketReason(err: Error & { code?: unknown }): string {
  const code = typeof err.code === 'string' ? err.code : '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'DNS lookup failed';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET') return 'connection reset';
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
    return `network error ${code}`;
  return code || err.message;
}

/** Connects, resolving on 'ready'; every failure before that goes through `mapError`. */
function handshake(client: Client, config: ConnectConfig, mapError: (err: Error) => SshError): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      client.removeListener('ready', onReady);
      client.end();
      reject(mapError(err));
    };
    const onClose = () =>
      fail(Object.assign(new Error('connection closed during handshake'), { level: 'protocol' }));
    const onReady = () => {
      settled = true;
      client.removeListener('error', fail);
      client.removeListener('close', onClose);
      resolve();
    };
    client.once('ready', onReady);
    client.on('error', fail);
    client.once('close', onClose);
    try {
      client.connect(config);
      // Commands are small request/response exchanges: Nagle plus delayed ACKs would add ~40 ms to each.
      client.setNoDelay(true);
    } catch (err) {
      fail(
        Object.assign(err instanceof Error ? err : new Error(String(err)), {
          level: 'client-authentication',
        }),
      );
    }
  });
}

function answerKeyboardInteractive(client: Client, password: string): void {
  client.on('keyboard-interactive', (_name, _instructions, _lang, prompts, finish) => {
    finish(prompts.map(() => password));
  });
}

/** Ends a client and waits for its socket to close (at most a second). */
function endClient(client: Client): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.destroy();
      resolve();
    }, 1000);
    timer.unref();
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    client.end();
  });
}

function toChannelError(host: string, kind: string, err: unknown): SshError {
  if (err instanceof SshError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new ChannelOpenError(host, kind, message, { cause: err });
}
