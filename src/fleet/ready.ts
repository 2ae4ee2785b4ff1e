/** Waiting for a fleet host to come up: its host key written and its sshd answering. */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { FleetHostNotReadyError, LocalCommandError, tail } from './errors';
import { docker, runCapture } from './process';
import type { FleetHost } from './types';

const HOST_PUBLIC_KEY = '/etc/ssh/ssh_host_ed25519_key.pub';
const POLL_MS = 200;
const PROBE_TIMEOUT_MS = 2_000;

/**
 * Waits until the host's public key exists and its sshd sends an SSH banner,
 * then returns the key line. Fails early when the container stops.
 */
export async function waitForHost(host: FleetHost, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let publicKey: string | undefined;

  // At least one full check, however short the timeout.
  do {
    publicKey ??= await readHostKeyIfPresent(host.container);
    if (publicKey !== undefined && (await sshBannerSeen(host.address, host.port))) {
      if (host.kind === 'systemd') await waitForBoot(host, deadline - Date.now());
      return publicKey;
    }
    if (!(await isRunning(host.container))) {
      throw await notReady(host, 'its container stopped');
    }
    await sleep(POLL_MS);
  } while (Date.now() < deadline);
  const what = publicKey === undefined ? 'no host key appeared' : 'sshd did not answer';
  throw await notReady(host, `${what} on ${host.address}:${host.port} within ${timeoutMs} ms`);
}

/**
 * sshd comes up before the rest of the boot; waits for systemd to finish it, so
 * `systemctl is-system-running` says `running` (or `degraded`) from the start.
 */
async function waitForBoot(host: FleetHost, remainingMs: number): Promise<void> {
  const args = ['exec', host.container, 'systemctl', 'is-system-running', '--wait'];
  const opts = { target: host.container, timeoutMs: Math.max(remainingMs, 1_000) };
  let state: string;
  try {
    state = await docker(args, opts);
  } catch (error) {
    // It exits non-zero for any state but `running`, and still prints the state.
    if (!(error instanceof LocalCommandError) || error.timedOut) {
      throw await notReady(host, `systemd did not finish booting: ${String(error)}`);
    }
    state = error.stdoutTail;
  }
  if (!/^(running|degraded)$/.test(state.trim())) {
    throw await notReady(host, `systemd reports ${JSON.stringify(state.trim())} after booting`);
  }
}

/** The host's ed25519 public key, read with `docker exec` (no SSH, so nothing is audited). */
export async function readHostKey(container: string): Promise<string> {
  return (await docker(['exec', container, 'cat', HOST_PUBLIC_KEY], { target: container })).trim();
}

async function readHostKeyIfPresent(container: string): Promise<string | undefined> {
  try {
    const key = await readHostKey(container);
    return key === '' ? undefined : key;
  } catch {
    return undefined;
  }
}

/** True once something on address:port sends the start of an SSH identification string. */
export function sshBannerSeen(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: address, port, timeout: PROBE_TIMEOUT_MS });
    const finish = (seen: boolean): void => {
      socket.destroy();
      resolve(seen);
    };
    socket.once('data', (chunk: Buffer) => finish(chunk.toString('latin1').startsWith('SSH-')));
    socket.once('timeout', () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}

async function isRunning(container: string): Promise<boolean> {
  try {
    const out = await docker(['inspect', '--format', '{{.State.Running}}', container], { target: container });
    return out.trim() === 'true';
  } catch {
    return false;
  }
}

async function notReady(host: FleetHost, reason: string): Promise<FleetHostNotReadyError> {
  return new FleetHostNotReadyError(host.name, host.container, reason, await logsTail(host.container));
}

/** The last lines of `docker logs`, which carries the entrypoint's and sshd's stderr. */
export async function logsTail(container: string): Promise<string> {
  try {
    // docker logs replays the container's stderr on its own stderr.
    const out = await runCapture('docker', ['logs', '--tail', '5', container], { target: container });
    return tail(`${out.stdout}\n${out.stderr}`, 300);
  } catch {
    return '';
  }
}
