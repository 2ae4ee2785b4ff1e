/**
 * Docker Engine API over the pooled SSH connection. dockerode's own `ssh`
 * protocol makes a new SSH connection for every request (and trips sshd's
 * MaxStartups); this agent instead opens one channel per HTTP connection on the
 * connection the pool already has, so an API call costs a channel, not a handshake.
 */

import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import Docker from 'dockerode';
import type { Client, ClientChannel } from 'ssh2';

import { shellCommand } from '../shell/quote';

/** Where dockerd listens on the host. */
export const DOCKER_SOCKET = '/var/run/docker.sock';

/** Opens one byte stream to the remote dockerd. */
export type DockerStreamOpener = () => Promise<Duplex>;

/**
 * An http.Agent whose connections are SSH channels. Keep-alive is off: an idle
 * kept-alive socket would hold one of the host's few channel slots forever.
 */
export class SshDockerAgent extends http.Agent {
  constructor(private readonly openStream: DockerStreamOpener) {
    super({ keepAlive: false });
  }

  override createConnection(
    _options: http.ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    // Node's Agent accepts the socket through the callback when this returns nothing.
    this.openStream().then(
      (stream) => callback?.(null, asSocket(stream)),
      (err: unknown) => callback?.(err instanceof Error ? err : new Error(String(err)), undefined as never),
    );
    return undefined;
  }
}

/**
 * http.ClientRequest calls net.Socket methods that a channel lacks. They are
 * no-ops here: timeouts are the SSH keepalive's job, Nagle is the TCP socket's.
 */
function asSocket(stream: Duplex): Duplex {
  const socket = stream as Duplex & Record<string, unknown>;
  for (const method of ['setKeepAlive', 'setNoDelay', 'setTimeout', 'ref', 'unref']) {
    if (typeof socket[method] !== 'function') socket[method] = () => socket;
  }
  if (typeof socket.destroySoon !== 'function') socket.destroySoon = () => stream.destroy();
  return stream;
}

/** A dockerode client whose every request goes through `agent`. */
export function dockerOverAgent(agent: http.Agent): Docker {
  // `host` only feeds the Host header and the agent's pool key; `protocol: 'http'`
  // keeps DOCKER_HOST/DOCKER_TLS_VERIFY from the worker's environment out of it.
  // @types/dockerode lacks `agent`, which docker-modem hands to http.request.
  const options: Docker.DockerOptions & { agent: http.Agent } = {
    protocol: 'http',
    host: 'docker',
    port: 80,
    agent,
  };
  return new Docker(options);
}

/** direct-streamlocal@openssh.com to the Docker socket (needs sshd AllowStreamLocalForwarding, default yes). */
export function forwardToDockerSocket(client: Client): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    client.openssh_forwardOutStreamLocal(DOCKER_SOCKET, (err, channel) =>
      err ? reject(err) : resolve(channel),
    );
  });
}

/** `docker system dial-stdio` (docker CLI 18.09+ on the host): what `docker -H ssh://` itself uses. */
export function dialDockerStdio(client: Client): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    client.exec(shellCommand(['docker', 'system', 'dial-stdio']), (err, channel) => {
      if (err) return reject(err);
      channel.stderr.resume();
      resolve(channel);
    });
  });
}
